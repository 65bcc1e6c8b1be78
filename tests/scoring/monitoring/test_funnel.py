"""`leadscore report funnel`: every number of the report equals a direct SQL computation over the
leads, lead_scores and lead_feedback tables of a small demo world, on SQLite and PostgreSQL.

The expected numbers are plain SQL text written here (not the report's query builders). Two
parts are not SQL: the spend, which is config data (spread over the months by the rule of
`scoring.monitoring.spend`, restated here), and which first touches met the SLA (business hours
on the sales calendar: taken from `sla_clocks`, whose own tests check them; the counts of clocks
and of touched leads are SQL)."""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config, ConfigError
from scoring.monitoring.funnel import DEFINITIONS, FunnelReport, funnel_report
from scoring.monitoring.sla import sla_clocks
from tests.scoring.monitoring.conftest import FunnelWorld

runner = CliRunner()
BY = ("source", "grade", "score_band", "month")
# the spend file beside the demo config's monthly budgets: a dated campaign, a source no lead
# has, a month before the first lead (the months covered start there), a monthly budget
SPEND_FILE = "source,month,amount\npaid_search,2024-03,5000\ntv,2024-05,7000\n"
SPEND_FILE += "webinar,2023-12,1000\npartner,,1500\n\n"

FROM = "leads l LEFT JOIN lead_scores s ON s.lead_id = l.lead_id AND s.deleted_at IS NULL"
WON, LOST = "lower(trim(l.outcome)) = 'won'", "lower(trim(l.outcome)) = 'lost'"
CLOSED = f"({WON} OR {LOST})"
MQL = "(l.mql_at IS NOT NULL OR l.sal_at IS NOT NULL OR l.sql_at IS NOT NULL)"
SAL = "(l.sal_at IS NOT NULL OR l.sql_at IS NOT NULL)"
SQL = "(l.sql_at IS NOT NULL)"
SOURCE = "NULLIF(TRIM(l.lead_source), '')"  # blank is no source, as validation reads text
BAND = """CASE WHEN s.win_probability IS NULL THEN NULL
    WHEN s.win_probability < 0.05 THEN '0-5%' WHEN s.win_probability < 0.1 THEN '5-10%'
    WHEN s.win_probability < 0.2 THEN '10-20%' WHEN s.win_probability < 0.4 THEN '20-40%'
    ELSE '40-100%' END"""
MONTH = {
    "sqlite": "strftime('%Y-%m', l.created_at)",
    "postgresql": "to_char(l.created_at, 'YYYY-MM')",
}
DAYS = {
    "sqlite": "julianday(l.closed_at) - julianday(l.created_at)",
    "postgresql": "EXTRACT(EPOCH FROM l.closed_at - l.created_at) / 86400.0",
}
TOUCHES = "('contact_attempt', 'sdr_accepted', 'sdr_rejected')"

COUNTS = f"""
WITH c AS (
  SELECT {{group}} AS grp,
    COUNT(*) AS leads,
    COALESCE(SUM(CASE WHEN {MQL} THEN 1 ELSE 0 END), 0) AS mql,
    COALESCE(SUM(CASE WHEN {SAL} THEN 1 ELSE 0 END), 0) AS sal,
    COALESCE(SUM(CASE WHEN {SQL} THEN 1 ELSE 0 END), 0) AS "sql",
    COALESCE(SUM(CASE WHEN {WON} THEN 1 ELSE 0 END), 0) AS won,
    COALESCE(SUM(CASE WHEN {LOST} THEN 1 ELSE 0 END), 0) AS lost,
    COALESCE(SUM(CASE WHEN {SQL} AND {CLOSED} THEN 1 ELSE 0 END), 0) AS sql_closed,
    COALESCE(SUM(CASE WHEN {SQL} AND {WON} THEN 1 ELSE 0 END), 0) AS sql_won,
    COALESCE(SUM(CASE WHEN {WON} THEN l.revenue ELSE 0 END), 0) AS won_revenue,
    COALESCE(SUM(CASE WHEN {WON} AND {SOURCE} IS NOT NULL
                      AND {SOURCE} NOT IN ('outbound_list') THEN l.revenue ELSE 0 END), 0)
      AS marketing_revenue,
    COUNT(s.win_probability) AS scored,
    COALESCE(SUM(CASE WHEN s.win_probability IS NOT NULL AND {CLOSED} THEN 1 ELSE 0 END), 0)
      AS scored_closed,
    COALESCE(SUM(CASE WHEN s.win_probability IS NOT NULL AND {WON} THEN 1 ELSE 0 END), 0)
      AS scored_won,
    SUM(CASE WHEN {CLOSED} THEN s.win_probability END) AS closed_probability,
    AVG(s.win_probability) AS mean_win_probability
  FROM {FROM} {{where}} {{group_by}}
)
SELECT grp, leads, mql, sal, "sql", won, lost,
  1.0 * mql / NULLIF(leads, 0) AS lead_to_mql,
  1.0 * sal / NULLIF(mql, 0) AS mql_to_sal,
  1.0 * "sql" / NULLIF(sal, 0) AS sal_to_sql,
  1.0 * "sql" / NULLIF(mql, 0) AS mql_to_sql,
  sql_closed, sql_won,
  1.0 * sql_won / NULLIF(sql_closed, 0) AS sql_to_win,
  1.0 * won / NULLIF(leads, 0) AS lead_to_won,
  1.0 * won / NULLIF(won + lost, 0) AS win_rate,
  won_revenue, marketing_revenue,
  40.0 * mql + 400.0 * "sql" AS sales_cost,
  (40.0 * mql + 400.0 * "sql") / NULLIF("sql", 0) AS sales_cost_per_sql,
  scored, scored_closed,
  1.0 * scored_won / NULLIF(scored_closed, 0) AS scored_win_rate,
  closed_probability / NULLIF(scored_closed, 0) AS predicted_win_rate,
  mean_win_probability
FROM c"""

CYCLES = f"""
SELECT {{group}} AS grp, {{days}} AS days FROM {FROM}
WHERE {WON} AND l.created_at IS NOT NULL AND l.closed_at IS NOT NULL
  AND l.closed_at >= l.created_at"""

CYCLE_MEANS = f"""
SELECT {{group}} AS grp, COUNT(*) AS deals, AVG({{days}}) AS mean FROM {FROM}
WHERE {WON} AND l.created_at IS NOT NULL AND l.closed_at IS NOT NULL
  AND l.closed_at >= l.created_at {{group_by}}"""

# leads handed to sales by now (a first-touch clock each), and those touched since the handoff
CLOCKS = f"""
SELECT {{group}} AS grp, COUNT(*) AS clocks,
  COALESCE(SUM(CASE WHEN EXISTS (
    SELECT 1 FROM lead_feedback f WHERE f.lead_id = l.lead_id AND f.kind IN {TOUCHES}
      AND f.occurred_at >= l.mql_at AND f.occurred_at <= :now) THEN 1 ELSE 0 END), 0) AS touched
FROM {FROM} WHERE l.mql_at IS NOT NULL AND l.mql_at <= :now {{group_by}}"""

REASONS = f"""
SELECT {{group}} AS grp, f.kind, f.reason, COUNT(*) AS n,
  1.0 * COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY {{partition}}) AS share
FROM lead_feedback f LEFT JOIN ({FROM}) ON l.lead_id = f.lead_id
WHERE f.kind IN ('sdr_rejected', 'ae_disqualified')
GROUP BY {{groups}}"""

# spend and SQLs per source and month (the report counts a SQL in its lead's creation month)
SQL_BY_SOURCE_MONTH = f"""
SELECT {SOURCE} AS source, {{month}} AS month,
  COALESCE(SUM(CASE WHEN {SQL} THEN 1 ELSE 0 END), 0) AS n
FROM leads l GROUP BY {SOURCE}, {{month}}"""


# ---------------------------------------------------------------- direct SQL


def _dialect(engine: sa.Engine) -> str:
    return engine.dialect.name


def _group(engine: sa.Engine, by: str | None) -> str:
    if by is None:
        return "NULL"
    return {
        "source": SOURCE,
        "grade": "s.grade",
        "score_band": BAND,
        "month": MONTH[_dialect(engine)],
    }[by]


def _rows(engine: sa.Engine, text: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(text), params).mappings()]


def _keyed(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {r.pop("grp"): r for r in rows}


def _grouped(engine: sa.Engine, template: str, by: str | None, **params: Any) -> dict:
    """`template` per group of `by` (one group, None, for the total)."""
    group = _group(engine, by)
    text = template.format(
        group=group,
        where="",
        group_by=f"GROUP BY {group}" if by else "",
        days=DAYS[_dialect(engine)],
    )
    return _keyed(_rows(engine, text, **params))


def _empty_group(engine: sa.Engine, template: str, **params: Any) -> dict[str, Any]:
    """`template` over no lead: what a group only the spend names holds."""
    text = template.format(group="NULL", where="WHERE 1 = 0", group_by="", days="0")
    return _rows(engine, text, **params)[0] | {"grp": None}


def _cycles(engine: sa.Engine, by: str | None) -> dict[Any, dict[str, Any]]:
    days: dict[Any, list[float]] = {}
    for row in _rows(engine, CYCLES.format(group=_group(engine, by), days=DAYS[_dialect(engine)])):
        days.setdefault(row["grp"], []).append(float(row["days"]))
    means = _grouped(engine, CYCLE_MEANS, by)
    return {
        key: {
            "cycle_deals": means[key]["deals"],
            "cycle_days_median": statistics.median(values),
            "cycle_days_mean": float(means[key]["mean"]),
        }
        for key, values in days.items()
    }


def _spend_table(cfg: Config, engine: sa.Engine) -> dict[tuple[str, str], float]:
    """Spend per (source, month): dated entries in their month, monthly budgets in every month
    from the earliest to the latest month of the leads and the entries."""
    from scoring.monitoring.spend import spend_entries

    entries = spend_entries(cfg.report)
    months = MONTH[_dialect(engine)]
    found = _rows(
        engine, f"SELECT DISTINCT {months} AS m FROM leads l WHERE l.created_at IS NOT NULL"
    )
    named = [r["m"] for r in found] + [e.month for e in entries if e.month]
    covered = [str(p) for p in pd.period_range(min(named), max(named), freq="M")]
    spend: dict[tuple[str, str], float] = {}
    for entry in entries:
        for month in [entry.month] if entry.month else covered:
            spend[(entry.source, month)] = spend.get((entry.source, month), 0.0) + entry.amount
    return spend


def _spend_of(spend: dict[tuple[str, str], float], by: str | None, key: Any) -> float | None:
    if by is None:
        return sum(spend.values()) if spend else None
    if by not in ("source", "month") or not spend:
        return None
    if key is None:
        return None  # no spend entry names an unknown source or month
    index = 0 if by == "source" else 1
    return sum(v for k, v in spend.items() if k[index] == key)


def expected_rows(
    world: FunnelWorld, cfg: Config, by: str | None, clocks: pd.DataFrame
) -> dict[Any, dict[str, Any]]:
    """Every number of the report's rows grouped `by` (the total when None), by group key."""
    engine = world.engine
    counts = _grouped(engine, COUNTS, by)
    spend = _spend_table(cfg, engine)
    if by in ("source", "month"):
        for key in {k[0 if by == "source" else 1] for k in spend} - set(counts):
            counts[key] = _empty_group(engine, COUNTS)
    cycles = _cycles(engine, by)
    touched = _grouped(engine, CLOCKS, by, now=_bound_time(engine, world.as_of))
    states = _clock_states(world, by, clocks)
    rows = {}
    for key, found in counts.items():
        row = {k: _plain(v) for k, v in found.items() if k != "grp"}
        row |= cycles.get(
            key, {"cycle_deals": 0, "cycle_days_median": None, "cycle_days_mean": None}
        )
        amount = _spend_of(spend, by, key)
        row["spend"] = amount
        row["cost_per_sql"] = None if amount is None or not row["sql"] else amount / row["sql"]
        full = None if amount is None else amount + row["sales_cost"]
        row["full_cost_per_sql"] = None if full is None or not row["sql"] else full / row["sql"]
        touch = touched.get(key, {"clocks": 0, "touched": 0})
        state = states.get(key, {"met": 0, "breached": 0, "overdue": 0, "open": 0, "hours": []})
        assert state["met"] + state["breached"] == touch["touched"]
        met, late = state["met"], state["breached"] + state["overdue"]
        row |= {
            "first_touch_clocks": touch["clocks"],
            "first_touch_met": met,
            "first_touch_late": late,
            "first_touch_open": touch["clocks"] - met - late,
            "first_touch_within_sla": met / (met + late) if met + late else None,
            "first_touch_median_hours": statistics.median(state["hours"])
            if state["hours"]
            else None,
        }
        rows[key] = row
    return rows


def _bound_time(engine: sa.Engine, at: pd.Timestamp) -> Any:
    """A time to compare with stored ones: SQLite keeps them as ISO text."""
    return str(at) if engine.dialect.name == "sqlite" else at.to_pydatetime()


def _plain(value: Any) -> Any:
    return (
        float(value) if hasattr(value, "as_integer_ratio") and not isinstance(value, int) else value
    )


def _clock_states(world: FunnelWorld, by: str | None, clocks: pd.DataFrame) -> dict[Any, dict]:
    """The first-touch clocks' states and business hours (`sla_clocks`), per group found by SQL."""
    group = _group(world.engine, by)
    keys = _rows(world.engine, f"SELECT l.lead_id AS lead_id, {group} AS grp FROM {FROM}")
    frame = clocks.merge(pd.DataFrame(keys), on="lead_id", how="left")
    out: dict[Any, dict] = {}
    for row in frame.itertuples(index=False):
        key = None if pd.isna(row.grp) else row.grp
        state = out.setdefault(key, {"met": 0, "breached": 0, "overdue": 0, "open": 0, "hours": []})
        state[row.state] += 1
        if row.state in ("met", "breached"):
            state["hours"].append(row.took_hours)
    return out


def expected_reasons(engine: sa.Engine, by: str | None) -> list[tuple]:
    group = _group(engine, by)
    text = REASONS.format(
        group=group,
        partition=f"{group}, f.kind" if by else "f.kind",
        groups=f"{group}, f.kind, f.reason" if by else "f.kind, f.reason",
    )
    rows = [
        (r["grp"], r["kind"], r["reason"], r["n"], float(r["share"])) for r in _rows(engine, text)
    ]
    return sorted(rows, key=_reason_order)


def _reason_order(row: tuple) -> tuple:
    return tuple((v is None, v if v is not None else "") for v in row[:3])


# ---------------------------------------------------------------- the report against it


def _spend_config(world: FunnelWorld, tmp_path: Path) -> Config:
    path = tmp_path / "spend.csv"
    path.write_text(SPEND_FILE)
    report = world.cfg.report.model_copy(update={"spend_file": path})
    return world.cfg.model_copy(update={"report": report})


@pytest.fixture(scope="module")
def first_touch(funnel_world: FunnelWorld) -> pd.DataFrame:
    cfg = funnel_world.cfg
    only = {"mql_delivery_hours": None, "min_attempts": None, "sal_to_sql_days": None}
    cfg = cfg.model_copy(update={"sla": cfg.sla.model_copy(update=only)})
    clocks = sla_clocks(cfg, funnel_world.engine, funnel_world.as_of.to_pydatetime())
    return clocks[clocks["rule"] == "first_touch"]


def _assert_row(got: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert set(got) - {"group"} == set(DEFINITIONS), where
    for name in DEFINITIONS:
        want = expected[name]
        if want is None or isinstance(want, int):
            assert got[name] == want, f"{where}: {name} is {got[name]!r}, SQL says {want!r}"
        else:
            assert got[name] == pytest.approx(want, rel=1e-9, abs=1e-9), f"{where}: {name}"


def _report(world: FunnelWorld, cfg: Config, by: str | None) -> FunnelReport:
    return funnel_report(cfg, world.engine, by, world.as_of)


@pytest.mark.parametrize("by", [None, *BY])
def test_every_number_equals_a_direct_sql_computation(
    funnel_world: FunnelWorld, first_touch: pd.DataFrame, tmp_path: Path, by: str | None
) -> None:
    cfg = _spend_config(funnel_world, tmp_path)
    report = _report(funnel_world, cfg, by)
    total = expected_rows(funnel_world, cfg, None, first_touch)[None]
    _assert_row(report.total, total, "total")
    if by is not None:
        expected = expected_rows(funnel_world, cfg, by, first_touch)
        got = {row["group"]: row for row in report.rows}
        assert set(got) == set(expected)
        for key, row in expected.items():
            _assert_row(got[key], row, f"{by}={key}")
    if by in ("source", "month"):  # in order, the unknown group last
        groups = [r["group"] for r in report.rows]
        assert groups == sorted(groups, key=lambda g: (g is None, g or ""))


def test_the_score_band_and_grade_checks_equal_sql(
    funnel_world: FunnelWorld, first_touch: pd.DataFrame, tmp_path: Path
) -> None:
    cfg = _spend_config(funnel_world, tmp_path)
    report = _report(funnel_world, cfg, None)
    for name in ("score_band", "grade"):
        expected = expected_rows(funnel_world, cfg, name, first_touch)
        got = {row["group"]: row for row in report.calibration[name]}
        assert set(got) == set(expected)
        for key, row in expected.items():
            _assert_row(got[key], row, f"{name}={key}")
    assert set(got) == {"A1", "A2", "B1", "B2", "C1", "C2", None}  # grades


@pytest.mark.parametrize("by", [None, *BY])
def test_reject_reasons_equal_sql(funnel_world: FunnelWorld, by: str | None) -> None:
    report = _report(funnel_world, funnel_world.cfg, by)
    got = sorted(
        [
            (r["group"], r["kind"], r["reason"], r["count"], r["share"])
            for r in report.reject_reasons
        ],
        key=_reason_order,
    )
    expected = expected_reasons(funnel_world.engine, by)
    assert [g[:4] for g in got] == [e[:4] for e in expected]
    assert [g[4] for g in got] == pytest.approx([e[4] for e in expected], rel=1e-12)
    categories = {r["category"] for r in report.reject_reasons if r["kind"] == "sdr_rejected"}
    assert categories <= {"not_ready", "bad_fit", "other", "unlisted"}
    assert {r["category"] for r in report.reject_reasons if r["kind"] != "sdr_rejected"} == {None}


def test_spend_per_source_and_month_equals_sql(funnel_world: FunnelWorld, tmp_path: Path) -> None:
    cfg = _spend_config(funnel_world, tmp_path)
    engine = funnel_world.engine
    spend = _spend_table(cfg, engine)
    month = MONTH[_dialect(engine)]
    sqls = {
        (r["source"], r["month"]): r["n"]
        for r in _rows(engine, SQL_BY_SOURCE_MONTH.format(month=month))
    }
    report = _report(funnel_world, cfg, None)
    got = {(r["source"], r["month"]): r for r in report.spend}
    assert set(got) == set(spend)
    for key, amount in spend.items():
        n = sqls.get(key, 0)
        assert got[key]["spend"] == pytest.approx(amount)
        assert got[key]["sql"] == n, key
        assert got[key]["cost_per_sql"] == (pytest.approx(amount / n) if n else None), key
    assert ("tv", "2024-05") in got and ("webinar", "2023-12") in got
    assert got[("partner", "2023-12")]["spend"] == 5000 + 1500  # both monthly budgets
    assert any("tv" in note for note in report.notes)


# ---------------------------------------------------------------- the command


def _invoke(world: FunnelWorld, *args: str, config: Path | None = None) -> Any:
    from tests.conftest import REPO

    config = config or REPO / "configs" / "demo.yaml"
    command = ["report", "funnel", "-c", str(config), "--db", world.url]
    command += ["--as-of", world.as_of.isoformat(), *args]
    return runner.invoke(app, command)


def test_the_command_gives_json_csv_and_a_table(funnel_world: FunnelWorld) -> None:
    report = _report(funnel_world, funnel_world.cfg, "source")

    result = _invoke(funnel_world, "--by", "source", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["by"] == "source"
    assert found["total"] == json.loads(json.dumps(report.to_json()))["total"]
    assert found["definitions"] == DEFINITIONS

    result = _invoke(funnel_world, "--by", "source", "-f", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.output), keep_default_na=False)
    assert list(frame.columns) == ["section", "group", "metric", "value"]
    total = frame[frame["section"] == "total"].set_index("metric")["value"]
    assert float(total["leads"]) == report.total["leads"]
    assert float(total["sql_to_win"]) == pytest.approx(report.total["sql_to_win"])
    assert set(frame["section"]) >= {"total", "by_source", "score_band", "grade", "reject_reasons"}
    webinar = frame[(frame["section"] == "by_source") & (frame["group"] == "webinar")]
    expected = next(r for r in report.rows if r["group"] == "webinar")
    assert float(webinar.set_index("metric").loc["sql", "value"]) == expected["sql"]

    result = _invoke(funnel_world)
    assert result.exit_code == 0, result.output
    assert f"{report.total['leads']:,}" in result.output
    assert "dated wins" in result.output  # the cycle's sample, not every won deal
    reasons = result.output.split("Reject reasons")[1]
    assert "(none)" not in reasons.splitlines()[3]  # the total's group reads "all"
    assert reasons.splitlines()[3].split()[0] == "all"


def test_a_bad_spend_file_row_stops_the_command_naming_the_field(
    funnel_world: FunnelWorld, tmp_path: Path
) -> None:
    from tests.conftest import REPO

    spend = tmp_path / "spend.csv"
    spend.write_text("source,month,amount\npaid_search,2024-03,5000\nwebinar,2024-13,100\n")
    config = tmp_path / "demo.yaml"
    text = (REPO / "configs" / "demo.yaml").read_text()
    config.write_text(text.replace("report:\n", "report:\n  spend_file: spend.csv\n", 1))
    result = _invoke(funnel_world, config=config)
    assert result.exit_code != 0
    assert "report.spend_file" in result.output and "line 3" in result.output
    assert "month" in result.output

    spend.write_text("source,month,amount\npaid_search,2024-03,lots\n")
    result = _invoke(funnel_world, config=config)
    assert result.exit_code != 0
    assert "line 2: amount" in result.output


def test_grouping_by_source_without_report_source_names_the_key(funnel_world: FunnelWorld) -> None:
    cfg = funnel_world.cfg
    cfg = cfg.model_copy(update={"report": cfg.report.model_copy(update={"source": None})})
    with pytest.raises(ConfigError, match=r"report\.source"):
        funnel_report(cfg, funnel_world.engine, "source", funnel_world.as_of)


DERIVED = f"""
SELECT {{group}} AS grp, COUNT(*) AS leads,
  SUM(CASE WHEN {{mql}} OR {{sal}} OR {{sql}} THEN 1 ELSE 0 END) AS mql,
  SUM(CASE WHEN {{sal}} OR {{sql}} THEN 1 ELSE 0 END) AS sal,
  SUM(CASE WHEN {{sql}} THEN 1 ELSE 0 END) AS "sql",
  SUM(CASE WHEN {{sql}} AND {WON} THEN 1 ELSE 0 END) AS sql_won
FROM {FROM} {{group_by}}"""
HISTORY = "EXISTS (SELECT 1 FROM lead_stage_history h WHERE h.lead_id = l.lead_id AND {})"
GIVEN = "EXISTS (SELECT 1 FROM lead_feedback f WHERE f.lead_id = l.lead_id AND f.kind = '{}')"


@pytest.mark.parametrize("by", [None, "source"])
def test_without_funnel_columns_stages_come_from_history_and_feedback(
    funnel_world: FunnelWorld, by: str | None
) -> None:
    """A CRM without stage dates: MQL from batch rescoring's stage history, SAL and SQL from
    the SDR's and the AE's feedback."""
    engine = funnel_world.engine
    history = sa.Table("lead_stage_history", sa.MetaData(), autoload_with=engine)
    handed = _rows(engine, "SELECT lead_id FROM leads WHERE mql_at IS NOT NULL ORDER BY lead_id")
    rows = [
        {
            "lead_id": r["lead_id"],
            "from_stage": "nurture",
            "to_stage": ("mql", "sql", "nurture")[i % 3],
            "direction": "up",
            "changed_at": pd.Timestamp("2025-01-01").to_pydatetime(),
            "win_probability": 0.2,
            "model_version": "stand-in",
            "run_id": 1,
        }
        for i, r in enumerate(handed[::2])
    ]
    cfg = funnel_world.cfg
    cfg = cfg.model_copy(update={"leads": cfg.leads.model_copy(update={"funnel": {}})})
    group = _group(engine, by)
    text = DERIVED.format(
        group=group,
        group_by=f"GROUP BY {group}" if by else "",
        mql=HISTORY.format("h.to_stage IN ('mql', 'sql')"),
        sal=GIVEN.format("sdr_accepted"),
        sql=GIVEN.format("ae_accepted"),
    )
    with engine.begin() as conn:
        conn.execute(history.insert(), rows)
    try:
        report = _report(funnel_world, cfg, by)
        expected = _keyed(_rows(engine, text))
    finally:
        with engine.begin() as conn:
            conn.execute(history.delete())
    got = {None: report.total} if by is None else {r["group"]: r for r in report.rows}
    assert set(got) >= set(expected)
    for key, row in expected.items():
        for name, value in row.items():
            assert got[key][name] == value, f"{by}={key}: {name}"
    assert report.sources["stage_mql"] == "lead_stage_history"
    assert report.sources["stage_sql"] == "lead_feedback ae_accepted"


@pytest.mark.parametrize("by", [None, "source"])
def test_before_a_feedback_sync_reject_reasons_come_from_the_crm_table(
    funnel_world: FunnelWorld,
    funnel_frames: tuple[dict[str, pd.DataFrame], pd.Timestamp],
    tmp_path: Path,
    by: str | None,
) -> None:
    """The CRM's activity table, its raw types and reasons read through feedback.crm, gives the
    reasons lead_feedback holds after `leadscore feedback sync`."""
    from scoring.data.bulk import write_frames

    frames, _ = funnel_frames
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    write_frames(engine, dict(frames))
    cfg = funnel_world.cfg.with_database(str(engine.url))
    before = funnel_report(cfg, engine, by, funnel_world.as_of)
    synced = _report(funnel_world, funnel_world.cfg, by)
    assert before.sources["reject_reasons"].startswith("sales_activities")
    assert sorted(before.reject_reasons, key=_reason_key) == sorted(
        synced.reject_reasons, key=_reason_key
    )
    assert before.total["first_touch_clocks"] is None
    assert any("speed to lead" in note for note in before.notes)


def _reason_key(row: dict[str, Any]) -> tuple:
    return _reason_order((row["group"], row["kind"], row["reason"]))
