"""Bodies made jobs in a parse process: the features the server process would compute, client
errors that cross the process boundary intact, load shedding before a body queues, and a pool
that recovers when one of its processes dies. (Every body goes to the process here; in service
a small one is parsed where it arrived.)"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd
import psutil
import pytest

from scoring.config import Config
from scoring.serving import parse, schema
from scoring.serving.batcher import Overloaded
from scoring.serving.jobs import Job, Leads, RejectedLeads, prepare
from scoring.serving.parse import PACED_BYTES, BodyParser, Invalid, validate

AS_OF = "2025-06-30T12:00:00Z"
LEAD = {
    "lead_id": 42,
    "title": "VP Sales",
    "employees": 1200,
    "events": [{"type": "pricing_page", "timestamp": "2025-06-29T10:00:00+02:00"}] * 3,
}


@pytest.fixture(scope="module")
def parser(demo_config: Config) -> Iterator[BodyParser]:
    parser = BodyParser(demo_config, processes=1)
    parser.inline_bytes = 0
    parser.warm()
    yield parser
    assert parser.pool is not None
    parser.pool.shutdown()


def _job(parser: BodyParser, body: object):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return asyncio.run(parser.job(raw, time.monotonic()))


def test_a_body_becomes_the_job_the_server_process_would_make(
    parser: BodyParser, demo_config: Config
) -> None:
    body = {"leads": [LEAD, {"lead_id": "bare"}], "as_of": AS_OF, "top": 5}
    job = _job(parser, body)
    (here,) = prepare(demo_config, [validate(schema.request_model(demo_config), json.dumps(body))])
    assert job.lead_ids == ["42", "bare"] == here.lead_ids
    assert (job.as_of, job.top, job.explain) == (here.as_of, 5, True)
    assert job.features.keys() == here.features.keys()
    for name, values in job.features.items():
        pd.testing.assert_series_equal(pd.Series(values), pd.Series(here.features[name]))
    assert job.features["pricing_page_7d"][0] == 3


def test_an_invalid_body_is_refused_naming_the_field(parser: BodyParser) -> None:
    with pytest.raises(Invalid) as wrong:
        _job(parser, {"leads": [{"lead_id": "a", "employees": "many"}]})
    assert [p["loc"] for p in wrong.value.problems] == [("leads", 0, "employees")]
    with pytest.raises(Invalid) as broken:
        _job(parser, b'{"lead": {"lead_id": "a"')
    assert broken.value.problems[0]["type"] == "json_invalid"


def test_leads_the_data_checks_refuse_are_named_as_sent(demo_config: Config) -> None:
    lead = schema.lead_model(demo_config).model_construct  # past the schema, as a direct call
    with pytest.raises(RejectedLeads) as one:
        prepare(demo_config, [Leads([lead(lead_id="a", employees=-5, events=[])], one=True)])
    assert [p["loc"] for p in one.value.problems] == [["lead", "employees"]]
    assert "below the minimum 0" in one.value.problems[0]["msg"]
    many = [lead(lead_id="ok", events=[]), lead(lead_id="b", annual_revenue=-1, events=[])]
    with pytest.raises(RejectedLeads) as two:
        prepare(demo_config, [Leads([lead(lead_id="c", events=[])]), Leads(many)])
    assert [p["loc"] for p in two.value.problems] == [["leads", 1, "annual_revenue"]]
    crossed = pickle.loads(pickle.dumps(two.value))  # from a parse process to the server's
    assert crossed.problems == two.value.problems


def test_a_body_that_could_not_be_parsed_in_time_gets_its_503_before_it_queues(
    demo_config: Config,
) -> None:
    parser = BodyParser(demo_config, processes=1)
    parser.inline_bytes = 0
    parser.pace = 1e-6  # one second per MB
    parser.queued = 3_000_000  # three seconds of bodies ahead: over the 2 s budget
    with pytest.raises(Overloaded, match="3000 ms of bodies ahead"):
        _job(parser, {"lead": {"lead_id": "a"}})
    assert parser.pool is None and parser.queued == 3_000_000  # never handed to a process
    parser.queued = 0  # idle: a body is parsed whatever the pace says it will take
    parser.pace = 1.0
    assert _job(parser, {"lead": {"lead_id": "a"}}).lead_ids == ["a"]
    assert parser.pool is not None
    parser.pool.shutdown()


def test_the_pace_is_measured_on_large_bodies(parser: BodyParser) -> None:
    parser.pace = 0.0
    _job(parser, {"lead": {"lead_id": "small"}})
    assert parser.pace == 0.0
    events = [{"type": "web_visit", "timestamp": "2025-06-01T09:30:00Z"}] * 1000
    large = json.dumps({"leads": [{"lead_id": str(i), "events": events} for i in range(5)]})
    assert len(large) > PACED_BYTES
    _job(parser, large.encode())
    assert 1e-9 < parser.pace < 1e-4 and parser.queued == 0


def test_a_small_body_is_validated_where_it_arrived(demo_config: Config) -> None:
    parser = BodyParser(demo_config, processes=1)
    leads = _job(parser, {"lead": LEAD, "top": 2})
    assert isinstance(leads, Leads) and leads.one and leads.top == 2
    assert leads.leads[0].lead_id == "42"  # type: ignore[attr-defined]
    with pytest.raises(Invalid):
        _job(parser, {"lead": {"lead_id": "a", "employees": "many"}})
    assert parser.pool is None


def test_a_parse_process_that_dies_is_replaced(demo_config: Config) -> None:
    parser = BodyParser(demo_config, processes=1)
    parser.inline_bytes = 0
    parser.warm()
    assert parser.pool is not None
    (pid,) = parser.pool._processes  # the pool's own record of its processes
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10)
    time.sleep(0.5)  # the pool's manager thread notices the process is gone
    body = json.dumps({"lead": {"lead_id": "a"}}).encode()

    async def twice() -> list:
        with pytest.raises(Overloaded, match="a parse process ended"):
            await parser.job(body, time.monotonic())
        assert parser.restart is not None
        await parser.restart  # new processes, started at once
        return (await parser.job(body, time.monotonic())).lead_ids

    assert asyncio.run(twice()) == ["a"]
    assert parser.pool is not None
    parser.pool.shutdown()


def _parse_processes() -> set[int]:
    """The live parse processes of this test process, whichever pool they belong to."""
    return {
        child.pid
        for child in psutil.Process().children()
        if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline())
    }


def test_a_process_dying_under_concurrent_requests_leaves_one_pool(
    demo_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[ProcessPoolExecutor] = []

    class Recorded(ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(parse, "ProcessPoolExecutor", Recorded)
    before = _parse_processes()  # the module's parser, if it ran
    parser = BodyParser(demo_config, processes=2)
    parser.inline_bytes = 0
    parser.warm()
    (broken,) = made
    events = [{"type": "web_visit", "timestamp": "2025-06-01T09:30:00Z"}] * 1000
    large = json.dumps({"leads": [{"lead_id": str(i), "events": events} for i in range(20)]})

    async def killed_under(requests: int) -> list:
        pending = asyncio.gather(
            *(parser.job(large.encode(), time.monotonic()) for _ in range(requests)),
            return_exceptions=True,
        )
        await asyncio.sleep(0.2)  # all handed to the pool, two of them being parsed
        os.kill(next(iter(broken._processes)), signal.SIGKILL)
        answers = await pending
        assert parser.restart is not None
        await parser.restart
        return answers

    answers = asyncio.run(killed_under(6))
    # the requests the dead process held, or that queued behind them, get a 503; one that a
    # quick process finished before the kill has its job
    assert any(isinstance(a, Overloaded) for a in answers)
    assert all(isinstance(a, (Overloaded, Job)) for a in answers), answers
    assert len(made) == 2 and parser.pool is made[1]  # one new pool, whoever saw the death
    fresh = set(parser.pool._processes)
    deadline = time.monotonic() + 5
    while _parse_processes() - before != fresh and time.monotonic() < deadline:
        time.sleep(0.1)  # the broken pool's processes being ended
    assert len(fresh) == 2 and _parse_processes() - before == fresh
    body = json.dumps({"lead": {"lead_id": "a"}}).encode()
    assert asyncio.run(parser.job(body, time.monotonic())).lead_ids == ["a"]
    assert set(parser.pool._processes) == fresh and len(made) == 2
    parser.pool.shutdown()
