"""Is the model still right? `leadscore monitor` for one source's champion (and challenger).

Every lead is judged where the model was fitted: featurised at its scoring moment (the
handoff stage, else some days after creation: `scoring.features.moments`), with the same
point-in-time code as training, batch and real time. Against the reference training kept in
the model (`training.pipeline.reference`):
- calibration and ranking on the leads closed since the outcomes the model learnt from were
  known: ECE and ROC AUC with 90% bootstrap intervals, predicted vs observed by band;
- drift of the win probability and of each feature on the leads scored since (PSI);
- the weekly MQL and SQL load the cut-offs give, and the stage mix, against the capacity;
- the SLA and funnel where the database has them;
- with a challenger, both models on the same closed leads: ranking, calibration and what
  their cut-offs would have earned.
A breach of `monitor:` limits makes the verdict `retrain_recommended` (calibration, ranking,
drift) or `retune_recommended` (load only), with the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.data.load import load_events, load_leads
from scoring.features import build_features
from scoring.features.moments import handoff_stage, scoring_moments
from scoring.model.scorer import LeadScorer
from scoring.monitoring import calibration as cal
from scoring.monitoring.drift import compare
from scoring.monitoring.verdict import judge

REFERENCE = "monitoring"  # the scorer metadata key training keeps the reference under


@dataclass(frozen=True)
class Model:
    version: str
    scorer: LeadScorer

    @property
    def reference(self) -> dict | None:
        return self.scorer.metadata.get(REFERENCE)

    @property
    def known_at(self) -> pd.Timestamp | None:
        ref = self.reference
        return pd.Timestamp(ref["known_at"]) if ref and ref.get("known_at") else None


@dataclass(frozen=True)
class Population:
    """The leads of the window as of their scoring moments: which are new (scored since
    training) and which closed since."""

    meta: pd.DataFrame
    inputs: pd.DataFrame
    events: pd.DataFrame | None
    moment: pd.Series
    new: np.ndarray
    closed: np.ndarray

    def features(self, cfg: Config, model: Model, rows: np.ndarray | None = None) -> pd.DataFrame:
        """The features `model` sees of the leads (of `rows`), at their scoring moments."""
        pick = slice(None) if rows is None else rows
        return build_features(
            model_config(cfg, model.scorer),
            self.inputs[pick],
            self.events,
            self.moment[pick],
        )


def _naive(when: datetime | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def model_config(cfg: Config, scorer: LeadScorer) -> Config:
    """The source's config with the features the model was trained on."""
    return cfg.model_copy(update={"features": scorer.config.features})


def population(
    cfg: Config, engine: sa.Engine, since: pd.Timestamp, as_of: pd.Timestamp
) -> Population:
    leads, _ = load_leads(cfg, engine)
    meta = leads.meta
    moment = scoring_moments(cfg, meta)
    closed_at = meta["closed_at"].fillna(meta["created_at"])
    closed = (meta["label"].notna() & (closed_at > since) & (closed_at <= as_of)).to_numpy()
    new = ((moment > since) & (moment <= as_of)).to_numpy()
    keep = new | closed
    events = load_events(cfg, engine, list(meta.index[keep]))[0] if keep.any() else None
    return Population(meta[keep], leads.inputs[keep], events, moment[keep], new[keep], closed[keep])


def _calibration(y: np.ndarray, p: np.ndarray, cfg: Config) -> dict:
    spec = cfg.monitor
    ece_low, ece_high = cal.interval(
        y, p, cal.expected_calibration_error, spec.bootstrap, spec.seed
    )
    auc_low, auc_high = cal.interval(y, p, cal.rank_auc, spec.bootstrap, spec.seed)
    ratio_low, ratio_high = cal.interval(y, p, cal.rate_ratio, spec.bootstrap, spec.seed)
    return {
        "leads": len(y),
        "ece": cal.expected_calibration_error(y, p),
        "ece_low": ece_low,
        "ece_high": ece_high,
        "auc": cal.rank_auc(y, p),
        "auc_low": auc_low,
        "auc_high": auc_high,
        "predicted_rate": float(p.mean()) if len(p) else None,
        "observed_rate": float(y.mean()) if len(y) else None,
        "rate_ratio": cal.rate_ratio(y, p),
        "rate_ratio_low": ratio_low,
        "rate_ratio_high": ratio_high,
        "bands": cal.bands(y, p, cfg.report.score_bands),
    }


SHOWN_WEEKS = 52


def _load(
    cfg: Config, moment: pd.Series, stage: np.ndarray, since: pd.Timestamp, as_of: pd.Timestamp
) -> dict:
    """Weekly MQLs and SQLs the cut-offs hand off, by week of the scoring moment: the whole
    weeks between `since` and `as_of` (a week without leads counts 0), the last 52 listed; and
    the stage mix of the new leads."""
    week = moment.dt.to_period("W").dt.start_time.to_numpy()
    frame = pd.DataFrame({"week": week, "stage": stage})
    counts = pd.crosstab(frame["week"], frame["stage"]) if len(frame) else pd.DataFrame()
    whole = pd.period_range(since.to_period("W") + 1, as_of.to_period("W") - 1, freq="W")
    weekly = counts.reindex(index=whole.start_time, columns=["mql", "sql"], fill_value=0)
    recent = weekly.tail(cfg.monitor.load_weeks)
    mix = pd.Series(stage).value_counts(normalize=True)
    return {
        "weeks": [
            {"week": w.date().isoformat(), "mqls": int(r["mql"]), "sqls": int(r["sql"])}
            for w, r in weekly.tail(SHOWN_WEEKS).iterrows()
        ],
        "mql_per_week": float(recent["mql"].mean()) if len(recent) else None,
        "sql_per_week": float(recent["sql"].mean()) if len(recent) else None,
        "sdr_capacity": cfg.costs.sdr_capacity_per_week,
        "ae_capacity": cfg.costs.ae_capacity_per_week,
        "stage_mix": {s: float(mix.get(s, 0.0)) for s in ("nurture", "mql", "sql")},
    }


def _funnel(cfg: Config, meta: pd.DataFrame) -> dict | None:
    """Of the new leads: the share that reached each funnel stage, and won of the closed."""
    if not cfg.leads.funnel or meta.empty:
        return None
    reached = {s: float(meta[f"{s}_at"].notna().mean()) for s in cfg.leads.funnel}
    closed = meta["label"].notna()
    won = float(meta.loc[closed, "label"].mean()) if closed.any() else None
    return {"leads": len(meta), "reached": reached, "win_rate_of_closed": won}


def net_value(cfg: Config, meta: pd.DataFrame, stage: np.ndarray, deal: np.ndarray) -> float:
    """What a model's cut-offs would have earned on closed leads: the revenue of the won leads
    they handed off, minus SDR time per MQL and AE time per SQL."""
    won = meta["label"].to_numpy() == 1
    revenue = meta["revenue"].to_numpy(dtype=float, na_value=np.nan)
    revenue = np.where(np.isnan(revenue), deal, revenue)
    handed = stage != "nurture"
    costs = cfg.costs
    return float(
        (revenue * (won & handed)).sum()
        - (stage == "mql").sum() * costs.sdr_cost_per_mql
        - (stage == "sql").sum() * costs.ae_cost_per_sql
    )


def _challenger(cfg: Config, pop: Population, champion: Model, challenger: Model) -> dict:
    """Both models on the leads closed since either was trained, at their scoring moments:
    the champion's window (`pop`), without the leads closed before a later challenger's
    cut-off."""
    known = [t for t in (champion.known_at, challenger.known_at) if t is not None]
    since = max(known, default=pd.Timestamp.min)
    closed_at = pop.meta["closed_at"].fillna(pop.meta["created_at"])
    closed = pop.closed & (closed_at > since).to_numpy()
    meta = pop.meta[closed]
    y = meta["label"].to_numpy(dtype=float)
    out: dict = {"version": challenger.version, "since": since, "closed": len(y)}
    if len(y) < cfg.monitor.min_closed or y.min() == y.max():
        return out | {"champion": None, "challenger": None, "better": None}
    sides, draws = {}, {}
    for name, model in (("champion", champion), ("challenger", challenger)):
        scores = model.scorer.score(pop.features(cfg, model, closed))
        p = scores["win_probability"].to_numpy()
        deal = (scores["expected_revenue"] / scores["win_probability"]).to_numpy()
        sides[name] = {
            "auc": cal.rank_auc(y, p),
            "ece": cal.expected_calibration_error(y, p),
            "net_value": net_value(cfg, meta, scores["stage"].to_numpy(), deal),
        }
        draws[name] = p
    low, high = _paired_auc_gain(y, draws["champion"], draws["challenger"], cfg)
    better = bool(low > 0 and sides["challenger"]["net_value"] >= sides["champion"]["net_value"])
    return out | sides | {"auc_gain_low": low, "auc_gain_high": high, "better": better}


def _paired_auc_gain(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, cfg: Config
) -> tuple[float, float]:
    """90% interval of the challenger's ROC AUC minus the champion's, on the same resamples."""
    stacked = np.column_stack([a, b])

    def gain(yy: np.ndarray, pp: np.ndarray) -> float:
        return cal.rank_auc(yy, pp[:, 1]) - cal.rank_auc(yy, pp[:, 0])

    return cal.interval(y, stacked, gain, cfg.monitor.bootstrap, cfg.monitor.seed)


def monitor(
    cfg: Config,
    engine: sa.Engine,
    champion: Model,
    as_of: datetime,
    challenger: Model | None = None,
    sla: dict | None = None,
) -> dict:
    """The monitoring result of `champion` (see the module docstring) as a JSON-ready dict."""
    ref = champion.reference
    at = _naive(as_of)
    head = {"source": cfg.name, "model_version": champion.version, "as_of": at.to_pydatetime()}
    if ref is None or champion.known_at is None:
        why = (
            "the model keeps no monitoring reference (trained before monitoring existed): "
            "retrain it"
            if ref is None
            else "the model's data has no dates: nothing says which leads are new to it"
        )
        return judge(cfg, head | {"since": None, "leads": 0, "closed": 0}, ref, unusable=why)
    since = champion.known_at
    pop = population(cfg, engine, since, at)
    features = pop.features(cfg, champion)
    scores = champion.scorer.score(features)
    p = scores["win_probability"].to_numpy()
    y = pop.meta["label"].to_numpy(dtype=float)
    new = pop.new
    result = head | {
        "since": since.to_pydatetime(),
        "leads": int(new.sum()),
        "closed": int(pop.closed.sum()),
        "calibration": _calibration(y[pop.closed], p[pop.closed], cfg)
        if pop.closed.any()
        else None,
        "drift": compare(ref["profile"], features[new], p[new]) if new.any() else None,
        "load": _load(cfg, pop.moment[new], scores["stage"].to_numpy()[new], since, at),
        "funnel": _funnel(cfg, pop.meta[new]),
        "sla": sla,
        "handoff_stage": handoff_stage(cfg),
        "challenger": _challenger(cfg, pop, champion, challenger) if challenger else None,
    }
    return judge(cfg, result, ref)


__all__ = ["ConfigError", "Model", "monitor", "net_value", "population"]
