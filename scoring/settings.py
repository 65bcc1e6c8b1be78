"""Every setting the runtime takes from the environment, in one frozen object (docs/settings.md).

`settings()` reads the environment once, when a command or the service starts; nothing else in
the project reads `LEADSCORE_*` variables. A value that does not parse stops the start with an
error naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

REPO = Path(__file__).resolve().parents[1]


class Settings(BaseModel):
    """Runtime settings; each field is read from the variable in its alias."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    threads: int = Field(
        0,
        ge=0,
        alias="LEADSCORE_THREADS",
        description="LightGBM threads for a table of leads and for training (0: every core); "
        "batch rescoring sets 1 in its worker processes",
    )
    bento_model: str | None = Field(
        None,
        alias="LEADSCORE_BENTO_MODEL",
        description="the BentoML model the service loads (default: the newest `lead-scoring`; "
        "`leadscore serve` sets it)",
    )
    challenger_model: str | None = Field(
        None,
        alias="LEADSCORE_CHALLENGER_MODEL",
        description="the BentoML model the service scores in shadow after each /score (the "
        "source's challenger; `leadscore serve` sets it when the registry has one); unset: none",
    )
    api_token: SecretStr | None = Field(
        None,
        alias="LEADSCORE_API_TOKEN",
        description="when set, every POST needs `Authorization: Bearer <token>`",
    )
    lead_db: SecretStr | None = Field(
        None,
        alias="LEADSCORE_LEAD_DB",
        description="SQLAlchemy URL of the lead database the service stores /feedback in (default: "
        "the served model's config's source.database, its ${VAR} read as the service starts)",
    )
    sla_refresh_seconds: float = Field(
        60,
        ge=0,
        alias="LEADSCORE_SLA_REFRESH_SECONDS",
        description="the service recomputes the SLA metrics of /metrics from LEADSCORE_LEAD_DB "
        "this often, and soon after a /feedback write (never sooner than ten times the last "
        "computation took); 0: no SLA metrics",
    )
    config: Path = Field(
        REPO / "configs" / "demo.yaml",
        alias="LEADSCORE_CONFIG",
        description="config the service's request schema comes from when no model is stored",
    )
    port: int = Field(
        3000, gt=0, lt=65536, alias="LEADSCORE_PORT", description="`bentoml serve` port"
    )
    max_leads: int = Field(100, gt=0, alias="LEADSCORE_MAX_LEADS", description="leads a request")
    max_events: int = Field(1000, gt=0, alias="LEADSCORE_MAX_EVENTS", description="events a lead")
    max_batch_size: int = Field(
        256, gt=0, alias="LEADSCORE_MAX_BATCH_SIZE", description="leads the service scores at once"
    )
    max_latency_ms: float = Field(
        2000,
        gt=0,
        alias="LEADSCORE_MAX_LATENCY_MS",
        description="a request that cannot be parsed, or has not begun to be scored, this long "
        "after its body arrived gets a 503 (load shedding)",
    )
    max_concurrency: int = Field(
        1024,
        ge=10,
        alias="LEADSCORE_MAX_CONCURRENCY",
        description="requests in progress; BentoML answers 503 beyond, and /readyz says 503 "
        "from 90% of it (send traffic elsewhere)",
    )
    parse_processes: int = Field(
        1,
        gt=0,
        alias="LEADSCORE_PARSE_PROCESSES",
        description="processes that validate request bodies of 16 KB or more and compute their "
        "features, beside the one that serves and scores",
    )
    max_body_bytes: int = Field(
        16 * 2**20,
        gt=0,
        alias="LEADSCORE_MAX_BODY_BYTES",
        description="a longer request body gets a 413, unread when Content-Length says so (a "
        "request of 100 leads x 1,000 events is about 6 MB)",
    )
    body_seconds: float = Field(
        10,
        gt=0,
        alias="LEADSCORE_BODY_SECONDS",
        description="a body not fully arrived by then gets a 408 and the connection is closed",
    )
    max_bodies_per_client: int = Field(
        32,
        gt=0,
        alias="LEADSCORE_MAX_BODIES_PER_CLIENT",
        description="bodies arriving at once from one client address; one more gets a 429",
    )
    sqlite_busy_seconds: float = Field(
        120,
        gt=0,
        alias="LEADSCORE_SQLITE_BUSY_SECONDS",
        description="how long rescoring waits for a SQLite file another writer holds before it "
        "stops (exit 4; a rerun resumes)",
    )

    tune_trials: int = Field(
        12,
        ge=0,
        le=500,
        alias="LEADSCORE_TUNE_TRIALS",
        description="booster-search trials per booster when a config does not set "
        "`training.tune_trials` (quick runs; the test suite sets 0)",
    )
    debug: bool = Field(
        False,
        alias="LEADSCORE_DEBUG",
        description="a failed `leadscore` command prints its traceback under its one-line "
        "error (as `leadscore --debug` does)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        names = {field.alias for field in cls.model_fields.values()}
        values = {name: env[name] for name in names if env.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"invalid environment setting: {problems}") from None

    def token(self) -> str:
        return self.api_token.get_secret_value() if self.api_token else ""


def variable(field: str) -> str:
    """The environment variable of a setting, for a process that sets it for its children."""
    alias = Settings.model_fields[field].alias
    assert alias is not None
    return alias


@cache
def settings() -> Settings:
    """The settings of this process, read from the environment at first use."""
    return Settings.from_env()
