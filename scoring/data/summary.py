"""What is in a lead database, as a revenue team would ask: volume, outcomes, revenue, funnel."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, hide_url
from scoring.data.checks import DataCheck, check_data
from scoring.data.database import JoinCoverage, join_coverage
from scoring.data.load import load_events, load_leads
from scoring.data.rejects import store_rejects


@dataclass(frozen=True)
class DataSummary:
    source: str
    rows: int
    valid: int
    rejected: int
    reject_reasons: dict[str, int]
    created_from: pd.Timestamp | None
    created_to: pd.Timestamp | None
    won: int
    lost: int
    open: int
    revenue: dict[str, float]
    funnel: dict[str, int]
    events: int | None = None
    events_rejected: int = 0
    events_orphan: int = 0
    event_types: dict[str, int] = field(default_factory=dict)
    joins: list[JoinCoverage] = field(default_factory=list)
    check: DataCheck | None = None

    @property
    def win_rate(self) -> float:
        closed = self.won + self.lost
        return self.won / closed if closed else float("nan")

    def to_text(self) -> str:
        lines = [f"Lead database: {self.source}"]
        lines.append(
            f"  leads        {self.rows:>10,}  valid {self.valid:,}  rejected {self.rejected:,}"
        )
        for reason, count in self.reject_reasons.items():
            lines.append(f"    rejected: {count:,} x {reason}")
        if self.created_from is not None and self.created_to is not None:
            months = (self.created_to - self.created_from).days / 30.44
            lines.append(
                f"  created      {self.created_from:%Y-%m-%d} .. {self.created_to:%Y-%m-%d}"
                f" ({months:.1f} months)"
            )
        lines.append(
            f"  outcomes     won {self.won:,}  lost {self.lost:,}  open {self.open:,}"
            f"  win rate (closed) {self.win_rate:.1%}"
        )
        if self.revenue:
            r = self.revenue
            lines.append(
                f"  won revenue  total {r['total']:,.0f}  mean {r['mean']:,.0f}"
                f"  p10 {r['p10']:,.0f}  median {r['p50']:,.0f}  p90 {r['p90']:,.0f}"
                f"  max {r['max']:,.0f}"
            )
        if self.funnel:
            lines.append("  funnel       " + _funnel_text(self.funnel))
        if self.events is not None:
            per_lead = self.events / self.valid if self.valid else 0.0
            lines.append(
                f"  events       {self.events:,} ({per_lead:.1f} per lead)"
                f"  rejected {self.events_rejected:,}  for unknown leads {self.events_orphan:,}"
            )
            lines.append(
                "    by type: " + ", ".join(f"{t} {n:,}" for t, n in self.event_types.items())
            )
        for j in self.joins:
            share = j.unmatched / j.with_key if j.with_key else 0.0
            note = f" e.g. {', '.join(map(repr, j.examples))}" if j.unmatched else ""
            lines.append(
                f"  wins {j.table}: {j.unmatched:,} of {j.with_key:,} rows ({share:.1%}) "
                f"match no lead{note}"
                if j.wins
                else f"  join {j.table}: {j.unmatched:,} of {j.with_key:,} keys ({share:.1%}) "
                f"find no row{note}"
            )
        if self.check is not None:
            lines.append(self.check.to_text())
        return "\n".join(lines)


def _funnel_text(funnel: dict[str, int]) -> str:
    parts, previous = [], None
    for stage, count in funnel.items():
        rate = f" ({count / previous:.0%})" if previous else ""
        parts.append(f"{stage} {count:,}{rate}")
        previous = count
    return " -> ".join(parts)


def _revenue(won_revenue: pd.Series) -> dict[str, float]:
    values = won_revenue.dropna().to_numpy()
    if not len(values):
        return {}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {
        "total": float(values.sum()),
        "mean": float(values.mean()),
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "max": float(values.max()),
    }


def summarise(cfg: Config, engine: sa.Engine) -> DataSummary:
    """Validate the lead database against the config (rejects are stored) and describe it."""
    leads, rejects = load_leads(cfg, engine)
    store_rejects(engine, rejects, cfg.name, cfg.leads.table)
    meta = leads.meta
    label = meta["label"]
    funnel = {"leads": len(meta)}
    funnel |= {stage: int(meta[f"{stage}_at"].notna().sum()) for stage in cfg.leads.funnel}
    funnel["won"] = int((label == 1).sum())
    summary = dict(
        source=f"{cfg.name} ({hide_url(engine.url)})",
        rows=len(meta) + len(rejects),
        valid=len(meta),
        rejected=len(rejects),
        reject_reasons=rejects["reason"].value_counts().head(5).to_dict() if len(rejects) else {},
        created_from=meta["created_at"].min() if meta["created_at"].notna().any() else None,
        created_to=meta["created_at"].max() if meta["created_at"].notna().any() else None,
        won=int((label == 1).sum()),
        lost=int((label == 0).sum()),
        open=int(label.isna().sum()),
        revenue=_revenue(meta.loc[label == 1, "revenue"]),
        funnel=funnel,
        joins=join_coverage(cfg, engine),
        check=check_data(cfg, leads),
    )
    if cfg.events is not None:
        events, event_rejects = load_events(cfg, engine)
        assert events is not None
        store_rejects(engine, event_rejects, cfg.name, cfg.events.table)
        known = events["lead_id"].isin(meta.index)
        summary |= dict(
            events=int(known.sum()),
            events_rejected=len(event_rejects),
            events_orphan=int((~known).sum()),
            event_types=events.loc[known, "event_type"].value_counts().to_dict(),
        )
    return DataSummary(**summary)
