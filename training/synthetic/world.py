"""The synthetic CRM world: accounts, leads with their history, activity events, ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.data.bulk import write_frames
from training.synthetic import verticals
from training.synthetic.accounts import generate_accounts
from training.synthetic.clock import to_datetimes
from training.synthetic.deals import deal_sizes
from training.synthetic.events import EVENT_TYPES, Events, LeadTimes, generate_events
from training.synthetic.fit import account_logit, fit_logit
from training.synthetic.history import Population, history_frame, run_funnel
from training.synthetic.leads import LeadDraw, generate_leads, n_accounts_for
from training.synthetic.randomness import stream
from training.synthetic.sales_log import sales_tables
from training.synthetic.titles import TITLES
from training.synthetic.truth import ResponseModel, sigmoid
from training.synthetic.windows import Windows, buying_windows


@dataclass(frozen=True)
class World:
    accounts: pd.DataFrame
    leads: pd.DataFrame
    activities: pd.DataFrame
    truth: pd.DataFrame
    exported_at: pd.Timestamp  # the moment the CRM was exported; nothing happens after it
    sales_activities: pd.DataFrame  # the SDRs' attempts and decisions, the AEs' qualification
    feedback_truth: pd.DataFrame  # per sales decision, what was true then (evaluation only)


def _truth_frame(
    lead_id: pd.Series,
    labels: np.ndarray,
    logit: np.ndarray,
    windows: Windows,
    deal: np.ndarray,
    origin: pd.Timestamp,
    rng: np.random.Generator,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": lead_id,
            "seniority": pd.array(labels[:, 0], dtype="str"),
            "department": pd.array(labels[:, 1], dtype="str"),
            "fit_logit": logit,
            "fit_probability": sigmoid(logit),
            "in_market": windows.in_market,
            "window_start": to_datetimes(windows.start, origin),
            "ready_at": to_datetimes(windows.ready, origin),
            "window_end": to_datetimes(windows.end, origin),
            "deal_size": deal,
            # common random number: won iff win_draw < win_probability(first contact), which
            # lets an oracle replay any other contact time on the same luck
            "win_draw": rng.random(len(lead_id)),
        }
    )


def _activities(events: Events, lead_id: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": np.arange(1, len(events.lead) + 1, dtype=np.int64),
            "lead_id": lead_id.take(events.lead).reset_index(drop=True),
            "event_type": pd.array(np.array(EVENT_TYPES, dtype=object)[events.kind], dtype="str"),
            "occurred_at": to_datetimes(events.day, origin),
        }
    )


class _Latent(NamedTuple):
    labels: np.ndarray  # (n, 2): true seniority and department of each title
    employees: np.ndarray  # of each lead's company
    windows: Windows
    truth: pd.DataFrame


def _latent(accounts: pd.DataFrame, draw: LeadDraw, origin: pd.Timestamp, seed: int) -> _Latent:
    """Everything no CRM column shows: fit, buying window, deal size, luck."""
    labels = np.array([t[1:] for t in TITLES], dtype=object)[draw.title]
    logit = fit_logit(account_logit(accounts)[draw.account], *labels.T, stream(seed, "fit"))
    windows = buying_windows(draw.created, draw.source, logit, stream(seed, "windows"))
    employees = accounts["employees"].to_numpy()[draw.account]
    vertical = pd.Categorical(accounts["vertical"], categories=verticals.NAMES).codes
    deal = deal_sizes(employees, vertical[draw.account], stream(seed, "deals"))
    truth = _truth_frame(
        draw.frame["lead_id"], labels, logit, windows, deal, origin, stream(seed, "luck")
    )
    return _Latent(labels, employees, windows, truth)


def _population(draw: LeadDraw, latent: _Latent) -> Population:
    source = draw.frame["lead_source"].to_numpy()
    return Population(
        draw.created,
        latent.labels[:, 0],
        latent.employees,
        source == "outbound_list",
        source == "partner",
    )


def generate_world(n_leads: int, seed: int, start: str = "2024-01-01", months: int = 24) -> World:
    """A CRM of `n_leads` leads created over `months` months from `start`, exported at the end.

    Deterministic: the same arguments give identical frames.
    """
    if n_leads < 1 or months < 1:
        raise ValueError(f"need at least one lead and one month (got {n_leads=}, {months=})")
    origin = pd.Timestamp(start).as_unit("us")
    exported_at = origin + pd.DateOffset(months=months)
    export = float((exported_at - origin) / pd.Timedelta(days=1))
    accounts = generate_accounts(n_accounts_for(n_leads), origin.year, stream(seed, "accounts"))
    draw = generate_leads(n_leads, accounts, origin, int(export), stream(seed, "leads"))
    latent = _latent(accounts, draw, origin, seed)
    times = LeadTimes(draw.created, export, draw.source, latent.labels[:, 0] == "entry")
    events = generate_events(times, latent.windows, stream(seed, "events"))
    funnel = run_funnel(
        _population(draw, latent),
        events,
        latent.windows,
        latent.truth,
        export,
        origin,
        ResponseModel(),
        seed,
    )
    truth = latent.truth.assign(first_contact_at=to_datetimes(funnel.contact, origin))
    leads = draw.frame.assign(created_at=to_datetimes(draw.created, origin))
    leads = pd.concat([leads, history_frame(funnel, export, origin)], axis=1)
    activities = _activities(events, leads["lead_id"], origin)
    sales, feedback_truth = sales_tables(funnel, latent.windows, leads["lead_id"], export, origin)
    return World(accounts, leads, activities, truth, exported_at, sales, feedback_truth)


def write_world(world: World, engine: sa.Engine) -> None:
    """Write accounts, leads (indexed on lead_id), activities, sales_activities,
    synthetic_truth and synthetic_feedback_truth (tables replaced)."""
    write_frames(
        engine,
        {
            "accounts": world.accounts,
            "leads": world.leads,
            "activities": world.activities,
            "sales_activities": world.sales_activities,
            "synthetic_truth": world.truth,
            "synthetic_feedback_truth": world.feedback_truth,
        },
    )
    # /feedback looks each lead up by id (a scan per request without an index). Not unique:
    # tests add duplicate ids to the demo tables to check they are refused.
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE INDEX ix_leads_lead_id ON leads (lead_id)"))
