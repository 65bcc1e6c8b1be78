"""The training table: one row per closed lead, featurised at the moment it would have been scored.

A lead is scored when it reaches the scoring stage (the first funnel stage by default: that is
when the team decided to hand it off), or `score_after_days` after creation if it never did;
never at or after its close. Open leads are not labels. Folds follow creation time when every
labelled lead has a date, else `leads.order_by`, otherwise a stratified random split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.data.checks import DataCheck, check_data, without_suspects
from scoring.data.load import load_events, load_leads
from scoring.data.validation import Leads
from scoring.features import build_features
from scoring.features.moments import scoring_moments

FOLDS = ("train", "calibration", "validation", "test")


@dataclass(frozen=True)
class TrainingSet:
    features: pd.DataFrame  # index lead_id
    label: pd.Series  # 1 won, 0 lost
    amount: pd.Series  # known deal value: revenue if won, opportunity amount if known, else NaN
    fold: pd.Series  # one of FOLDS
    as_of: pd.Series
    rejected: int = 0
    # each lead's place in the order the folds follow (0 first, below 1 last): creation time,
    # `leads.order_by`, or a stratified random order; None: the row order
    rank: pd.Series | None = None
    timed: bool = False  # the order is time (creation date or `leads.order_by`), not random
    # when the outcomes were known: `training.until`, else the last close (creation) date of the
    # labelled leads; None without dates. Leads closed after it are new to the model.
    known_at: pd.Timestamp | None = None

    def part(self, *folds: str) -> TrainingSet:
        return self.subset(self.fold.isin(folds).to_numpy())

    def subset(self, mask: np.ndarray) -> TrainingSet:
        rank = self.rank if self.rank is not None else _row_order(len(self.label), self.label)
        return TrainingSet(
            self.features[mask],
            self.label[mask],
            self.amount[mask],
            self.fold[mask],
            self.as_of[mask],
            rank=rank[mask],
            timed=self.timed,
            known_at=self.known_at,
        )

    @property
    def order(self) -> np.ndarray:
        """Positions of the leads in fold order (time when dated)."""
        rank = self.rank if self.rank is not None else _row_order(len(self.label), self.label)
        return np.argsort(rank.to_numpy(), kind="stable")

    @property
    def has_amounts(self) -> bool:
        """Whether any lead has a known deal value (a source without revenue and opportunity
        amount columns, or with every amount missing, has none)."""
        return bool(self.amount.notna().any())

    def fingerprint(self) -> str:
        """Stable hash of what the models see: features, labels, amounts and folds."""
        frame = self.features.assign(_label=self.label, _amount=self.amount, _fold=self.fold)
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=True)
        return f"{int(hashed.sum()) & 0xFFFFFFFFFFFFFFFF:016x}"


def time_column(meta: pd.DataFrame) -> str | None:
    """What puts the leads in time order: creation date, else `leads.order_by` (an export in
    time order without dates); None when neither is known for every lead."""
    for column in ("created_at", "order"):
        if column in meta and len(meta) and meta[column].notna().all():
            return column
    return None


def fold_ranks(cfg: Config, meta: pd.DataFrame, label: pd.Series) -> pd.Series:
    """Each lead's place in [0, 1) in the order folds follow: time (`time_column`); without it,
    a stratified random order, reproducible with the seed."""
    column = time_column(meta)
    if column is not None:
        order = np.argsort(meta[column].to_numpy(), kind="stable")
        rank = np.empty(len(order))
        rank[order] = np.arange(len(order)) / max(len(order), 1)
        return pd.Series(rank, index=meta.index)
    return pd.Series(stratified_rank(label, cfg.training.seed), index=meta.index)


def stratified_rank(label: pd.Series, seed: int) -> np.ndarray:
    """A random share in [0, 1) per lead, evenly spread within each class (seeded)."""
    rng = np.random.default_rng(seed)
    rank = np.empty(len(label))
    for value in (0, 1):
        idx = np.flatnonzero(label.to_numpy() == value)
        rank[idx] = rng.permutation(len(idx)) / max(len(idx), 1)
    return rank


def _row_order(n: int, label: pd.Series) -> pd.Series:
    return pd.Series(np.arange(n) / max(n, 1), index=label.index)


def assign_folds(cfg: Config, rank: pd.Series) -> pd.Series:
    """Folds by `training.split` over the fold order (`fold_ranks`)."""
    shares = np.cumsum(cfg.training.split)[:-1]
    return pd.Series(
        np.asarray(FOLDS)[np.searchsorted(shares, rank.to_numpy(), side="right")],
        index=rank.index,
    )


def known_by(cfg: Config, meta: pd.DataFrame) -> pd.Series:
    """Leads whose outcome was known at `training.until` (closed before it, by close date, else
    creation date); every lead without it."""
    until = cfg.training.until
    if until is None:
        return pd.Series(True, index=meta.index)
    when = meta["closed_at"].fillna(meta["created_at"])
    if when.isna().all():
        raise ValueError(
            "training.until: the leads have no close or creation dates to compare with "
            "(set leads.close_date or leads.created_at)"
        )
    return when < _known_at(cfg, meta)


def training_set_from(cfg: Config, leads: Leads, events: pd.DataFrame | None) -> TrainingSet:
    closed = leads.meta["label"].notna() & known_by(cfg, leads.meta)
    meta, inputs = leads.meta[closed], leads.inputs[closed]
    label = meta["label"].astype(int)
    as_of = scoring_moments(cfg, meta)
    features = build_features(cfg, inputs, events, as_of)
    amount = meta["revenue"].where(label == 1, meta["opportunity_amount"])
    rank = fold_ranks(cfg, meta, label)
    fold = assign_folds(cfg, rank)
    timed = time_column(meta) is not None
    amount = amount.where(amount > 0)
    return TrainingSet(
        features, label, amount, fold, as_of, rank=rank, timed=timed, known_at=_known_at(cfg, meta)
    )


def _known_at(cfg: Config, meta: pd.DataFrame) -> pd.Timestamp | None:
    if cfg.training.until is not None:
        cut = pd.Timestamp(cfg.training.until)
        return cut.tz_convert("UTC").tz_localize(None) if cut.tzinfo else cut
    latest = meta["closed_at"].fillna(meta["created_at"]).max()
    return None if pd.isna(latest) else pd.Timestamp(latest)


def load_checked(cfg: Config, engine: sa.Engine) -> tuple[Config, TrainingSet, DataCheck]:
    """The data check first (profile, leak suspects, drift), then the training set of the config
    without the suspected columns (`training.keep_suspects` keeps some): the config returned is
    the one the model is trained on and registered with."""
    leads, rejects = load_leads(cfg, engine)
    check = check_data(cfg, leads)
    cfg = without_suspects(cfg, check)
    events, _ = load_events(cfg, engine)
    data = dataclasses.replace(training_set_from(cfg, leads, events), rejected=len(rejects))
    return cfg, data, check


def load_training_set(cfg: Config, engine: sa.Engine) -> TrainingSet:
    leads, rejects = load_leads(cfg, engine)
    events, _ = load_events(cfg, engine)
    return dataclasses.replace(training_set_from(cfg, leads, events), rejected=len(rejects))


NO_AMOUNTS = "none (no amounts)"
WEIGHTING_TEXT = {
    "revenue": "weighted by revenue",
    "none": "unweighted (training.weighting: none)",
    NO_AMOUNTS: "unweighted (no amounts)",
}


def weighting_used(cfg: Config, data: TrainingSet) -> str:
    """How training weighs leads: "revenue" as configured, "none" when the config turns it off,
    or `NO_AMOUNTS` when revenue weighting is configured but no lead has a deal value."""
    if cfg.training.weighting == "none":
        return "none"
    return "revenue" if data.has_amounts else NO_AMOUNTS


def revenue_weights(cfg: Config, data: TrainingSet, estimate: np.ndarray) -> np.ndarray:
    """Weight of each lead in training: its deal value (known, or estimated from firmographics),
    normalised to mean 1 and clipped; all ones unless `weighting_used` is "revenue"."""
    if weighting_used(cfg, data) != "revenue":
        return np.ones(len(data.label))
    value = data.amount.to_numpy(dtype=float, na_value=np.nan)
    value = np.where(np.isnan(value), estimate, value)
    weights = (value / np.nanmean(value)) ** cfg.training.weight_power
    low, high = cfg.training.weight_clip
    return np.clip(np.nan_to_num(weights, nan=1.0), low, high)
