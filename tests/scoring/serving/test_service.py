"""The real-time service, called directly and through its ASGI app: the input contract, the
answers, the same numbers as the batch path for the same lead and `as_of`, and one source's
model never standing in for another's."""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse
from starlette.testclient import TestClient
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config, load_config
from scoring.data.database import read_leads
from scoring.data.load import load_events, load_leads
from scoring.features import build_features
from scoring.model import registry
from scoring.model.reasons import explain
from scoring.serving.auth import BearerAuth
from scoring.serving.openapi import document
from scoring.serving.parse import INLINE_BYTES
from tests.conftest import REPO, as_source
from tests.scoring.serving.servers import asgi_client
from training import tracking
from training.pipeline.run import TrainResult

AS_OF = "2025-06-30T12:00:00Z"
FIELDS = ["title", "vertical", "region", "country", "employees", "annual_revenue", "tech_stack"]


@pytest.fixture(scope="module")
def service_module(bento_home: Path):
    import scoring.serving.service

    return scoring.serving.service


@pytest.fixture(scope="module")
def service(service_module):
    svc = service_module.LeadScoring()
    assert svc.wait_ready(120), svc.load_error
    return svc


@pytest.fixture(scope="module")
def client(service_module) -> Iterator[TestClient]:
    with asgi_client(service_module.LeadScoring) as client:
        yield client


@pytest.fixture(scope="module")
def crm_leads(demo_config: Config) -> tuple[list[dict[str, Any]], list[str]]:
    """40 leads of the demo database as the CRM would post them: raw fields, their events."""
    engine = sa.create_engine(demo_config.source.database)
    raw = next(read_leads(demo_config, engine)).sample(40, random_state=5)
    ids = raw["lead_id"].astype(str).tolist()
    with engine.connect() as conn:
        activity = pd.read_sql(
            sa.text("SELECT lead_id, event_type, occurred_at FROM activities"), conn
        )
    activity = activity[activity["lead_id"].astype(str).isin(ids)]
    leads = []
    for row in raw.to_dict("records"):
        lead = {"lead_id": str(row["lead_id"])}
        for column in (*FIELDS, "lead_source"):
            value = row[column]
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                lead[column] = value.item() if isinstance(value, np.generic) else value
        mine = activity[activity["lead_id"].astype(str) == lead["lead_id"]]
        lead["events"] = [
            {"type": t, "timestamp": str(w)}
            for t, w in zip(mine.event_type, mine.occurred_at, strict=True)
        ]
        leads.append(lead)
    assert sum(len(lead["events"]) for lead in leads) > 100
    return leads, ids


def _run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- the class called directly


def test_direct_call_scores_a_lead_with_reasons(service, service_module) -> None:
    lead = service_module.Lead.model_validate(
        {
            "lead_id": "CRM-1",
            "title": "VP Sales",
            "vertical": "Software",
            "employees": 1200,
            "tech_stack": "Salesforce;Snowflake",
            "events": [{"type": "pricing_page", "timestamp": "2025-06-29T10:00:00Z"}] * 3,
        }
    )
    answer = _run(service.score(lead=lead, as_of=pd.Timestamp(AS_OF).to_pydatetime()))
    (scored,) = answer.scores
    assert scored.lead_id == "CRM-1"
    assert 0 <= scored.fit_score <= 100 and 0 <= scored.intent_score <= 100
    assert 0 < scored.win_probability < 1
    assert scored.stage in ("nurture", "mql", "sql")
    assert len(scored.grade) == 2 and scored.grade[0] in "ABCD" and scored.grade[1] in "1234"
    assert scored.model_version == answer.model == "lead-scoring v1"
    assert scored.reasons is not None and scored.reasons.positive + scored.reasons.negative
    texts = [r.text for r in scored.reasons.intent]
    about_activity = ("pricing page", "engagement", "activity")  # the three visits yesterday
    assert any(word in t.lower() for t in texts for word in about_activity), texts


def test_unknown_categories_and_missing_values_are_scored(service, service_module) -> None:
    leads = [
        service_module.Lead.model_validate(lead)
        for lead in (
            {"lead_id": "bare"},
            {"lead_id": "odd", "vertical": "Underwater Basket Weaving", "country": "Atlantis"},
            {"lead_id": 42, "employees": None, "title": ""},
        )
    ]
    answer = _run(service.score(leads=leads, explain=False))
    assert [s.lead_id for s in answer.scores] == ["bare", "odd", "42"]
    assert all(s.reasons is None and 0 < s.win_probability < 1 for s in answer.scores)


def test_batch_and_real_time_give_identical_numbers(
    client: TestClient, crm_leads, demo_config: Config, trained: TrainResult
) -> None:
    leads, ids = crm_leads
    # batch: the lead database -> validation -> point-in-time features -> scorer
    engine = sa.create_engine(demo_config.source.database)
    batch_leads, _ = load_leads(demo_config, engine)
    events, _ = load_events(demo_config, engine, ids)
    features = build_features(demo_config, batch_leads.inputs.loc[ids], events, pd.Timestamp(AS_OF))
    batch = trained.registered.score(features)  # the model the service serves
    reasons = explain(trained.registered, features)
    # real time: the same leads posted as JSON at the same as_of, all at once (a body parsed in
    # a parse process) and one by one (small bodies, parsed where they arrive)
    body = {"leads": leads, "as_of": AS_OF}
    assert len(json.dumps(body)) > INLINE_BYTES
    response = client.post("/score", json=body)
    assert response.status_code == 200, response.text
    scored = response.json()["scores"]
    alone = [
        client.post("/score", json={"lead": lead, "as_of": AS_OF}).json()["scores"][0]
        for lead in leads
    ]
    assert alone == scored
    assert [s["lead_id"] for s in scored] == ids
    for s, (lead_id, row), why in zip(scored, batch.iterrows(), reasons, strict=True):
        assert s["lead_id"] == lead_id
        for column in ("fit_score", "intent_score", "win_probability", "expected_revenue"):
            assert s[column] == row[column], (lead_id, column)
        assert (s["stage"], s["grade"]) == (row["stage"], row["grade"])
        assert s["reasons"] == json.loads(json.dumps(why)), lead_id


def test_events_after_as_of_change_nothing(client: TestClient, crm_leads) -> None:
    lead = crm_leads[0][0]
    later = {"type": "demo_request", "timestamp": "2025-07-02T09:00:00Z"}
    before = client.post("/score", json={"lead": lead, "as_of": AS_OF}).json()["scores"][0]
    with_future = lead | {"events": [*lead["events"], later]}
    after = client.post("/score", json={"lead": with_future, "as_of": AS_OF}).json()["scores"][0]
    assert before == after


# ---------------------------------------------------------------- the ASGI app


def test_openapi_shows_the_configured_fields(client: TestClient) -> None:
    doc = client.get("/docs.json").json()
    schemas = doc["components"]["schemas"]
    lead = schemas["Lead"]["properties"]
    assert {"lead_id", *FIELDS, "lead_source", "events"} <= set(lead)
    assert lead["employees"]["anyOf"][0]["type"] == "number"
    assert "Industry" in lead["vertical"]["description"]
    assert "/score" in doc["paths"]
    assert "securitySchemes" not in doc["components"]  # no token here: none asked
    post = doc["paths"]["/score"]["post"]
    assert "security" not in post
    # every answer RequestBody and the route send (499: the client is gone, it reads none)
    assert set(post["responses"]) == {"200", "400", "408", "413", "415", "422", "429", "500", "503"}


def test_with_a_token_the_document_declares_the_bearer_scheme(service_module) -> None:
    spec = service_module.LeadScoring.openapi_spec.asdict()
    doc = document(spec, {"/score": service_module.ScoreRequest}, secured=True)
    assert doc["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    post = doc["paths"]["/score"]["post"]
    assert post["security"] == [{"bearer": []}] and "401" in post["responses"]
    assert "security" not in doc["paths"]["/livez"].get("get", {})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lead": {"lead_id": "x", "employees": "lots"}}, "employees"),
        ({"lead": {"lead_id": "x", "job_title": "CEO"}}, "job_title"),
        ({"lead": {"employees": 5}}, "lead_id"),
        (
            {"lead": {"lead_id": "x", "events": [{"type": "web_visit", "timestamp": "soon"}]}},
            "timestamp",
        ),
        ({"lead": {"lead_id": "x", "events": "many"}}, "events"),
        ({"leads": [{"lead_id": str(i)} for i in range(101)]}, "leads"),
        ({"leads": []}, "leads"),
        ({"lead": {"lead_id": "x"}, "top": 0}, "top"),
        ({"lead": {"lead_id": "x"}, "as_of": "yesterday-ish"}, "as_of"),
    ],
)
def test_client_mistakes_get_a_4xx_naming_the_field(
    client: TestClient, body: dict, field: str
) -> None:
    response = client.post("/score", json=body)
    assert response.status_code == 400, response.text
    locations = [err["loc"] for err in response.json()["detail"]]
    assert any(field in map(str, loc) for loc in locations), locations


def test_leads_shaped_for_another_source_get_a_400_naming_the_unknown_fields(
    client: TestClient, demo_config: Config
) -> None:
    # given a lead of the maven-crm source (its id and fields) posted to the demo's model
    maven = load_config(REPO / "configs" / "maven-crm.yaml")
    lead = {maven.leads.id: "OPP-1"} | {
        f.column: "1" for f in (*maven.features.fit, *maven.features.intent)
    }
    known = {demo_config.leads.id} | {
        f.column for f in (*demo_config.features.fit, *demo_config.features.intent)
    }
    for body, where in (({"lead": lead}, ["lead"]), ({"leads": [lead]}, ["leads", 0])):
        response = client.post("/score", json=body)
        # then a 400 names every field the demo's leads do not have, and the missing id
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        unknown = {e["loc"][-1] for e in detail if e["type"] == "extra_forbidden"}
        assert unknown == set(lead) - known and "sector" in unknown
        assert all(e["loc"][:-1] == where for e in detail)
        assert [e["loc"][-1] for e in detail if e["type"] == "missing"] == ["lead_id"]


def test_a_value_below_the_configured_minimum_gets_a_400_naming_the_field(
    client: TestClient, service, service_module
) -> None:
    """Finding 12: a negative company size was scored without a word. The demo config says
    `min: 0`; the document says so too, so the schema refuses it (400), as text as well."""
    for value in (-5, "-5", "-0"):
        one = client.post("/score", json={"lead": {"lead_id": "a", "employees": value}})
        assert one.status_code == 400, one.text
        assert [p["loc"] for p in one.json()["detail"]] == [["lead", "employees"]]
    doc = client.get("/docs.json").json()
    employees = doc["components"]["schemas"]["Lead"]["properties"]["employees"]
    assert {"type": "number", "minimum": 0.0} in employees["anyOf"]
    # a lead that got past the schema (a direct call that skips it) meets the data checks: 422
    lead = service_module.Lead.model_construct(lead_id="a", employees=-5, events=[])
    direct = _run(service.score(lead=lead))
    assert isinstance(direct, JSONResponse) and direct.status_code == 422
    (problem,) = json.loads(direct.body)["detail"]
    assert problem["loc"] == ["lead", "employees"] and "below the minimum 0" in problem["msg"]


def test_malformed_or_ambiguous_bodies_get_a_4xx(client: TestClient) -> None:
    for content in (b'{"lead": {"lead_id": "x"', b"", b"[1, 2]", b"null"):
        response = client.post(
            "/score", content=content, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (content, response.text)
    both = {"lead": {"lead_id": "a"}, "leads": [{"lead_id": "b"}]}
    response = client.post("/score", json=both)
    assert response.status_code == 400 and "either `lead`" in response.text


def test_explain_false_skips_reasons(client: TestClient) -> None:
    response = client.post("/score", json={"lead": {"lead_id": "x"}, "explain": False})
    assert response.status_code == 200
    assert response.json()["scores"][0]["reasons"] is None


def test_health_and_readiness(client: TestClient) -> None:
    # /metrics needs the server's Prometheus set-up: tests/scoring/test_service_server.py
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_bearer_token_middleware() -> None:
    # (one service app per process: Prometheus refuses a second one; the real server in
    # test_service_server.py runs with a token end to end)
    async def app(scope, receive, send) -> None:
        await JSONResponse({"ok": True})(scope, receive, send)

    guarded = TestClient(BearerAuth(app, token="s3cret"))  # no lifespan: a bare ASGI app
    assert guarded.post("/score", json={}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert guarded.post("/score", json={}, headers=wrong).status_code == 401
    right = {"Authorization": "Bearer s3cret"}
    assert guarded.post("/score", json={}, headers=right).status_code == 200
    for path in ("/readyz", "/livez", "/metrics", "/docs.json"):  # probes stay open
        assert guarded.get(path).status_code == 200
    open_app = TestClient(BearerAuth(app, token=""))  # no token: no auth
    assert open_app.post("/score", json={}).status_code == 200


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_lead = st.fixed_dictionaries(
    {"lead_id": st.one_of(st.text(max_size=5), st.integers(), st.none())},
    optional={name: _json for name in [*FIELDS, "lead_source", "events", "other"]},
)
_body = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"lead": _lead},
        optional={
            "as_of": _json,
            "explain": _json,
            "top": _json,
            "leads": st.lists(_lead, max_size=2),
        },
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_body)
def test_fuzzed_bodies_never_get_a_5xx(client: TestClient, body: Any) -> None:
    response = client.post("/score", json=body)
    assert response.status_code in (200, 400, 422), (body, response.text)


# ---------------------------------------------------------------- one source, one model


def test_another_sources_model_is_stored_and_served_under_its_own_name(
    bento_home: Path, trained: TrainResult, mlflow_store: str, tmp_path: Path, monkeypatch
) -> None:
    import bentoml

    from scoring.serving.store import import_champion, import_model, model_version, stored_config

    # given a second source's champion in the MLflow registry
    _, version = tracking.log_training(as_source(trained, "demo-copy"), {}, register=True)
    client = registry.setup()
    registry.promote(client, version, source="demo-copy")
    demo_latest = bentoml.models.get("lead-scoring:latest").tag
    # when it is imported into the BentoML store
    stored = import_champion("demo-copy")
    # then it is stored under its source's model name, and the demo's newest model is unchanged
    assert stored.tag.name == "lead-scoring-demo-copy"
    assert model_version(stored) == "lead-scoring-demo-copy v1"
    assert stored_config(stored).name == "demo-copy"
    assert bentoml.models.get("lead-scoring:latest").tag == demo_latest
    # and an export of that version is the same stored model, not a new `lead-scoring`
    export = registry.export(client, version, tmp_path / "models", source="demo-copy")
    assert import_model(str(export)).tag == stored.tag
    # and `leadscore serve` hands the service the source's model, and refuses to cross sources
    started: list[dict[str, str]] = []
    monkeypatch.setattr(os, "execve", lambda path, cmd, env: started.append(env))
    runner = CliRunner()
    done = runner.invoke(app, ["serve", "--source", "demo-copy"])
    assert done.exit_code == 0, done.output
    assert f"serving lead-scoring-demo-copy v1 (BentoML model {stored.tag})" in done.output
    offline = runner.invoke(app, ["serve", "--no-import", "--source", "demo-copy"])
    assert offline.exit_code == 0, offline.output
    assert [env["LEADSCORE_BENTO_MODEL"] for env in started] == [str(stored.tag)] * 2
    crossed = runner.invoke(app, ["serve", "--source", "demo", "--from", str(export)])
    assert crossed.exit_code == 2
    assert "was trained on source 'demo-copy', not 'demo'" in crossed.output
    missing = runner.invoke(app, ["serve", "--no-import", "--source", "uci-bank"])
    assert missing.exit_code == 2 and "no lead-scoring-uci-bank:latest" in missing.output
    unpromoted = runner.invoke(app, ["serve", "--source", "uci-bank"])
    assert unpromoted.exit_code == 3  # not found
    assert "`leadscore promote latest --source uci-bank` makes one" in unpromoted.output
    assert len(started) == 2


def test_another_stores_version_1_is_not_taken_for_the_one_imported_before(
    bento_home: Path, trained: TrainResult, mlflow_store: str, tmp_path: Path, monkeypatch
) -> None:
    from scoring.serving.store import import_champion, import_model, model_version

    def champion_of_a_new_store() -> str:
        _, version = tracking.log_training(as_source(trained, "demo-clone"), {}, register=True)
        registry.promote(registry.setup(), version, source="demo-clone")
        return version

    # given version 1 imported from one checkout's MLflow store
    assert champion_of_a_new_store() == "1"
    first = import_champion("demo-clone")
    # when a second checkout (or `make clean`) trains its own version 1 in a new store
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "second")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'second' / 'mlflow.db'}")
    assert champion_of_a_new_store() == "1"
    second = import_champion("demo-clone")
    # then its model is imported, not the first store's served in its place
    assert second.tag != first.tag
    assert second.info.labels["run_id"] != first.info.labels["run_id"]
    assert model_version(second) == model_version(first) == "lead-scoring-demo-clone v1"
    # and each version is still imported once, from the registry or from its export
    assert import_champion("demo-clone").tag == second.tag
    export = registry.export(registry.setup(), "1", tmp_path / "models", source="demo-clone")
    assert import_model(str(export)).tag == second.tag
