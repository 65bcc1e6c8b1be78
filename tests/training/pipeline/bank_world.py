"""A small source shaped like a real lead export, for the tests of training on one: a yes/no
target, no revenue or opportunity amount, few wins (about 7% of 2,400 leads), an id-like column
(every value unique) and fields of every typed kind (numbers, a category written as a number, a
yes/no field with its own spellings, a date)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, load_config
from training.pipeline.run import TrainResult, run_training

BANK_CONFIG = """
name: bank
source: {{database: "sqlite:///{db}"}}
leads:
  table: leads
  id: lead_id
  created_at: created_at
  outcome: {{column: y, won: ["yes"], lost: ["no"]}}
{deal_value}
features:
  fit:
    - {{column: job, kind: categorical}}
    - {{column: age, kind: numeric}}
    - {{column: customer_ref, kind: categorical}}
    - {{column: branch, kind: categorical}}
  intent:
    - {{column: housing, kind: boolean, true_values: ["ja"], false_values: ["nein"]}}
    - {{column: previous, kind: numeric}}
    - {{column: last_contact, kind: timestamp}}
training:
  bootstrap: 100
  lightgbm: {{learning_rate: 0.1}}
"""

JOB_EFFECT = {
    "admin": 0.0,
    "blue-collar": -0.6,
    "technician": -0.2,
    "management": 0.4,
    "retired": 1.0,
    "student": 1.2,
}


def bank_leads(n: int = 2400, seed: int = 3) -> pd.DataFrame:
    """Leads as the export holds them: text, numbers, "ja"/"nein" and dates."""
    rng = np.random.default_rng(seed)
    job = rng.choice(list(JOB_EFFECT), n)
    previous = rng.poisson(0.6, n)
    housing = rng.random(n) < 0.5
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    days_before = rng.uniform(0, 120, n)
    z = (
        -2.6
        + np.vectorize(JOB_EFFECT.get)(job)
        + 0.5 * previous
        - 0.4 * housing
        - 0.01 * days_before
    )
    won = rng.random(n) < 1 / (1 + np.exp(-z))
    return pd.DataFrame(
        {
            "lead_id": [f"B{i:05d}" for i in range(n)],
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "job": job,
            "age": rng.integers(18, 90, n),
            "customer_ref": [f"C-{i:06d}" for i in rng.permutation(n)],
            "branch": rng.integers(1, 6, n).astype(str),
            "housing": np.where(housing, "ja", "nein"),
            "previous": previous,
            "last_contact": (created - pd.to_timedelta(days_before, unit="D")).strftime("%Y-%m-%d"),
            "y": np.where(won, "yes", "no"),
        }
    )


def bank_source(folder: Path, deal_value: float | None = None) -> tuple[Config, sa.Engine]:
    """The config and a SQLite database holding `bank_leads` under `folder`."""
    db = folder / "bank.db"
    value = f"  deal_value: {deal_value}" if deal_value is not None else ""
    (folder / "bank.yaml").write_text(BANK_CONFIG.format(db=db, deal_value=value))
    cfg = load_config(folder / "bank.yaml")
    engine = sa.create_engine(cfg.source.database)
    bank_leads().to_sql("leads", engine, index=False, if_exists="replace")
    return cfg, engine


def train_bank(folder: Path, deal_value: float | None = None) -> TrainResult:
    """The whole pipeline on the bank source (under a second on this size)."""
    return run_training(*bank_source(folder, deal_value))
