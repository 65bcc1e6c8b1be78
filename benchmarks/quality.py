"""Model quality: the project's training recipe against three peer pipelines on the same repeated
splits of three datasets, as mean, standard deviation and min-max over the splits of ROC AUC,
PR AUC (average precision), log loss and ECE on each split's test rows.

    .venv/bin/python benchmarks/quality.py [--datasets demo,bank,maven] [--demo-leads 20000]
        [--demo-seeds 3] [--bank-seeds 5] [--bank-rows N] [--json PATH]
    .venv/bin/python benchmarks/quality.py --export CONFIG [--export CONFIG ...]
        [--export-split auto|time|stratified] [--export-seeds 5] [--datasets ...]

Models, all given the same rows of a split:
- project: `fit_scorer(cfg, split)` on the split's train / calibration / validation folds (the
  recipe as `leadscore train` runs it: revenue-weighted when the source has amounts), scored
  with `LeadScorer.score(...)["win_probability"]`;
- logistic_regression: the project's one-hot logistic-regression baseline;
- lightgbm_defaults: `LGBMClassifier` with its defaults (categorical columns as pandas
  categories fixed from the training rows, unknown -> NaN), no tuning, no early stopping;
- naive_bayes: the Odoo-style frequency-table naive Bayes baseline.
The peers fit unweighted on every non-test row of the split (train + calibration + validation).

Datasets and splits: benchmarks/quality_splits.py (demo, bank, maven, and your own export
with `--export`).

Log loss is on probabilities clipped to [1e-6, 1 - 1e-6]; ECE is `expected_calibration_error`
(10 quantile bins, equal predictions in one bin); sd is the sample standard deviation over the
splits (0 with one split). ECE has a noise floor that depends on the test size: the verdict
gives the ECE a perfectly calibrated model would show with the project's own predictions on the
same test rows (outcomes drawn from those probabilities, mean of 200 draws). About 0.05 on 200
test leads at the bank's base rate, 0.02 on 1,000, 0.007 on 9,000: ECE < 0.03 can only be shown
on a test fold of about 600 leads or more.
The gap to the best peer comes with a 95% interval from the test leads' sampling alone (each
split's test rows resampled, the same rows for both models; the models are not refitted, so the
spread of refits over seeds and windows comes on top): where it is wider than the 0.005 the
criteria ask for, the test rows cannot tell such a gap apart from none. And the best peer is
picked after the fact among three, which lifts it above chance by itself: the verdict gives the
best peer's mean ROC AUC on shuffled test outcomes (the predictions kept, so no signal), and how
often a model at 0.500 would trail that by more than 0.005.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from quality_splits import DATASETS, USABLE, Loader, Split, export_splits
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from scoring.monitoring.calibration import expected_calibration_error
from training.pipeline.baselines import FrequencyNaiveBayes, logistic_baseline
from training.pipeline.boosters import categorical
from training.pipeline.dataset import FOLDS, TrainingSet
from training.pipeline.evaluate import bootstrap_auc
from training.pipeline.fit import fit_scorer

MODELS = ("project", "logistic_regression", "lightgbm_defaults", "naive_bayes")
PEERS = MODELS[1:]
METRICS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "log_loss": "log loss", "ece": "ECE"}
ECE_TARGET = 0.03
FLOOR_DRAWS = 200
GAP_DRAWS = 1000
SHUFFLES = 1000
MARGIN = 0.005  # the "never more than 0.005 below the best peer"
FLOOR_NOTE = f"; at or above {ECE_TARGET}: too few test leads to show ECE < {ECE_TARGET}"


@dataclass(frozen=True)
class Outcome:
    split: Split
    metrics: dict[str, dict[str, float]]  # model -> metric -> value on the split's test rows
    seconds: float
    y: np.ndarray  # the split's test outcomes
    predictions: dict[str, np.ndarray]  # model -> win probability of each test lead


def as_categories(frame: pd.DataFrame, reference: pd.DataFrame, cats: set[str]) -> pd.DataFrame:
    """Categorical columns as pandas categories of the values in `reference` (others -> NaN)."""
    out = frame.copy()
    for name in cats & set(frame.columns):
        levels = sorted(reference[name].dropna().unique())
        known = frame[name].where(frame[name].isin(levels))
        out[name] = pd.Categorical(known, categories=levels)
    return out


def lightgbm_defaults(fit: TrainingSet, test: TrainingSet, cats: set[str], seed: int) -> np.ndarray:
    model = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2)
    model.fit(as_categories(fit.features, fit.features, cats), fit.label)
    return model.predict_proba(as_categories(test.features, fit.features, cats))[:, 1]


def peer_predictions(split: Split) -> dict[str, np.ndarray]:
    fit, test = split.data.part(*USABLE), split.data.part("test")
    cats = categorical(split.cfg)
    logreg = logistic_baseline(fit.features, fit.label, cats, split.seed)
    x_test = test.features.astype({c: object for c in test.features.columns if c in cats})
    bayes = FrequencyNaiveBayes().fit(fit.features, fit.label, cats)
    return {
        "logistic_regression": logreg.predict_proba(x_test)[:, 1],
        "lightgbm_defaults": lightgbm_defaults(fit, test, cats, split.seed),
        "naive_bayes": bayes.predict_proba(test.features),
    }


def project_prediction(split: Split) -> np.ndarray:
    scorer, _ = fit_scorer(split.cfg, split.data)
    scores = scorer.score(split.data.part("test").features)
    return scores["win_probability"].to_numpy(dtype=float)


def quality(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "ece": float(expected_calibration_error(y, p)),
    }


def ece_floor(p: np.ndarray, seed: int) -> float:
    """Mean ECE of a perfectly calibrated model predicting `p`: outcomes drawn from `p`."""
    rng = np.random.default_rng(seed)
    draws = rng.random((FLOOR_DRAWS, len(p))) < p
    return float(np.mean([expected_calibration_error(y.astype(float), p) for y in draws]))


def gap_interval(outcomes: list[Outcome], peer: str) -> tuple[float, float]:
    """95% interval of the mean gap over the splits, from the test leads' sampling alone: the
    gate's paired resamples (`bootstrap_auc`) of each split's test rows."""
    gaps = []
    for o in outcomes:
        both = {m: o.predictions[m] for m in ("project", peer)}
        draws = bootstrap_auc(o.y, both, GAP_DRAWS, o.split.seed)
        gaps.append(draws["project"] - draws[peer])
    kept = min(len(g) for g in gaps)  # resamples with one class only are skipped
    low, high = np.percentile(np.mean([g[:kept] for g in gaps], axis=0), [2.5, 97.5])
    return float(low), float(high)


def shuffled_peer_aucs(outcome: Outcome, rng: np.random.Generator) -> np.ndarray:
    """Each peer's ROC AUC against `SHUFFLES` shuffles of the split's test outcomes (the
    predictions kept): the AUCs a peer shows where its inputs hold no signal. Shape (shuffles,
    peers)."""
    y = outcome.y.astype(bool)
    n_won, n = int(y.sum()), len(y)
    ranks = np.column_stack([pd.Series(outcome.predictions[m]).rank() for m in PEERS])
    won = np.array([rng.permutation(y) for _ in range(SHUFFLES)])
    # rank_auc's Mann-Whitney sum for every shuffle in one product: a shuffle keeps the ranks
    return (won @ ranks - n_won * (n_won + 1) / 2) / (n_won * (n - n_won))


def chance_best_peer(outcomes: list[Outcome]) -> np.ndarray:
    """The best peer's mean ROC AUC over the splits on each shuffle of the test outcomes."""
    rng = np.random.default_rng(outcomes[0].split.seed)
    return np.mean([shuffled_peer_aucs(o, rng) for o in outcomes], axis=0).max(axis=1)


def evaluate_split(split: Split) -> Outcome:
    began = time.perf_counter()
    predictions = {"project": project_prediction(split)} | peer_predictions(split)
    y = split.data.part("test").label.to_numpy()
    metrics = {model: quality(y, predictions[model]) for model in MODELS}
    metrics["project"]["ece_floor"] = ece_floor(predictions["project"], split.seed)
    return Outcome(split, metrics, time.perf_counter() - began, y, predictions)


def fold_rows(data: TrainingSet) -> str:
    counts = data.fold.value_counts()
    return "/".join(f"{int(counts.get(fold, 0)):,}" for fold in FOLDS)


def split_line(outcome: Outcome) -> str:
    aucs = "  ".join(f"{m} {outcome.metrics[m]['roc_auc']:.3f}" for m in MODELS)
    rows = fold_rows(outcome.split.data)
    return f"  {outcome.split.name:<11} rows {rows:<28} ROC AUC {aucs}  ({outcome.seconds:.1f} s)"


def values(outcomes: list[Outcome], model: str, metric: str) -> np.ndarray:
    return np.array([o.metrics[model][metric] for o in outcomes])


def cell(v: np.ndarray) -> str:
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.3f}±{sd:.3f} [{v.min():.3f}-{v.max():.3f}]"


def table(outcomes: list[Outcome]) -> list[str]:
    header = f"  {'model':<20}" + "".join(f"{label:<27}" for label in METRICS.values())
    lines = [header.rstrip()]
    for model in MODELS:
        cells = "".join(f"{cell(values(outcomes, model, m)):<27}" for m in METRICS)
        lines.append(f"  {model:<20}{cells}".rstrip())
    return lines


def verdict(outcomes: list[Outcome]) -> list[str]:
    auc = {m: values(outcomes, m, "roc_auc") for m in MODELS}
    best = max(PEERS, key=lambda m: auc[m].mean())
    paired = " ".join(f"{d:+.3f}" for d in auc["project"] - auc[best])
    low, high = gap_interval(outcomes, best)
    chance = chance_best_peer(outcomes)
    ece = values(outcomes, "project", "ece")
    floor = values(outcomes, "project", "ece_floor").mean()
    ok = "yes" if ece.mean() < ECE_TARGET else "NO"
    every = "every split" if (ece < ECE_TARGET).all() else f"{(ece < ECE_TARGET).sum()} splits"
    return [
        f"  project - best peer ROC AUC: {auc['project'].mean() - auc[best].mean():+.3f} "
        f"(best peer: {best} {auc[best].mean():.3f}; per split {paired})",
        f"  95% interval of that gap from the test leads' sampling alone: [{low:+.3f}, "
        f"{high:+.3f}] (paired bootstrap of the test rows, {GAP_DRAWS} draws a split)",
        f"  best peer on shuffled test outcomes (no signal): mean {chance.mean():.3f}, "
        f"95th percentile {np.percentile(chance, 95):.3f}; a model at 0.500 trails it by more "
        f"than {MARGIN} in {(chance > 0.5 + MARGIN).mean():.0%} of {SHUFFLES} shuffles",
        f"  project ECE < {ECE_TARGET}: {ok} (mean {ece.mean():.4f}, max {ece.max():.4f}; "
        f"below on {every} of {len(ece)})",
        f"  ECE noise floor at this test size: {floor:.4f} (a perfectly calibrated model with "
        f"the project's predictions){FLOOR_NOTE if floor >= ECE_TARGET else ''}",
    ]


def run_dataset(
    name: str, load: Loader, needs: Path | None, args: argparse.Namespace, tmp: Path
) -> dict | None:
    if needs is not None and not needs.exists():
        print(f"\n== {name}: skipped, {needs} is absent")
        return None
    began = time.perf_counter()
    kind, splits = load(args, tmp)
    print(f"\n== {name}: {kind}", flush=True)
    print(f"  {'split':<11} rows train/calibration/validation/test", flush=True)
    outcomes = []
    for split in splits:
        outcomes.append(evaluate_split(split))
        print(split_line(outcomes[-1]), flush=True)
    seconds = time.perf_counter() - began
    print("\n".join([*table(outcomes), *verdict(outcomes)]))
    print(f"  wall time {seconds:.1f} s (data load included)", flush=True)
    return {"kind": kind, "seconds": seconds, "splits": [as_json(o) for o in outcomes]}


def as_json(outcome: Outcome) -> dict:
    counts = outcome.split.data.fold.value_counts()
    return {
        "split": outcome.split.name,
        "seed": outcome.split.seed,
        "rows": {fold: int(counts.get(fold, 0)) for fold in FOLDS},
        "seconds": outcome.seconds,
        "metrics": outcome.metrics,
    }


def chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, tuple]:
    """Dataset name -> (loader, what it needs): the built-in ones asked for (all three unless
    only exports are), then each export."""
    default = "" if args.export else ",".join(DATASETS)
    names = [n.strip() for n in (args.datasets or default).split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose among {sorted(DATASETS)}")
    datasets = {}  # exports first: one that cannot be split stops before the long built-ins
    for path in args.export or []:
        if not path.is_file():
            parser.error(f"--export {path}: no such config file")
        datasets[f"export {path}"] = (functools.partial(export_splits, path), None)
    return datasets | {name: DATASETS[name] for name in names}


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a count of 1 or more")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help="among demo,bank,maven (default: all three)")
    parser.add_argument("--demo-leads", type=int, default=20_000)
    parser.add_argument("--demo-seeds", type=positive, default=3)
    parser.add_argument("--bank-seeds", type=positive, default=5)
    parser.add_argument(
        "--bank-rows", type=positive, help="draw this many bank leads per split (a small export)"
    )
    parser.add_argument(
        "--export",
        type=Path,
        action="append",
        metavar="CONFIG",
        help="your own export, by the config that imports it (repeat for several)",
    )
    parser.add_argument("--export-split", choices=("auto", "time", "stratified"), default="auto")
    parser.add_argument(
        "--export-seeds", type=positive, default=5, help="stratified splits of an export"
    )
    parser.add_argument("--json", type=Path, help="also write every per-split number here")
    args = parser.parse_args()
    datasets = chosen(parser, args)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quality-bench-") as tmp:
        report = {
            name: run_dataset(name, load, needs, args, Path(tmp))
            for name, (load, needs) in datasets.items()
        }
    print(f"\ntotal wall time {time.perf_counter() - began:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in report.items() if v}, indent=2))


if __name__ == "__main__":
    main()
