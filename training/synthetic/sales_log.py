"""The CRM's sales activity log (`sales_activities`) and its ground truth
(`synthetic_feedback_truth`), from the funnel as of the export.

sales_activities: one row per contact attempt ("call", "email", "linkedin message"), SDR
decision ("sdr accepted", "sdr rejected") and AE decision ("opportunity created",
"disqualified"), as configs/demo.yaml `feedback.crm` reads it. synthetic_feedback_truth: one row
per decision, what was true at that moment (in market, inside the window, sales-ready, the
true cause), for checking the feedback against the truth; never a feature.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from training.synthetic import ae, sdr
from training.synthetic.clock import to_datetimes
from training.synthetic.history import Funnel
from training.synthetic.windows import Windows

ACTIVITY_TYPES = (
    *sdr.ATTEMPT_TYPES,  # codes 0..2 are the channels
    "sdr accepted",
    "sdr rejected",
    "opportunity created",
    "disqualified",
)
SDR_ACCEPTED, SDR_REJECTED, AE_ACCEPTED, AE_DISQUALIFIED = range(3, 7)
DECISION_KINDS = {
    SDR_ACCEPTED: "sdr_accepted",
    SDR_REJECTED: "sdr_rejected",
    AE_ACCEPTED: "ae_accepted",
    AE_DISQUALIFIED: "ae_disqualified",
}
# SDR reason codes as they are, AE codes after them
REASONS = (*sdr.REASONS, *ae.REASONS)
AE_OFFSET = len(sdr.REASONS)


class _Rows(NamedTuple):
    lead: np.ndarray
    day: np.ndarray
    kind: np.ndarray  # index into ACTIVITY_TYPES
    channel: np.ndarray  # index into sdr.CHANNELS, -1
    reason: np.ndarray  # logged reason, index into REASONS, -1
    cause: np.ndarray  # true cause, index into REASONS, -1
    rating: np.ndarray  # float, NaN
    round: np.ndarray  # 1-based SDR round (AE rows: the round that accepted)


def _part(lead, day, kind, channel=-1, reason=-1, cause=-1, rating=np.nan, rnd=0) -> _Rows:
    n = len(lead)
    return _Rows(
        lead,
        day,
        np.broadcast_to(kind, n),
        np.broadcast_to(channel, n),
        np.broadcast_to(reason, n),
        np.broadcast_to(cause, n),
        np.broadcast_to(rating, n),
        np.broadcast_to(rnd, n),
    )


def _offset(codes: np.ndarray) -> np.ndarray:
    return np.where(codes < 0, -1, codes + AE_OFFSET)


def _rows(funnel: Funnel, export: float) -> _Rows:
    parts: list[_Rows] = []
    accepted_round = np.zeros(len(funnel.mql), dtype=np.int64)
    for number, done in enumerate(funnel.rounds, start=1):
        tried = done.attempts <= export  # NaN (no attempt) compares False
        which, slot = np.nonzero(tried)
        parts.append(
            _part(
                done.rows[which],
                done.attempts[which, slot],
                done.channel[which, slot],
                done.channel[which, slot],
                rnd=number,
            )
        )
        known = done.decided <= export
        parts.append(
            _part(
                done.rows[known],
                done.decided[known],
                np.where(done.accepted[known], SDR_ACCEPTED, SDR_REJECTED),
                reason=done.reason[known],
                cause=done.cause[known],
                rating=done.rating[known].astype(np.float64),
                rnd=number,
            )
        )
        accepted_round[done.rows[done.accepted]] = number
    q = funnel.qualification
    known = np.flatnonzero(~np.isnan(funnel.accepted) & (q.decided <= export))
    parts.append(
        _part(
            known,
            q.decided[known],
            np.where(q.to_sql[known], AE_ACCEPTED, AE_DISQUALIFIED),
            reason=_offset(q.reason[known]),
            cause=_offset(q.cause[known]),
            rnd=accepted_round[known],
        )
    )
    rows = _Rows(*(np.concatenate(column) for column in zip(*parts, strict=True)))
    order = np.lexsort((rows.kind, rows.day, rows.lead))
    return _Rows(*(column[order] for column in rows))


def _names(codes: np.ndarray, names: tuple[str, ...]) -> pd.api.extensions.ExtensionArray:
    return sdr.reason_names(np.asarray(codes), names)


def sales_tables(
    funnel: Funnel,
    windows: Windows,
    lead_id: pd.Series,
    export: float,
    origin: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sales_activities, synthetic_feedback_truth) as of the export, sorted by (lead, time)."""
    rows = _rows(funnel, export)
    activity_id = np.arange(1, len(rows.lead) + 1, dtype=np.int64)
    ids = lead_id.take(rows.lead).reset_index(drop=True)
    occurred = to_datetimes(rows.day, origin)
    activities = pd.DataFrame(
        {
            "activity_id": activity_id,
            "lead_id": ids,
            "activity_type": _names(rows.kind, ACTIVITY_TYPES),
            "occurred_at": occurred,
            "reason": _names(rows.reason, REASONS),
            "rating": rows.rating,
            "channel": _names(rows.channel, sdr.CHANNELS),
        }
    )
    pick = np.flatnonzero(rows.kind >= SDR_ACCEPTED)
    lead, day = rows.lead[pick], rows.day[pick]
    kind = np.array([DECISION_KINDS[k] for k in range(SDR_ACCEPTED, AE_DISQUALIFIED + 1)])
    turned_down = np.isin(rows.kind[pick], [SDR_REJECTED, AE_DISQUALIFIED])
    truth = pd.DataFrame(
        {
            "activity_id": activity_id[pick],
            "lead_id": ids.take(pick).reset_index(drop=True),
            "kind": pd.array(kind[rows.kind[pick] - SDR_ACCEPTED], dtype="str"),
            "round": rows.round[pick].astype(np.int64),
            "occurred_at": occurred[pick],
            "in_market": windows.in_market[lead],
            "in_window": sdr.in_window(windows, lead, day),
            "ready": sdr.is_ready(windows, lead, day),
            "true_reason": _names(rows.cause[pick], REASONS),
            "mislabelled": turned_down & (rows.reason[pick] != rows.cause[pick]),
            "will_win": funnel.won[lead],
        }
    )
    return activities, truth
