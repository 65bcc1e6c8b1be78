"""Revenue-weighted vs unweighted training on the same folds, over several synthetic worlds:
ROC AUC, and share of won revenue captured in the top 20% of leads ranked by win probability
and by expected revenue; the logistic-regression baseline alongside.

    .venv/bin/python benchmarks/weighting.py [--leads 20000] [--seeds 7 11 23]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from scoring.config import load_config
from training.pipeline.dataset import load_training_set
from training.pipeline.evaluate import top_share
from training.pipeline.fit import fit_scorer
from training.pipeline.run import baseline_predictions
from training.synthetic import generate_world, write_world

REPO = Path(__file__).resolve().parents[1]


def compare(url: str) -> str:
    cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
    data = load_training_set(cfg, sa.create_engine(url))
    test = data.part("test")
    y = test.label.to_numpy()
    lr = baseline_predictions(cfg, data)["logistic_regression"]
    parts = [f"LR auc {roc_auc_score(y, lr):.3f}"]
    for weighting in ("revenue", "none"):
        training = cfg.training.model_copy(update={"weighting": weighting})
        scorer, _ = fit_scorer(cfg.model_copy(update={"training": training}), data)
        scores = scorer.score(test.features)
        value = test.amount.to_numpy(dtype=float, na_value=np.nan)
        value = np.where(np.isnan(value), scorer.deal_size.amount(test.features), value)
        p = scores["win_probability"].to_numpy()
        by_p = top_share(y, p, value, 0.2)[1]
        by_revenue = top_share(y, scores["expected_revenue"].to_numpy(), value, 0.2)[1]
        parts.append(
            f"{weighting}: auc {roc_auc_score(y, p):.3f} top20 revenue {by_p:.1%}"
            f" (by expected revenue {by_revenue:.1%})"
        )
    return " | ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            url = f"sqlite:///{Path(tmp) / f'seed{seed}.db'}"
            write_world(generate_world(args.leads, seed), sa.create_engine(url))
            print(f"seed {seed}: {compare(url)}", flush=True)


if __name__ == "__main__":
    main()
