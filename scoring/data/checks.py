"""The data check before anything is trusted: a profile of every configured column, leak
suspects, and how the win rate moves over time.

Leak suspects are feature columns that
- alone separate won from lost almost perfectly (ROC AUC >= `training.leak_auc`, out of fold for
  categories), or
- are filled for closed leads and almost never for open ones (sales fills them after contact);
columns the config declares in `leaks:` are listed too. Training leaves suspects out unless
`training.keep_suspects` keeps them.

Drift: the win rate per fifth of the closed leads in time order (by creation date, else by
`leads.order_by`), so a model refused by the gate can be told apart: "the base rate moved
between folds" is not "the features carry little signal".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.config import Config, ConfigError
from scoring.data.validation import Leads

# values that forms and CRMs write for "nothing": suggested as `missing_values`
PLACEHOLDER_WORDS = frozenset(
    {"select", "unknown", "n/a", "na", "none", "null", "-", "--", "?", "not specified", "other"}
)
MIN_OPEN = 20  # open leads needed to judge "filled only for closed leads"
PERIODS = 5


@dataclass(frozen=True)
class ColumnProfile:
    column: str
    kind: str
    missing_share: float
    distinct: int
    top: list[tuple[str, int]]
    placeholders: list[str]  # values that look like "missing", not set as missing_values


@dataclass(frozen=True)
class LeakSuspect:
    column: str
    reason: str


@dataclass(frozen=True)
class Period:
    label: str
    leads: int
    win_rate: float


@dataclass(frozen=True)
class DataCheck:
    profiles: list[ColumnProfile]
    leaks: list[LeakSuspect]
    periods: list[Period]
    ordered_by: str  # "created_at", "leads.order_by" or why there is no order
    notes: list[str] = field(default_factory=list)

    @property
    def suspects(self) -> set[str]:
        return {s.column for s in self.leaks}

    @property
    def base_rate_ratio(self) -> float:
        """Highest over lowest win rate of the periods (1: stable)."""
        rates = [p.win_rate for p in self.periods if p.leads and p.win_rate == p.win_rate]
        if len(rates) < 2 or min(rates) <= 0:
            return float("inf") if rates and max(rates) > 0 and min(rates) <= 0 else 1.0
        return max(rates) / min(rates)

    @property
    def base_rate_moved(self) -> bool:
        return self.base_rate_ratio >= 2.0

    def to_text(self) -> str:
        lines = ["Data check"]
        for p in self.profiles:
            top = ", ".join(f"{v} ({n:,})" for v, n in p.top[:3])
            lines.append(
                f"  {p.column:<24} {p.kind:<11} missing {p.missing_share:>6.1%}  "
                f"distinct {p.distinct:>6,}  top: {top}"
            )
            if p.placeholders:
                lines.append(
                    f"    looks like a placeholder for missing: {p.placeholders}; set "
                    "`missing_values:` on the field (or `leads.missing_values`) if it is"
                )
        for s in self.leaks:
            lines.append(f"  leak suspect: {s.column}: {s.reason}")
        if self.periods:
            rates = "  ".join(f"{p.label} {p.win_rate:.1%}" for p in self.periods)
            lines.append(f"  win rate by period ({self.ordered_by}): {rates}")
            if self.base_rate_moved:
                lines.append(
                    f"  the base rate moved {self.base_rate_ratio:.1f}x between periods: later "
                    "folds will not look like earlier ones, whatever the features"
                )
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def auc(values: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC of a score, ties counted half (Mann-Whitney)."""
    pos = label == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return 0.5
    ranks = pd.Series(values).rank(method="average").to_numpy()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def numeric_score(values: pd.Series) -> np.ndarray:
    number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if np.isnan(number).all():
        return np.zeros(len(number))
    low = np.nanmin(number)
    return np.where(np.isnan(number), low - 1, number)  # missing is a value of its own


def category_score(values: pd.Series, label: np.ndarray) -> np.ndarray:
    """Out-of-fold win rate of each lead's category (two halves): no category scores itself."""
    text = values.astype(object).where(values.notna(), "(missing)").astype(str).to_numpy()
    half = np.arange(len(text)) % 2 == 0
    score = np.empty(len(text))
    prior = float(label.mean())
    for fit, apply in ((half, ~half), (~half, half)):
        rates = pd.Series(label[fit]).groupby(text[fit]).agg(["sum", "count"])
        smoothed = (rates["sum"] + prior) / (rates["count"] + 1)
        score[apply] = pd.Series(text[apply]).map(smoothed).fillna(prior).to_numpy()
    return score


def _separation(cfg: Config, inputs: pd.DataFrame, label: np.ndarray) -> list[LeakSuspect]:
    out = []
    for f in (*cfg.features.fit, *cfg.features.intent):
        values = inputs[f.column]
        numeric = f.kind in ("numeric", "boolean")
        score = numeric_score(values) if numeric else category_score(values, label)
        separation = max(auc(score, label), 1 - auc(score, label))
        if separation >= cfg.training.leak_auc:
            out.append(
                LeakSuspect(
                    f.column,
                    f"alone separates won from lost (ROC AUC {separation:.3f} >= training.leak_auc "
                    f"{cfg.training.leak_auc:g})",
                )
            )
    return out


def _closed_only(cfg: Config, inputs: pd.DataFrame, closed: np.ndarray) -> list[LeakSuspect]:
    if (~closed).sum() < MIN_OPEN:
        return []
    out = []
    for f in (*cfg.features.fit, *cfg.features.intent):
        missing = inputs[f.column].isna().to_numpy()
        open_missing, closed_missing = missing[~closed].mean(), missing[closed].mean()
        if open_missing >= 0.95 and closed_missing <= 0.5:
            out.append(
                LeakSuspect(
                    f.column,
                    f"filled for {1 - closed_missing:.0%} of closed leads but "
                    f"{1 - open_missing:.0%} of open ones: set after the outcome?",
                )
            )
    return out


def _profile(cfg: Config, inputs: pd.DataFrame) -> list[ColumnProfile]:
    configured = {v.lower() for v in cfg.leads.missing_values}
    out = []
    for f in (*cfg.features.fit, *cfg.features.intent):
        values = inputs[f.column]
        counts = values.astype(str).where(values.notna()).value_counts()
        words = {str(v).strip().lower() for v in counts.index}
        given = configured | {v.lower() for v in f.missing_values}
        out.append(
            ColumnProfile(
                f.column,
                f.kind,
                float(values.isna().mean()) if len(values) else 0.0,
                int(values.nunique()),
                [(str(v), int(n)) for v, n in counts.head(5).items()],
                sorted((words & PLACEHOLDER_WORDS) - given) if f.kind != "numeric" else [],
            )
        )
    return out


def _periods(meta: pd.DataFrame, closed: np.ndarray) -> tuple[list[Period], str]:
    closed_meta = meta[closed]
    created, position = closed_meta["created_at"], closed_meta["order"]
    if created.notna().all() and len(created):
        order = np.argsort(created.to_numpy(), kind="stable")
        by = "created_at"
    elif position.notna().all() and len(position):
        order = np.argsort(position.to_numpy(), kind="stable")
        by = "leads.order_by"
    else:
        return [], "no dates and no leads.order_by"
    label = closed_meta["label"].to_numpy()[order]
    periods = []
    for k, part in enumerate(np.array_split(np.arange(len(label)), PERIODS)):
        if len(part):
            if by == "created_at":
                stamps = created.to_numpy()[order][part]
                name = f"{pd.Timestamp(stamps[0]):%Y-%m}..{pd.Timestamp(stamps[-1]):%Y-%m}"
            else:
                name = f"{k + 1}/{PERIODS}"
            periods.append(Period(name, len(part), float(label[part].mean())))
    return periods, by


def check_data(cfg: Config, leads: Leads) -> DataCheck:
    """Profile, leak suspects and drift of validated leads (open leads included)."""
    meta, inputs = leads.meta, leads.inputs
    closed = meta["label"].notna().to_numpy()
    label = meta["label"].to_numpy()[closed].astype(int)
    leaks = [
        LeakSuspect(column, f"declared in `leaks:`: {why}") for column, why in cfg.leaks.items()
    ]
    notes = []
    if closed.sum() and 0 < label.mean() < 1:
        leaks += _separation(cfg, inputs[closed], label)
    else:
        notes.append("no won and lost leads to check separation on")
    leaks += _closed_only(cfg, inputs, closed)
    kept = [s for s in leaks if s.column in cfg.training.keep_suspects]
    if kept:
        notes.append(f"training.keep_suspects keeps {sorted({s.column for s in kept})} in training")
    periods, by = _periods(meta, closed)
    return DataCheck(_profile(cfg, inputs), leaks, periods, by, notes)


def without_suspects(cfg: Config, check: DataCheck) -> Config:
    """The config with the leak-suspect feature columns left out (but those the config keeps)."""
    drop = check.suspects - set(cfg.training.keep_suspects)
    if not drop:
        return cfg
    fit = [f for f in cfg.features.fit if f.column not in drop]
    intent = [f for f in cfg.features.intent if f.column not in drop]
    if not (fit or intent or cfg.events):
        raise ConfigError(
            f"every feature is a leak suspect ({sorted(drop)}): see the data check; keep the "
            "ones that are known before the outcome with training.keep_suspects"
        )
    features = cfg.features.model_copy(update={"fit": fit, "intent": intent})
    return cfg.model_copy(update={"features": features})
