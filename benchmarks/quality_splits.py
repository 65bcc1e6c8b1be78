"""The datasets and repeated splits of benchmarks/quality.py.

Datasets, each loaded once with `load_checked` (leak suspects dropped; the config it returns is
the one trained on):
- demo: a synthetic world per seed (`--demo-leads` leads); one time split per seed, the world's
  own test fold (the last 20% of labelled leads by creation time);
- bank: UCI bank marketing, imported from ../shared (configs/uci-bank.yaml, `duration` dropped as
  a leak); no dates, so `--bank-seeds` stratified random splits, 20% test. `--bank-rows N`
  stands in for a small export: each split first draws its own stratified N leads (seeded by the
  split), then splits them;
- maven: the Maven CRM export in ../shared (configs/maven-crm.yaml); three rolling-origin time
  splits: test = the labelled leads in [60%, 73%), [73%, 86%), [86%, 100%) of creation order,
  trained on everything before the window (the rows after it are left out). Its features carry
  no signal (the project's gate refuses it): every model should sit near 0.5 there;
- an export of yours (`--export CONFIG`, the config `leadscore init` drafts and you review;
  with only exports given, the three above are left out unless `--datasets` names them): its
  files imported into a scratch SQLite file (a config without files is read from its own
  database, read only); with leads in time order (`leads.created_at` or `leads.order_by`) the
  rolling-origin time splits above, else `--export-seeds` stratified random splits, 20% test;
  `--export-split` forces one or the other.

How a split is made: its test rows get the test fold; the rows the models may use are cut into
train / calibration / validation by the config's `training.split` shares renormalised over the
first three (0.6/0.1/0.1 -> 0.75/0.125/0.125), in creation order for time splits and
stratified-random (seeded) for stratified ones. Creation order is the training set's own
`rank` (the order its folds follow); for the demo the split is the world's own folds. The
split's order is also the `rank` the recipe's cross-fitting blocks follow: creation for time
splits, the seeded random order for stratified ones. Each split has a seed (7, 11, 15, ...) given to
every model and to `training.seed`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError, load_config
from scoring.data.files import import_files
from training.pipeline.dataset import FOLDS, TrainingSet, load_checked, stratified_rank
from training.pipeline.run import check_folds
from training.synthetic import generate_world, write_world

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEADSCORE_SHARED", REPO.parent / "shared"))
USABLE = ("train", "calibration", "validation")
TEST_SHARE = 0.2
ROLLING_WINDOWS = ((0.60, 0.73), (0.73, 0.86), (0.86, 1.0))
ROLLING_KIND = "rolling-origin time splits in creation order"


@dataclass(frozen=True)
class Split:
    name: str
    cfg: Config  # the config trained on, `training.seed` set to the split's seed
    data: TrainingSet  # folds reassigned; rows after a time split's test window left out
    seed: int


def split_seeds(n: int) -> list[int]:
    return [7 + 4 * i for i in range(n)]


def seeded(cfg: Config, seed: int) -> Config:
    return cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": seed})})


def with_folds(
    cfg: Config, data: TrainingSet, rank: np.ndarray, window: tuple[float, float], timed: bool
) -> TrainingSet:
    """Test = rows ranked in `window`; rows before it cut into train / calibration / validation
    by the config's first three shares, renormalised; rows after it left out."""
    lo, hi = window
    shares = np.asarray(cfg.training.split[:3])
    cuts = np.cumsum(shares / shares.sum())[:-1]
    inner = np.asarray(USABLE)[np.searchsorted(cuts, rank / lo, side="right")]
    test = (rank >= lo) & (rank < hi)
    fold = np.where(test, "test", np.where(rank < lo, inner, "after"))
    return reordered(data, fold, rank, timed).part(*FOLDS)


def reordered(data: TrainingSet, fold: np.ndarray, rank: np.ndarray, timed: bool) -> TrainingSet:
    """`data` with the split's folds and its order (which the recipe's cross-fitting blocks
    follow, chaining forward when `timed`): else a stratified split would be cut into blocks
    in the loaded order (the bank file's time order)."""
    index = data.fold.index
    return dataclasses.replace(
        data, fold=pd.Series(fold, index=index), rank=pd.Series(rank, index=index), timed=timed
    )


def demo_splits(args: argparse.Namespace, tmp: Path) -> tuple[str, list[Split]]:
    splits = []
    for seed in split_seeds(args.demo_seeds):
        url = f"sqlite:///{tmp / f'demo-{seed}.db'}"
        write_world(generate_world(args.demo_leads, seed=seed), sa.create_engine(url))
        cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
        engine = sa.create_engine(url)
        cfg, data, _ = load_checked(cfg, engine)
        split = with_folds(cfg, data, data.rank.to_numpy(), (1 - TEST_SHARE, 1.0), True)
        if not split.fold.eq("test").equals(data.fold.eq("test")):
            raise RuntimeError(f"demo seed {seed}: the time split is not the world's test fold")
        splits.append(Split(f"seed {seed}", seeded(cfg, seed), split, seed))
    return "time split per seed (the world's own test fold: last 20% by creation)", splits


def shared_source(config: str, db_env: str, tmp: Path) -> tuple[Config, sa.Engine]:
    """A shared export imported from ../shared into a SQLite file in `tmp`."""
    url = f"sqlite:///{tmp / f'{config}.db'}"
    os.environ[db_env] = url
    os.environ["LEADSCORE_SHARED"] = str(SHARED)
    cfg = load_config(REPO / "configs" / f"{config}.yaml").with_database(url)
    engine = sa.create_engine(url)
    import_files(cfg, engine)
    return cfg, engine


def stratified_splits(
    cfg: Config, data: TrainingSet, seeds: int, rows: int | None = None
) -> list[Split]:
    """`seeds` stratified random splits, 20% test; with `rows`, each split first draws its own
    stratified `rows` leads."""
    splits = []
    for seed in split_seeds(seeds):
        leads = small_export(data, rows, seed) if rows else data
        rank = stratified_rank(leads.label, seed)
        split = with_folds(cfg, leads, rank, (1 - TEST_SHARE, 1.0), False)
        splits.append(Split(f"seed {seed}", seeded(cfg, seed), split, seed))
    return splits


def rolling_splits(cfg: Config, data: TrainingSet) -> list[Split]:
    """Rolling-origin time splits: each window of `ROLLING_WINDOWS` (shares of the creation
    order) is a test fold, trained on everything before it."""
    rank = data.rank.to_numpy()
    seeds = split_seeds(len(ROLLING_WINDOWS))
    return [
        Split(
            f"[{lo:.0%}, {hi:.0%})",
            seeded(cfg, seed),
            with_folds(cfg, data, rank, (lo, hi), True),
            seed,
        )
        for (lo, hi), seed in zip(ROLLING_WINDOWS, seeds, strict=True)
    ]


def small_export(data: TrainingSet, rows: int, seed: int) -> TrainingSet:
    """A stratified draw of `rows` leads (the base rate kept), its own per split seed."""
    if rows >= len(data.label):
        raise SystemExit(f"--bank-rows {rows}: the export has only {len(data.label):,} leads")
    return data.subset(stratified_rank(data.label, seed + 1000) < rows / len(data.label))


def bank_splits(args: argparse.Namespace, tmp: Path) -> tuple[str, list[Split]]:
    cfg, data, _ = load_checked(*shared_source("uci-bank", "LEADSCORE_BANK_DB", tmp))
    kind = f"{args.bank_seeds} stratified random splits, 20% test"
    return kind, stratified_splits(cfg, data, args.bank_seeds, args.bank_rows)


def maven_splits(args: argparse.Namespace, tmp: Path) -> tuple[str, list[Split]]:
    cfg, data, _ = load_checked(*shared_source("maven-crm", "LEADSCORE_MAVEN_DB", tmp))
    return ROLLING_KIND, rolling_splits(cfg, data)


def export_source(path: Path, tmp: Path) -> tuple[Config, sa.Engine]:
    """Your export's config: its files imported into a SQLite file in `tmp` (its own database
    is left alone), or, for a config without files, its lead database read as it is."""
    cfg = load_config(path)
    if cfg.source.files:
        cfg = cfg.with_database(f"sqlite:///{Path(tempfile.mkdtemp(dir=tmp)) / 'leads.db'}")
        engine = sa.create_engine(cfg.source.database)
        import_files(cfg, engine)
        return cfg, engine
    return cfg, sa.create_engine(cfg.source.database)


def export_splits(path: Path, args: argparse.Namespace, tmp: Path) -> tuple[str, list[Split]]:
    """Time splits when the leads are in time order (a created date or `leads.order_by`) and
    `--export-split` is auto, stratified ones otherwise."""
    try:
        cfg, data, _ = load_checked(*export_source(path, tmp))
    except (ConfigError, ValueError, sa.exc.SQLAlchemyError) as error:
        raise SystemExit(f"--export {path}: {error}") from error
    timed = args.export_split == "time" or (args.export_split == "auto" and data.timed)
    if timed and not data.timed:
        raise SystemExit(
            f"--export {path}: --export-split time needs leads in time order: set "
            "leads.created_at or leads.order_by in the config"
        )
    if timed:
        kind, splits = ROLLING_KIND, rolling_splits(cfg, data)
    else:
        kind = f"{args.export_seeds} stratified random splits, 20% test"
        splits = stratified_splits(cfg, data, args.export_seeds)
    for split in splits:  # the checks `leadscore train` makes, named by split
        try:
            check_folds(split.cfg, split.data)
        except ValueError as error:
            raise SystemExit(f"--export {path}: split {split.name}: {error}") from error
    return kind, splits


Loader = Callable[[argparse.Namespace, Path], tuple[str, list[Split]]]
DATASETS: dict[str, tuple[Loader, Path | None]] = {
    "demo": (demo_splits, None),
    "bank": (bank_splits, SHARED / "datasets" / "uci-bank-marketing"),
    "maven": (maven_splits, SHARED / "datasets" / "maven-crm"),
}
