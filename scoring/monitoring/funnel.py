"""The shared funnel report: the numbers marketing and sales are both judged on, from the lead
database (`leadscore report funnel`).

lead -> MQL -> SAL -> SQL -> won conversion, SQL-to-win, sales-cycle length, marketing-sourced
revenue, cost per SQL (marketing spend, and the SDR/AE cost beside it), speed to lead against the
SLA, reject reasons, and how each score band and grade actually converted: in total and grouped
by source, grade, score band or creation month. `DEFINITIONS` says what each number is.

Counts and sums come from one grouped query over every lead (`scoring.monitoring.funnel_sql`),
so a million leads take seconds; the medians come from the won deals' dates and the SLA clocks
(`scoring.monitoring.sla`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.data.parse import id_texts, lowered_text, parse_timestamps
from scoring.feedback.table import FEEDBACK
from scoring.monitoring import funnel_keys as fk
from scoring.monitoring import funnel_sql as q
from scoring.monitoring.reject_reasons import reject_reasons
from scoring.monitoring.spend import covered_months, monthly_spend, spend_entries

By = Literal["source", "grade", "score_band", "month"]
BY: tuple[str, ...] = By.__args__  # type: ignore[attr-defined]
_DIM = {"source": "source", "grade": "grade", "score_band": "band", "month": "month"}
_DAY = np.timedelta64(86_400_000_000, "us")

# every number of a row, in the order the json and csv give them
DEFINITIONS: dict[str, str] = {
    "leads": "lead rows (in the group)",
    "mql": "leads that reached MQL or a later stage (SAL, SQL)",
    "sal": "leads that reached SAL (sales-accepted) or SQL",
    "sql": "leads that reached SQL (sales-qualified: an opportunity)",
    "won": "leads whose outcome is won",
    "lost": "leads whose outcome is lost",
    "lead_to_mql": "mql / leads",
    "mql_to_sal": "sal / mql",
    "sal_to_sql": "sql / sal",
    "mql_to_sql": "sql / mql (MQL-to-SQL conversion)",
    "sql_closed": "SQLs that closed (won or lost); open SQLs are not counted",
    "sql_won": "SQLs that were won",
    "sql_to_win": "sql_won / sql_closed: the win rate of closed SQLs",
    "lead_to_won": "won / leads (open leads included: recent leads have not closed yet)",
    "win_rate": "won / (won + lost): the win rate of closed leads",
    "won_revenue": "revenue (leads.revenue) of the won leads",
    "marketing_revenue": "won_revenue of leads whose source (report.source) is known and not in "
    "report.sales_sources: marketing-sourced revenue",
    "cycle_deals": "won deals with a creation and a close date (the sales-cycle sample)",
    "cycle_days_median": "median days from lead creation (leads.created_at) to close "
    "(leads.close_date) of the won deals",
    "cycle_days_mean": "mean of the same days",
    "spend": "marketing spend (report.spend, report.spend_file) of the group's sources and months "
    "(none for grade and score-band groups: spend is per source and month)",
    "cost_per_sql": "spend / sql, SQLs counted by the month their lead was created",
    "sales_cost": "SDR and AE cost (costs:): sdr_cost_per_mql x mql + ae_cost_per_sql x sql",
    "sales_cost_per_sql": "sales_cost / sql",
    "full_cost_per_sql": "(spend + sales_cost) / sql",
    "first_touch_clocks": "leads handed to sales with a first-touch SLA clock (sla:)",
    "first_touch_met": "first touches within sla.first_touch_business_hours",
    "first_touch_late": "first touches after it, and clocks overdue now without one",
    "first_touch_open": "clocks still running, not due yet",
    "first_touch_within_sla": "first_touch_met / (first_touch_met + first_touch_late)",
    "first_touch_median_hours": "median business hours from handoff to first touch (sla.calendar)",
    "scored": "leads with a current score (lead_scores, not deleted)",
    "scored_closed": "closed leads with a current score",
    "scored_win_rate": "won / closed among the scored closed leads",
    "predicted_win_rate": "mean win_probability of the same scored closed leads: compare with "
    "scored_win_rate (a calibration check; the score is the latest, not the one at handoff)",
    "mean_win_probability": "mean win_probability of every scored lead, open ones included",
}
INTEGERS = {
    "leads",
    "mql",
    "sal",
    "sql",
    "won",
    "lost",
    "sql_closed",
    "sql_won",
    "cycle_deals",
    "first_touch_clocks",
    "first_touch_met",
    "first_touch_late",
    "first_touch_open",
    "scored",
    "scored_closed",
}
REASON_COLUMNS = ("group", "kind", "reason", "category", "count", "share")
SPEND_COLUMNS = ("source", "month", "spend", "sql", "cost_per_sql")


@dataclass(frozen=True)
class FunnelReport:
    """The report's numbers. `rows` has one entry per group (none without `by`); every row is a
    dict of `group` and the `DEFINITIONS` keys (None where unknown or undefined)."""

    by: str | None
    as_of: pd.Timestamp
    total: dict[str, Any]
    rows: list[dict[str, Any]]
    calibration: dict[str, list[dict[str, Any]]]  # score_band, grade -> rows
    reject_reasons: list[dict[str, Any]]
    spend: list[dict[str, Any]]  # per source and month: spend, sql, cost_per_sql
    sources: dict[str, str | None]  # what each part is read from
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Machine-readable: the same numbers as the table (unrounded)."""
        return {
            "report": "funnel",
            "by": self.by,
            "as_of": self.as_of.isoformat(),
            "total": _clean(self.total),
            "rows": [_clean(r) for r in self.rows],
            "calibration": {k: [_clean(r) for r in v] for k, v in self.calibration.items()},
            "reject_reasons": [_clean(r) for r in self.reject_reasons],
            "spend": [_clean(r) for r in self.spend],
            "sources": self.sources,
            "notes": self.notes,
            "definitions": DEFINITIONS,
        }

    def to_csv(self) -> str:
        """Every number as one line `section,group,metric,value` (long form: pivot it in a
        spreadsheet). Sections: total, by_<by>, score_band, grade, reject_reasons, spend."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "group", "metric", "value"])
        for name, value in self.total.items():
            if name != "group":
                writer.writerow(["total", "", name, _cell(value)])
        sections = [(f"by_{self.by}", self.rows)] if self.by else []
        sections += list(self.calibration.items())
        for section, rows in sections:
            for row in rows:
                for name, value in row.items():
                    if name != "group":
                        writer.writerow([section, _cell(row["group"]), name, _cell(value)])
        for row in self.reject_reasons:
            key = "/".join(str(_cell(row[c])) for c in ("kind", "reason"))
            for name in ("count", "share"):
                writer.writerow(["reject_reasons", _cell(row["group"]), f"{key}/{name}", row[name]])
        for row in self.spend:
            for name in ("spend", "sql", "cost_per_sql"):
                group = f"{row['source']}/{row['month']}"
                writer.writerow(["spend", group, name, _cell(row[name])])
        return out.getvalue()


def _number(value: Any) -> Any:
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _number(v) for k, v in row.items()}


def _cell(value: Any) -> Any:
    value = _number(value)
    return "" if value is None else value


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return part / whole


# ---------------------------------------------------------------- the report


def funnel_report(
    cfg: Config, engine: sa.Engine, by: str | None = None, now: object = None
) -> FunnelReport:
    """The funnel report of the lead database, in total and grouped `by` one of `BY`; the SLA
    clocks are judged at `now` (default: the current time, naive UTC)."""
    if by is not None and by not in BY:
        raise ValueError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    as_of = _as_of(now)
    facts = q.lead_facts(cfg, engine)
    dim = _DIM[by] if by else None
    if dim is not None and dim not in facts.dims:
        raise ConfigError(_unavailable(by))
    notes: list[str] = []
    found = _cube(cfg, facts, engine)
    cube = found.frame
    cycles = _cycles(facts, found.won, engine, notes)
    spend = _spend(cfg, cube, notes)
    touch_dims = [d for d in (dim, "band", "grade") if d is not None and d in facts.dims]
    touch = _first_touch(cfg, facts, engine, as_of, list(dict.fromkeys(touch_dims)), notes)
    context = _Context(cfg, cube, cycles, spend, touch)

    rows = context.rows(dim) if dim else []
    total = context.total()
    calibration = {}
    if "band" in facts.dims:
        calibration = {"score_band": context.rows("band"), "grade": context.rows("grade")}
    else:
        notes.append("no lead_scores table: run `leadscore rescore` for the score-band check")
    reasons, reasons_from = reject_reasons(cfg, facts, engine, dim, notes)
    sources = {
        **{f"stage_{s}": facts.stage_origin[s] for s in q.STAGES},
        "outcome": cfg.leads.outcome.column if cfg.leads.outcome else None,
        "revenue": cfg.leads.revenue,
        "source": cfg.report.source,
        "scores": q.SCORES if "band" in facts.dims else None,
        "reject_reasons": reasons_from,
        "first_touch": "sla_clocks" if touch is not None else None,
    }
    for stage in q.STAGES:
        if facts.stage_origin[stage] is None:
            notes.append(
                f"{stage}: unknown (no leads.funnel.{stage} column, and no "
                f"{'lead_stage_history' if stage == 'mql' else 'lead_feedback'} table)"
            )
    if spend.frame is not None and not spend.frame.empty:
        notes.append(
            "cost per SQL counts a lead's SQL in the month the lead was created: recent months "
            "have had less time to produce SQLs"
        )
    return FunnelReport(
        by=by,
        as_of=as_of,
        total=total,
        rows=rows,
        calibration=calibration,
        reject_reasons=reasons,
        spend=spend.by_source_month(cube),
        sources=sources,
        notes=notes,
    )


def _as_of(now: object) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC").tz_convert(None).floor("s")
    stamp = pd.Timestamp(now)  # type: ignore[arg-type]
    return stamp.tz_convert("UTC").tz_convert(None) if stamp.tzinfo else stamp


def _unavailable(by: str | None) -> str:
    if by == "source":
        return (
            "report.source: not set; name the lead column saying where each lead came from "
            "(e.g. report: {source: lead_source}) to group by source"
        )
    if by == "month":
        return "leads.created_at: not set; --by month groups leads by the month they were created"
    return (
        f"--by {by} needs the lead_scores table, which the database does not have yet: run "
        "`leadscore rescore` first"
    )


@dataclass(frozen=True)
class _Cube:
    frame: pd.DataFrame  # dimensions (source, month, grade, band) and additive measures
    won: list[Any]  # the outcome values, as stored, that mean won


def _outcomes(cfg: Config, values: pd.Series) -> pd.Series:
    """won, lost or None (open, or unknown) for outcome values as stored, read the way
    validation reads them."""
    spec = cfg.leads.outcome
    assert spec is not None
    won, lost = {v.lower() for v in spec.won}, {v.lower() for v in spec.lost}

    def kind(value: Any) -> str | None:
        text = lowered_text(value)
        return "won" if text in won else "lost" if text in lost else None

    return values.map(kind)


def _cube(cfg: Config, facts: q.Facts, engine: sa.Engine) -> _Cube:
    """The cube with its outcome told apart: won, lost, the SQLs among them, won revenue and
    the closed leads' scores, per cell."""
    cube = q.read_cube(facts, engine)
    if cube.empty:
        cube = pd.DataFrame({"leads": pd.Series(dtype=float)})
    for name in [*facts.dims, "outcome"]:
        if name not in cube:
            cube[name] = pd.Series(dtype=object)
    won_values: list[Any] = []
    if facts.outcome is not None:
        kind = _outcomes(cfg, cube["outcome"])
        won_values = list(cube.loc[kind == "won", "outcome"].unique())
        won, closed = (kind == "won").astype(float), kind.notna().astype(float)
        cube["won"], cube["lost"] = cube["leads"] * won, cube["leads"] * (closed - won)
        if "sql" in cube:
            cube["sql_won"] = cube["sql"] * won
            cube["sql_lost"] = cube["sql"] * (closed - won)
        if "revenue" in cube:
            cube["won_revenue"] = cube["revenue"].fillna(0.0) * won
        if "scored" in cube:
            cube["scored_closed"] = cube["scored"] * closed
            cube["scored_won"] = cube["scored"] * won
            cube["closed_probability"] = cube["probability"].fillna(0.0) * closed
    if "source" in cube and "won_revenue" in cube and facts.dims.get("source") is not None:
        sales = set(cfg.report.sales_sources)
        marketing = cube["source"].map(lambda s: isinstance(s, str) and s not in sales)
        cube["marketing_revenue"] = cube["won_revenue"].where(marketing.astype(bool), 0.0)
    cube = cube.drop(columns=[c for c in ("outcome", "revenue") if c in cube])
    return _Cube(cube, won_values)


def _cycles(
    facts: q.Facts, won: list[Any], engine: sa.Engine, notes: list[str]
) -> pd.DataFrame | None:
    """Per won deal: its dimensions and days from creation to close (deals without both dates
    or closed before they were created are left out, and counted in a note)."""
    query = q.cycle_query(facts, won)
    if query is None and won:
        notes.append("sales cycle: needs leads.outcome, leads.created_at and leads.close_date")
    if query is None:
        return None
    with engine.connect() as conn:
        found = pd.read_sql(query, conn)
    created, closed = _times(found["created_at"]), _times(found["closed_at"])
    days = (closed - created) / _DAY
    keep = ~np.isnan(days) & (days >= 0)
    if (left := int((~keep).sum())) > 0:
        notes.append(
            f"sales cycle: {left:,} won deals without both dates, or closed before they were "
            "created, are not in it"
        )
    frame = found.drop(columns=["created_at", "closed_at"]).assign(days=days)[keep]
    for name in facts.dims:
        frame[name] = fk.dimension_keys(frame[name], name)
    return frame.reset_index(drop=True)


def _times(values: pd.Series) -> np.ndarray:
    """Naive UTC times of a column as the driver returned it (text parsed like validation does;
    what is not a time is NaT)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert(None)
    if values.dtype.kind == "M":
        return values.to_numpy(dtype="datetime64[us]")
    return parse_timestamps(values.to_numpy(dtype=object))[0]


@dataclass(frozen=True)
class _Spend:
    frame: pd.DataFrame | None  # source, month, amount; None: unknown

    def amount(self, dim: str | None, key: Any) -> float | None:
        if self.frame is None:
            return None
        if dim is None:
            return float(self.frame["amount"].sum())
        if dim not in ("source", "month") or key is None:
            return None  # no entry names an unknown source or month: its spend is unknown
        return float(self.frame.loc[self.frame[dim] == key, "amount"].sum())

    def keys(self, dim: str) -> list[Any]:
        if self.frame is None or dim not in ("source", "month"):
            return []
        return list(self.frame[dim].unique())

    def by_source_month(self, cube: pd.DataFrame) -> list[dict[str, Any]]:
        if self.frame is None or self.frame.empty:
            return []
        sql = (
            cube.groupby(["source", "month"])["sql"].sum()
            if "sql" in cube and "source" in cube and "month" in cube
            else None
        )
        rows = []
        for source, month, amount in self.frame.itertuples(index=False):
            count = float(sql.get((source, month), 0.0)) if sql is not None else None
            rows.append(
                {
                    "source": source,
                    "month": month,
                    "spend": float(amount),
                    "sql": None if count is None else int(count),
                    "cost_per_sql": _ratio(float(amount), count),
                }
            )
        return rows


def _spend(cfg: Config, cube: pd.DataFrame, notes: list[str]) -> _Spend:
    entries = spend_entries(cfg.report)
    if not entries:
        notes.append("no marketing spend in the config (report.spend, report.spend_file)")
        return _Spend(None)
    if cfg.leads.created_at is None:
        notes.append("spend: leads.created_at is not set, so spend cannot be matched to months")
        return _Spend(None)
    months = [m for m in cube["month"].dropna().unique()] if "month" in cube else []
    frame = monthly_spend(entries, covered_months(months, entries))
    known = set(cube["source"].dropna()) if "source" in cube else set()
    unmatched = sorted(set(frame["source"]) - known)
    if unmatched:
        notes.append(f"spend on sources no lead has: {', '.join(unmatched)}")
    return _Spend(frame)


def _first_touch(
    cfg: Config,
    facts: q.Facts,
    engine: sa.Engine,
    as_of: pd.Timestamp,
    dims: list[str],
    notes: list[str],
) -> pd.DataFrame | None:
    """The first-touch SLA clocks (`sla_clocks`), with each lead's `dims` (the grouping's and
    the score-band and grade checks'); None when the config does not check the rule or no first
    touch is recorded."""
    from scoring.monitoring.handoffs import read_columns
    from scoring.monitoring.sla import sla_clocks

    if cfg.sla.first_touch_business_hours is None:
        notes.append("speed to lead: sla.first_touch_business_hours is null (not checked)")
        return None
    if not _contacts_recorded(engine):
        notes.append(
            "speed to lead: lead_feedback records no contact attempt or SDR decision yet "
            "(`leadscore feedback sync` or POST /feedback)"
        )
        return None
    # only the first-touch rule: the others (delivery reads every event) are not reported here
    others = {"mql_delivery_hours": None, "min_attempts": None, "sal_to_sql_days": None}
    only = cfg.model_copy(update={"sla": cfg.sla.model_copy(update=others)})
    try:
        clocks = sla_clocks(only, engine, as_of.to_pydatetime())
    except ConfigError as exc:
        notes.append(f"speed to lead: unavailable ({exc})")
        return None
    clocks = clocks[clocks["rule"] == "first_touch"]
    clocks = clocks[["lead_id", "state", "took_hours"]].reset_index(drop=True)
    if not dims or clocks.empty:
        return clocks
    columns = read_columns(engine, q.lead_dims_query(facts, dims))
    found = pd.DataFrame({"lead_id": id_texts(columns["lead_id"])})
    for name in dims:
        found[name] = fk.dimension_keys(columns[name], name)
    found = found.drop_duplicates("lead_id")
    return clocks.merge(found, on="lead_id", how="left")


def _contacts_recorded(engine: sa.Engine) -> bool:
    """Whether lead_feedback holds a first touch of any lead: without one, every clock would
    read as overdue."""
    if not sa.inspect(engine).has_table(FEEDBACK):
        return False
    table = sa.Table(FEEDBACK, sa.MetaData(), autoload_with=engine)
    touches = ("contact_attempt", "sdr_accepted", "sdr_rejected")
    query = sa.select(table.c.kind).where(table.c.kind.in_(touches)).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


@dataclass(frozen=True)
class _Context:
    cfg: Config
    cube: pd.DataFrame
    cycles: pd.DataFrame | None
    spend: _Spend
    touch: pd.DataFrame | None

    def total(self) -> dict[str, Any]:
        sums = self.cube.drop(columns=[c for c in q.DIMENSIONS if c in self.cube]).sum()
        return self._row("(all)", None, None, sums)

    def rows(self, dim: str) -> list[dict[str, Any]]:
        measures = [c for c in self.cube.columns if c not in q.DIMENSIONS]
        grouped = self.cube.groupby(dim, dropna=False, sort=False)[measures].sum()
        keys = [fk.key(k) for k in grouped.index]
        sums = dict(zip(keys, (grouped.iloc[i] for i in range(len(keys))), strict=True))
        extra = self.spend.keys(dim)
        if dim == "month" and self.spend.frame is not None:
            extra = sorted(set(extra) | set(self.spend.frame["month"]))
        for key in extra:
            if key not in sums:
                sums[key] = pd.Series(0.0, index=measures)
        ordered = sorted(sums, key=lambda k: (k is None, k if k is not None else 0))
        return [self._row(fk.label(dim, k, self.cfg), dim, k, sums[k]) for k in ordered]

    def _row(self, group: Any, dim: str | None, key: Any, sums: pd.Series) -> dict[str, Any]:
        def get(name: str) -> float | None:
            return float(sums[name]) if name in sums.index else None

        row: dict[str, Any] = {"group": group}
        counts = {n: get(n) for n in ("leads", "mql", "sal", "sql", "won", "lost")}
        row |= counts
        row["lead_to_mql"] = _ratio(counts["mql"], counts["leads"])
        row["mql_to_sal"] = _ratio(counts["sal"], counts["mql"])
        row["sal_to_sql"] = _ratio(counts["sql"], counts["sal"])
        row["mql_to_sql"] = _ratio(counts["sql"], counts["mql"])
        sql_won, sql_lost = get("sql_won"), get("sql_lost")
        sql_closed = None if sql_won is None or sql_lost is None else sql_won + sql_lost
        row["sql_closed"], row["sql_won"] = sql_closed, sql_won
        row["sql_to_win"] = _ratio(sql_won, sql_closed)
        row["lead_to_won"] = _ratio(counts["won"], counts["leads"])
        closed = None if counts["won"] is None else counts["won"] + (counts["lost"] or 0.0)
        row["win_rate"] = _ratio(counts["won"], closed)
        row["won_revenue"] = get("won_revenue")
        row["marketing_revenue"] = get("marketing_revenue")
        row |= self._cycle(dim, key)
        spend = self.spend.amount(dim, key)
        costs = self.cfg.costs
        sales_cost = None
        if counts["mql"] is not None and counts["sql"] is not None:
            sales_cost = (
                costs.sdr_cost_per_mql * counts["mql"] + costs.ae_cost_per_sql * counts["sql"]
            )
        row["spend"] = spend
        row["cost_per_sql"] = _ratio(spend, counts["sql"])
        row["sales_cost"] = sales_cost
        row["sales_cost_per_sql"] = _ratio(sales_cost, counts["sql"])
        full = None if spend is None or sales_cost is None else spend + sales_cost
        row["full_cost_per_sql"] = _ratio(full, counts["sql"])
        row |= self._touch(dim, key)
        scored, scored_closed = get("scored"), get("scored_closed")
        row["scored"], row["scored_closed"] = scored, scored_closed
        row["scored_win_rate"] = _ratio(get("scored_won"), scored_closed)
        row["predicted_win_rate"] = _ratio(get("closed_probability"), scored_closed)
        row["mean_win_probability"] = _ratio(get("probability"), scored)
        for name in INTEGERS:
            if row[name] is not None:
                row[name] = round(row[name])
        return row

    def _cycle(self, dim: str | None, key: Any) -> dict[str, Any]:
        if self.cycles is None:
            return {"cycle_deals": None, "cycle_days_median": None, "cycle_days_mean": None}
        days = (
            self.cycles["days"]
            if dim is None
            else self.cycles.loc[fk.is_key(self.cycles[dim], key), "days"]
        )
        return {
            "cycle_deals": len(days),
            "cycle_days_median": float(days.median()) if len(days) else None,
            "cycle_days_mean": float(days.mean()) if len(days) else None,
        }

    def _touch(self, dim: str | None, key: Any) -> dict[str, Any]:
        names = [n for n in DEFINITIONS if n.startswith("first_touch_")]
        if self.touch is None or (dim is not None and dim not in self.touch):
            return dict.fromkeys(names)
        clocks = self.touch if dim is None else self.touch[fk.is_key(self.touch[dim], key)]
        state = clocks["state"].astype(str)
        met = int((state == "met").sum())
        late = int(state.isin(["breached", "overdue"]).sum())
        touched = clocks.loc[state.isin(["met", "breached"]), "took_hours"]
        return {
            "first_touch_clocks": len(clocks),
            "first_touch_met": met,
            "first_touch_late": late,
            "first_touch_open": int((state == "open").sum()),
            "first_touch_within_sla": _ratio(met, met + late),
            "first_touch_median_hours": float(touched.median()) if len(touched) else None,
        }


def columns_of(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The keys of the first row (the rows of a section share them)."""
    for row in rows:
        return list(row)
    return []
