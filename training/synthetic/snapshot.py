"""A marketing-automation style lead export: one row per lead, engagement already aggregated."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.synthetic.events import EVENT_TYPES
from training.synthetic.randomness import stream
from training.synthetic.world import World

ACTIVITY_NAMES: dict[str, str] = {
    "email_open": "Email Opened",
    "email_click": "Email Clicked",
    "web_visit": "Web Page Visit",
    "pricing_page": "Pricing Page Visit",
    "competitor_comparison": "Competitor Comparison Page Visit",
    "content_download": "Content Download",
    "webinar": "Webinar Attended",
    "demo_request": "Demo Requested",
    "contact_form": "Contact Form Submitted",
    "trial_signup": "Trial Sign-up",
}
INDUSTRY_NAMES: dict[str, str] = {
    "software": "Software",
    "fintech": "Financial Technology",
    "healthcare": "Healthcare",
    "manufacturing": "Manufacturing",
    "retail": "Retail",
    "education": "Education",
    "logistics": "Transportation & Logistics",
    "media": "Media & Entertainment",
    "public_sector": "Government",
    "professional_services": "Professional Services",
}
STATUS_NAMES = {"open": "Open", "won": "Closed Won", "lost": "Closed Lost"}
MINUTES_PER_VISIT = 2.5  # median; lognormal per lead
MINUTES_SIGMA = 0.5


def _counts(activities: pd.DataFrame, lead_id: pd.Series) -> pd.DataFrame:
    """(lead, event type) counts, one row per lead in `lead_id` order."""
    row = pd.Index(lead_id).get_indexer(activities["lead_id"])
    kind = pd.Categorical(activities["event_type"], categories=EVENT_TYPES).codes
    flat = np.bincount(row * len(EVENT_TYPES) + kind, minlength=len(lead_id) * len(EVENT_TYPES))
    return pd.DataFrame(flat.reshape(len(lead_id), len(EVENT_TYPES)), columns=list(EVENT_TYPES))


def _last_activity(activities: pd.DataFrame, lead_id: pd.Series) -> pd.DataFrame:
    """Type and time of each lead's last event (activities are sorted by lead, time)."""
    last = activities.drop_duplicates("lead_id", keep="last").set_index("lead_id")
    last = last.reindex(lead_id)
    return pd.DataFrame(
        {
            "Last Activity": last["event_type"].map(ACTIVITY_NAMES).to_numpy(),
            "Last Activity Date": last["occurred_at"].to_numpy(),
        }
    )


def _noise_seed(world: World) -> int:
    """A seed that differs between worlds and is stable for one world (World keeps no seed)."""
    draws = world.truth["win_draw"].to_numpy()[:2]
    return int(np.frombuffer(draws.tobytes(), dtype=np.uint64)[0] % 2**63) if len(draws) else 0


def snapshot_export(world: World) -> pd.DataFrame:
    """One row per lead as of world.exported_at, with export-style column names."""
    leads = world.leads.merge(world.accounts, on="account_id", how="left", validate="m:1")
    counts = _counts(world.activities, leads["lead_id"])
    visits = counts["web_visit"] + counts["pricing_page"]
    rng = stream(_noise_seed(world), "snapshot")  # time on site: noise around the visit count
    minutes = visits * rng.lognormal(np.log(MINUTES_PER_VISIT), MINUTES_SIGMA, len(leads))
    last = _last_activity(world.activities, leads["lead_id"])
    demo = counts["demo_request"] > 0
    return pd.DataFrame(
        {
            "Lead ID": leads["lead_id"],
            "Job Title": leads["title"],
            "Company": leads["company_name"],
            "Industry": leads["vertical"].map(INDUSTRY_NAMES),
            "Country": leads["country"],
            "Employees": leads["employees"],
            "Annual Revenue": leads["annual_revenue"],
            "Lead Source": leads["lead_source"],
            "Created Date": leads["created_at"],
            "Total Visits": visits,
            "Pricing Page Views": counts["pricing_page"],
            "Time on Site (min)": np.round(minutes, 1),
            "Email Clicks": counts["email_click"],
            "Content Downloads": counts["content_download"],
            "Webinars Attended": counts["webinar"],
            "Demo Requested": np.where(demo, "Yes", "No"),
            "Last Activity": pd.array(last["Last Activity"], dtype="str"),
            "Last Activity Date": last["Last Activity Date"],
            "Lead Status": leads["outcome"].map(STATUS_NAMES),
            "Deal Amount": leads["revenue"],
        }
    )
