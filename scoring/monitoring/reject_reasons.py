"""The funnel report's reject reasons: SDR rejections and AE disqualifications by reason, with
the SDR reasons' category (not_ready, bad_fit, other, unlisted)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.feedback.table import FEEDBACK
from scoring.monitoring import funnel_keys as fk
from scoring.monitoring import funnel_sql as q


def reject_reasons(
    cfg: Config, facts: q.Facts, engine: sa.Engine, dim: str | None, notes: list[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """SDR rejections and AE disqualifications by reason, from lead_feedback, else from the
    CRM activity table of `feedback.crm` (raw values mapped to the config's reason names)."""
    existing = set(sa.inspect(engine).get_table_names())
    found = pd.DataFrame()
    origin = None
    if FEEDBACK in existing:
        table = sa.Table(FEEDBACK, sa.MetaData(), autoload_with=engine)
        query = q.reasons_query(
            facts, table, table.c.kind, table.c.reason, table.c.lead_id, list(q.REASON_KINDS), dim
        )
        with engine.connect() as conn:
            found = pd.read_sql(query, conn)
        origin = FEEDBACK
    crm = cfg.feedback.crm
    if found.empty and crm is not None and crm.reason is not None and crm.table in existing:
        table = sa.Table(crm.table, sa.MetaData(), autoload_with=engine)
        for key, name in (("lead_id", crm.lead_id), ("type", crm.type), ("reason", crm.reason)):
            if name not in table.c:
                raise ConfigError(
                    f"feedback.crm.{key}: column {name!r} is not in table {crm.table!r}"
                )
        raws = {
            raw.strip().lower(): kind
            for kind, values in crm.types.items()
            if kind in q.REASON_KINDS
            for raw in values
        }
        query = q.reasons_query(
            facts,
            table,
            table.c[crm.type],
            table.c[crm.reason],
            table.c[crm.lead_id],
            sorted(raws),
            dim,
        )
        with engine.connect() as conn:
            found = pd.read_sql(query, conn)
        found["kind"] = found["kind"].map(raws)
        found["reason"] = [
            (cfg.feedback.reason(kind, r) or r.strip())
            if isinstance(r, str) and r.strip()
            else None
            for kind, r in zip(found["kind"], found["reason"], strict=True)
        ]
        origin = f"{crm.table} (feedback.crm; lead_feedback has none)"
    if found.empty:
        notes.append("reject reasons: no SDR rejections or AE disqualifications recorded")
        return [], origin
    if "group" not in found:
        found.insert(0, "group", None)
    found["reason"] = found["reason"].map(lambda r: r if isinstance(r, str) and r else None)
    if dim is not None:
        found["group"] = fk.dimension_values(found["group"], dim, cfg)
    found = found.groupby(["group", "kind", "reason"], dropna=False, as_index=False)["count"].sum()
    rows = []
    for (group, kind), part in found.groupby(["group", "kind"], dropna=False, sort=False):
        total = float(part["count"].sum())
        for reason, count in zip(part["reason"], part["count"], strict=True):
            rows.append(
                {
                    "group": fk.key(group),
                    "kind": kind,
                    "reason": fk.key(reason),
                    "category": category(cfg, kind, fk.key(reason)),
                    "count": int(count),
                    "share": count / total,
                }
            )
    order = {kind: i for i, kind in enumerate(q.REASON_KINDS)}
    rows.sort(
        key=lambda r: (r["group"] is None, str(r["group"]), order.get(r["kind"], 9), -r["count"])
    )
    return rows, origin


def category(cfg: Config, kind: str, reason: str | None) -> str | None:
    """SDR reasons as feedback.not_ready ('right lead, too early'), bad_fit ('never the right
    lead'), other, or unlisted (a reason the config does not name)."""
    if kind != "sdr_rejected" or reason is None:
        return None
    if reason in cfg.feedback.not_ready:
        return "not_ready"
    if reason in cfg.feedback.bad_fit:
        return "bad_fit"
    return "other" if reason in cfg.feedback.sdr_reasons else "unlisted"
