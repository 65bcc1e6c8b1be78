"""`leadscore rescore` around the scoring: the CRM's activity copied into lead_feedback first (one
line of counts), the handoff SLA checked last (the lines `leadscore sla` ends with), on a small
synthetic CRM and the trained demo model exported to a folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config
from scoring.feedback.table import FEEDBACK
from tests.conftest import REPO
from training.pipeline.run import TrainResult
from training.synthetic import generate_world, write_world

N_LEADS = 1_200
AS_OF = "2025-11-01T00:00:00"
DEMO = str(REPO / "configs" / "demo.yaml")


@pytest.fixture(scope="module")
def export(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model as `leadscore rescore --model` takes it (a folder with scorer/)."""
    folder = tmp_path_factory.mktemp("export") / "lead-scoring-v1"
    trained.scorer.save(folder / "scorer")
    return folder


@pytest.fixture
def lead_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    write_world(generate_world(N_LEADS, seed=5), sa.create_engine(url))
    return url


def _feedback_rows(url: str) -> int:
    with sa.create_engine(url).connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {FEEDBACK}")).scalar_one()


def _sla_lines(url: str) -> list[str]:
    """The line per rule `leadscore sla` ends with, as of the runs' time."""
    done = CliRunner().invoke(app, ["sla", "--config", DEMO, "--db", url, "--as-of", AS_OF])
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()[-4:]


def _summary(output: str) -> list[str]:
    """The rescoring summary: the lines before the monitor's verdict, which every rescore ends
    with (tests/scoring/monitoring/test_monitor.py)."""
    lines = output.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("monitor "))
    assert any(line.startswith("verdict: ") for line in lines[end:])
    return lines[:end]


def test_every_rescore_syncs_the_crm_first_and_ends_with_the_sla_lines(
    export: Path, lead_db: str, demo_config: Config
) -> None:
    assert demo_config.feedback.crm is not None
    args = ["rescore", "--config", DEMO, "--db", lead_db, "--model", str(export)]
    args += ["--as-of", AS_OF, "--workers", "1"]

    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    lines = _summary(first.stdout)
    synced = _feedback_rows(lead_db)
    assert synced > 0
    assert lines[0] == (
        f"feedback sync of sales_activities: {synced:,} rows, {synced:,} stored, 0 already stored"
    )
    assert lines[1].startswith("rescore run 1 (")
    expected = _sla_lines(lead_db)
    assert [line.split(" (")[0] for line in expected] == [
        "mql_delivery",
        "first_touch",
        "contact_attempts",
        "sal_to_sql",
    ]
    assert lines[-4:] == expected
    assert ": 0 clocks" not in expected[1]  # first touches were checked, with the CRM's

    again = CliRunner().invoke(app, args)  # nothing new in the CRM: all already stored
    assert again.exit_code == 0, again.output
    lines = _summary(again.stdout)
    assert lines[0] == (
        f"feedback sync of sales_activities: {synced:,} rows, 0 stored, {synced:,} already "
        f"stored ({synced:,} unchanged in the CRM since the last sync)"
    )
    assert lines[1].startswith("rescore run 2 (")
    assert lines[-4:] == expected
    assert _feedback_rows(lead_db) == synced


def test_a_config_without_a_crm_table_rescores_without_a_sync_line(
    export: Path, lead_db: str, tmp_path: Path
) -> None:
    text = Path(DEMO).read_text()
    start = text.index("\nfeedback:")
    end = text.index("\nsla:")
    config = tmp_path / "no-crm.yaml"
    config.write_text(text[:start] + text[end:])
    args = ["rescore", "--config", str(config), "--db", lead_db, "--model", str(export)]
    done = CliRunner().invoke(app, [*args, "--as-of", AS_OF, "--workers", "1"])
    assert done.exit_code == 0, done.output
    lines = _summary(done.stdout)
    assert lines[0].startswith("rescore run 1 (")
    assert not sa.inspect(sa.create_engine(lead_db)).has_table(FEEDBACK)
    # without feedback, sales' clocks all run: marketing's delivery is checked as `leadscore sla`
    assert lines[-4:] == _sla_lines(lead_db)


def test_a_crm_table_missing_from_the_database_is_a_line_not_a_failed_run(
    export: Path, lead_db: str
) -> None:
    with sa.create_engine(lead_db).begin() as conn:
        conn.execute(sa.text("DROP TABLE sales_activities"))
    args = ["rescore", "--config", DEMO, "--db", lead_db, "--model", str(export)]
    done = CliRunner().invoke(app, [*args, "--as-of", AS_OF, "--workers", "1"])
    assert done.exit_code == 0, done.output
    lines = _summary(done.stdout)
    assert lines[0] == (
        "feedback sync of sales_activities: not done: feedback.crm.table: table "
        "'sales_activities' is not in the lead database"
    )
    assert lines[1].startswith("rescore run 1 (")
    assert lines[-4:] == _sla_lines(lead_db)
