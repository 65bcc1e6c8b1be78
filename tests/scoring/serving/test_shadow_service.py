"""Real-time shadow scoring: `leadscore serve` imports the source's challenger beside the
champion, and a real `bentoml serve` scores every /score request with it off the request path into
lead_shadow_scores, answering exactly as without it."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from scoring.config import load_config
from scoring.model import registry
from scoring.model.shadow import SHADOW
from scoring.serving import schema
from scoring.serving.jobs import Job, Leads, score_jobs
from scoring.serving.shadow import ShadowScorer, same_features
from tests.conftest import REPO
from tests.scoring.serving.servers import free_port, running
from training import tracking
from training.pipeline.run import TrainResult

AS_OF = "2025-06-30T12:00:00Z"
LEAD = {
    "lead_id": "CRM-77",
    "title": "VP Sales",
    "vertical": "software",
    "employees": 850,
    "tech_stack": "Salesforce;Snowflake",
    "events": [
        {"type": "pricing_page", "timestamp": "2025-06-20T10:00:00Z"},
        {"type": "demo_request", "timestamp": "2025-06-28T09:00:00Z"},
    ],
}


@pytest.fixture(scope="module")
def shadow_env(
    trained: TrainResult, bento_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A registry whose demo champion is the trained model (v1) and challenger the evaluated
    one before the refit (v2, other boosters), a copy of the session's BentoML store, and an
    empty lead database for the shadow rows."""
    root = tmp_path_factory.mktemp("shadow-serve")
    home = root / "bentoml"
    shutil.copytree(bento_home, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.chdir(root)
        _, champion = tracking.log_training(trained, {}, register=True)
        evaluated = dataclasses.replace(trained, refitted=None)
        _, challenger = tracking.log_training(evaluated, {}, register=True)
        client = registry.setup()
        registry.promote(client, str(champion))
        registry.set_challenger(client, str(challenger))
    return {
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "LEADSCORE_LEAD_DB": f"sqlite:///{root / 'leads.db'}",
    }


@pytest.fixture(scope="module")
def server(shadow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("shadow-log") / "serve.log"
    cmd = [str(Path(sys.executable).parent / "leadscore"), "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, shadow_env, log, url):
        said = log.read_text()
        assert "serving lead-scoring v1" in said
        assert "shadow: challenger lead-scoring v2 (BentoML model lead-scoring.challenger:" in said
        yield url


def _shadow_rows(url: str, lead_id: str, seconds: float = 60) -> pd.DataFrame:
    """The lead's rows in lead_shadow_scores, once there are any."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if sa.inspect(engine).has_table(SHADOW):
                with engine.connect() as conn:
                    query = sa.text(f"SELECT * FROM {SHADOW} WHERE lead_id = :id")
                    found = pd.read_sql(query, conn, params={"id": lead_id})
                if len(found):
                    return found
            time.sleep(0.3)
    finally:
        engine.dispose()
    raise AssertionError(f"no shadow row for {lead_id} within {seconds} s")


def _direct(trained_scorer, lead: dict) -> dict:
    """The lead scored in process by `trained_scorer`, as the service's own code scores it."""
    lead_model = schema.lead_model(trained_scorer.config)
    as_of = datetime.fromisoformat(AS_OF)
    request = Leads([lead_model.model_validate(lead)], as_of, explain=False)
    return score_jobs(trained_scorer, "direct", [request])[0][0]


def test_the_challenger_scores_each_request_in_shadow_and_the_answer_is_the_champions(
    server: str, shadow_env: dict[str, str], trained: TrainResult
) -> None:
    answer = httpx.post(f"{server}/score", json={"lead": LEAD, "as_of": AS_OF}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # the answer is the champion's alone: its model, its numbers, nothing of the challenger
    assert set(body) == {"model", "scores"} and body["model"] == "lead-scoring v1"
    scored = body["scores"][0]
    champion = _direct(trained.registered, LEAD)
    for key in ("win_probability", "expected_revenue", "fit_score", "intent_score", "stage"):
        assert scored[key] == champion[key], key
    assert "challenger" not in answer.text and "shadow" not in answer.text
    # and the challenger's row arrives in lead_shadow_scores, its numbers the challenger's own
    row = _shadow_rows(shadow_env["LEADSCORE_LEAD_DB"], "CRM-77").iloc[0]
    challenger = _direct(trained.scorer, LEAD)
    assert (row["model_version"], row["origin"]) == ("2", "realtime") and pd.isna(row["run_id"])
    assert pd.Timestamp(row["as_of"]) == pd.Timestamp("2025-06-30 12:00:00")
    assert row["win_probability"] == round(challenger["win_probability"], 6)
    assert row["expected_revenue"] == round(challenger["expected_revenue"], 2)
    assert (row["stage"], row["grade"]) == (challenger["stage"], challenger["grade"])
    assert row["win_probability"] != round(champion["win_probability"], 6)  # another model
    # and /metrics counts it
    metrics = httpx.get(f"{server}/metrics").text
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "leadscore_shadow_scored_total"
    }
    assert values.get("leadscore_shadow_scored_total", 0) >= 1


def test_a_full_queue_drops_and_counts_and_never_blocks() -> None:
    def dropped(reason: str) -> float:
        value = REGISTRY.get_sample_value("leadscore_shadow_dropped_total", {"reason": reason})
        return value or 0.0

    job = Job(["a", "b", "c"], {}, datetime(2025, 6, 30), explain=False, top=3)
    shadow = ShadowScorer("lead-scoring.challenger:x", None, queue_size=1)
    before = dropped("queue_full")
    began = time.perf_counter()
    for _ in range(5):  # nothing takes from the queue: the first waits, the others are dropped
        shadow.offer([job])
    assert time.perf_counter() - began < 0.5
    assert dropped("queue_full") - before == 4 * len(job)
    # a challenger that could not be loaded drops what it is offered, counted apart
    shadow.problem = "ValueError: it computes features differently from the champion"
    shadow.offer([job])
    assert dropped("unavailable") >= len(job)
    # and a service without a challenger does not count at all
    unavailable = dropped("unavailable")
    ShadowScorer(None, None).offer([job])
    assert dropped("unavailable") == unavailable


def test_only_a_challenger_computing_the_champions_features_scores_them() -> None:
    cfg = load_config(REPO / "configs" / "demo.yaml")
    assert same_features(cfg, cfg)
    assert cfg.events is not None
    windows = cfg.events.model_copy(update={"windows_days": [3, 30]})
    assert not same_features(cfg, cfg.model_copy(update={"events": windows}))
    elsewhere = cfg.events.model_copy(update={"table": "crm_activity"})  # where, not how
    assert same_features(cfg, cfg.model_copy(update={"events": elsewhere}))
