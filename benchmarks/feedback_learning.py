"""Does sales feedback help, against the synthetic world's truth? Three uses, each measured:

1. measured response times (`training.thresholds.response`): the SDR lane priced at the
   median measured handoff-to-first-touch time instead of `costs.sdr_response_hours`;
2. the history's speed from first touches: the outcome model's values were earned at the
   history's first-touch delays (handoff -> first contact attempt), not at its handoff ->
   acceptance (`sal`) delays;
3. "not ready" rejections: a lead an SDR sent back as not ready was not ready at its handoff;
   it became ready at its next sign (a ready event, a later funnel stage), if any.

Each variant of the replay tunes the cut-offs on history (the product's study) and the tuned
policy is scored under the truth (`ResponseModel`), with SDR calls coming at the world's real
speed: per lead a first-touch delay drawn from the history's measured delays (the configured
4 hours are an assumption; the desk is slower); AE calls at `costs.ae_response_hours` (the
world has no AE first calls to measure). The oracle is the best policy under that truth.

4. "bad fit" rejections for the fit model: fit-only boosters (the config's fit features) with
   and without the leads an SDR rejected as bad fit as extra negatives (open leads: closed ones
   are negatives already), weighted up, or as a second model P(not bad fit | handed off)
   multiplied into the plain booster and into the trained model's fit part; all scored against
   the truth's `fit_logit` on the test fold (AUC for an above-median fit_logit, Spearman).

Measured (seed 7 and 11, docs/thresholds.md): 2 and 3 are wired into the study, 1 too (the
issue asks for it; it costs value under the default 24-hour half-life), 4 is not.

    .venv/bin/python benchmarks/feedback_learning.py [--leads 20000] [--seed 7] [--trials 300]
        [--samplers 3] [--db sqlite:///...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from scoring.config import Config, load_config
from scoring.data.load import load_events, load_leads
from scoring.data.validation import Leads
from scoring.features import feature_spec, to_days
from scoring.feedback.crm import sync_crm
from training.pipeline.boosters import DEV, categorical
from training.pipeline.run import run_training
from training.synthetic import generate_world, write_world
from training.synthetic.oracle import load_truth, truth_value
from training.thresholds.replay import Policy, Replay, ValueFn, ready_moments
from training.thresholds.response import no_feedback, read_feedback, sales_feedback
from training.thresholds.study import grid_search, tune
from training.thresholds.tuning import HELD_OUT, held_out_replay

REPO = Path(__file__).resolve().parents[1]


def true_speed(value: ValueFn, tl_at: np.ndarray, sdr_days: np.ndarray, ae_hours: float):
    """The truth's value with SDR calls at the world's speed: the truth replay runs with
    `sdr_response_hours` 0, so a contact at the handoff moment is an SDR's, moved by the lead's
    drawn delay; AE contacts keep `ae_hours`."""

    def valued(moment: np.ndarray, contact: np.ndarray):
        at = np.where(moment >= 0, tl_at[np.maximum(moment, 0)], np.nan)
        sdr = np.isfinite(contact) & (np.abs(contact - at) < 1e-9)
        return value(moment, np.where(sdr, contact + sdr_days, contact))

    assert ae_hours > 0
    return valued


def truth_replay(history: Replay, engine: sa.Engine, first_touch_days: np.ndarray) -> Replay:
    rng = np.random.default_rng(0)
    n = len(history.timeline.lead_ids)
    draws = rng.choice(first_touch_days, size=n)
    base = truth_value(load_truth(engine, history.timeline.lead_ids))
    costs = history.costs.model_copy(
        update={
            "capacity_headroom": 0.0,  # the truth knows each policy's real load
            "sdr_response_hours": 0.0,
            "ae_response_hours": load_config(REPO / "configs/demo.yaml").costs.ae_response_hours,
        }
    )
    valued = true_speed(base, history.timeline.at, draws, costs.ae_response_hours)
    return history.under_truth(valued).with_costs(costs)


def readiness_check(ready: np.ndarray, truth: pd.DataFrame, handed: np.ndarray) -> str:
    """Against the truth, of the leads the history handed off: the share whose replay ready
    moment is a moment the truth calls ready (in market, past ready_at, before window_end) and
    the share the replay calls never ready that the truth never had ready (out of market)."""
    t_ready = to_days(truth["ready_at"].to_numpy())
    t_end = to_days(truth["window_end"].to_numpy())
    in_market = truth["in_market"].to_numpy(dtype=bool)
    known = handed & np.isfinite(ready)
    right = in_market & (ready >= t_ready - 1e-9) & (ready <= t_end)
    never = handed & np.isnan(ready)
    out = (~in_market[never]).mean() if never.any() else np.nan
    return (
        f"ready moment truly ready {right[known].mean():.1%} of {known.sum():,} leads; "
        f"never ready {never.sum():,} leads, {out:.0%} truly out of market"
    )


def fit_auc(cfg: Config, result, leads: Leads, engine: sa.Engine) -> list[str]:
    """Fit-only LightGBM (default settings) on the development leads, with and without the
    bad-fit rejections as extra negatives, against the truth's fit_logit on the test fold."""
    data = result.data
    fit_cols = [c for c in data.features.columns if c in _fit_columns(cfg)]
    dev, test = data.part(*DEV), data.part(*HELD_OUT)
    truth = load_truth(engine, test.label.index)["fit_logit"].to_numpy()
    high = truth > np.median(truth)
    cats = [c for c in categorical(cfg) if c in fit_cols]
    rejected = bad_fit_leads(cfg, engine).intersection(leads.meta.index)
    dev_ids = dev.label.index
    test_ids = set(test.label.index)
    # open leads rejected as bad fit in the development period (before the test fold starts)
    cutoff = leads.meta.loc[test.label.index, "created_at"].min()
    extra = [
        i
        for i in rejected.difference(data.label.index)
        if i not in test_ids and leads.meta.at[i, "created_at"] < cutoff
    ]
    extra_x = _features(result, leads, extra, fit_cols)
    lines = []
    variants = {
        "won vs not (closed leads)": (dev.features[fit_cols], dev.label.to_numpy(), None),
        "+ open bad-fit rejections as negatives": (
            pd.concat([dev.features[fit_cols], extra_x]),
            np.r_[dev.label.to_numpy(), np.zeros(len(extra_x))],
            None,
        ),
    }
    bad_dev = dev_ids.isin(rejected)
    weights = np.where(bad_dev, 3.0, 1.0)
    variants["bad-fit rejections weighted 3x"] = (
        dev.features[fit_cols],
        dev.label.to_numpy(),
        weights,
    )
    # a second target: P(not rejected as bad fit | handed off), multiplied in
    for name, (x, y, w) in variants.items():
        model = _booster(x, y, w, cats, cfg.training.seed)
        p = model.predict(_categories(test.features[fit_cols], cats))
        lines.append(_fit_line(name, p, truth, high))
    handed = leads.meta.loc[dev_ids, "mql_at"].notna().to_numpy()
    not_bad = (~bad_dev).astype(float)
    base = _booster(dev.features[fit_cols], dev.label.to_numpy(), None, cats, cfg.training.seed)
    screen = _booster(
        dev.features[fit_cols][handed], not_bad[handed], None, cats, cfg.training.seed
    )
    x_test = _categories(test.features[fit_cols], cats)
    p = base.predict(x_test) * screen.predict(x_test)
    lines.append(_fit_line("x P(not bad fit | handed off)", p, truth, high))
    own = result.scorer.parts["fit"].raw(test.features) if "fit" in result.scorer.parts else None
    if own is not None:
        own = 1 / (1 + np.exp(-np.asarray(own)))
        lines.insert(0, _fit_line("the trained model's fit part", own, truth, high))
        mixed = own * screen.predict(x_test)
        lines.append(_fit_line("trained fit part x P(not bad fit | handed)", mixed, truth, high))
    return lines


def bad_fit_leads(cfg: Config, engine: sa.Engine) -> pd.Index:
    """Leads an SDR rejected for a reason in `feedback.bad_fit`."""
    rows = read_feedback(engine)
    assert rows is not None
    bad = rows[(rows["kind"] == "sdr_rejected") & rows["reason"].isin(cfg.feedback.bad_fit)]
    return pd.Index(bad["lead_id"].unique())


def _fit_columns(cfg: Config) -> set[str]:
    return {info.name for info in feature_spec(cfg) if info.group == "fit"}


def _features(result, leads: Leads, ids: list, cols: list[str]) -> pd.DataFrame:
    from scoring.features import build_features

    sub = Leads(leads.meta.loc[ids], leads.inputs.loc[ids])
    as_of = sub.meta["created_at"]
    return build_features(result.config, sub.inputs, None, as_of)[cols]


def _categories(x: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    return x.astype({c: "category" for c in cats})


def _booster(x, y, w, cats, seed):
    x = _categories(x, cats)
    params = {"objective": "binary", "verbose": -1, "seed": seed, "num_threads": 1}
    params |= {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40}
    return lgb.train(params, lgb.Dataset(x, y, weight=w), num_boost_round=300)


def _fit_line(name: str, p: np.ndarray, truth: np.ndarray, high: np.ndarray) -> str:
    rho = spearmanr(p, truth).statistic
    return f"  {name:<40} AUC {roc_auc_score(high, p):.4f}  Spearman {rho:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--samplers", type=int, default=3, help="study seeds per variant")
    parser.add_argument("--db", help="an existing world's database (else one is generated)")
    parser.add_argument("--only", nargs="*", help="replay variants to run (default: all)")
    parser.add_argument("--skip-fit", action="store_true", help="no fit-model check")
    parser.add_argument("--fit-only", action="store_true", help="the fit-model check alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'leads.db'}"
        engine = sa.create_engine(url)
        cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
        if not args.db:
            write_world(generate_world(args.leads, args.seed), engine)
        sync_crm(cfg, engine, datetime.now(UTC).replace(tzinfo=None))
        run(cfg, engine, args)


def run(cfg: Config, engine: sa.Engine, args) -> None:
    began = time.perf_counter()
    result = run_training(cfg, engine)
    cfg = result.config
    if args.fit_only:
        _fit_report(cfg, result, load_leads(cfg, engine)[0], engine)
        return
    feedback = sales_feedback(cfg, engine)
    history = held_out_replay(cfg, result.scorer, engine, result.data, no_feedback(cfg, table=True))
    ids = history.timeline.lead_ids
    leads, _ = load_leads(cfg, engine)
    sub = Leads(leads.meta.loc[ids], leads.inputs.loc[ids])
    events, _ = load_events(cfg, engine, list(ids))
    truth = truth_replay(history, engine, feedback.first_touch_days())
    print(f"trained and replayed in {time.perf_counter() - began:.0f}s", flush=True)
    print(
        f"response: SDR {feedback.response.sdr.hours:.1f} h ({feedback.response.source('sdr')}); "
        f"AE {feedback.response.source('ae')}; configured SDR {cfg.costs.sdr_response_hours:g} h"
    )
    print(
        f"history delays: handoff -> sal median {np.median(history.delays) * 24:.1f} h; "
        f"handoff -> first touch median {np.median(feedback.first_touch_days()) * 24:.1f} h"
    )

    measured = feedback.response.apply(history.costs)
    not_ready = feedback.not_ready_days(ids)
    late_ready = ready_moments(cfg, sub, events, not_ready)
    touch = feedback.first_touch_days()
    variants: dict[str, Replay] = {
        "configured (before)": history,
        "1 measured SDR response": history.with_costs(measured),
        "2 first-touch history delays": replace(history, delays=_quantiles(touch)),
        "3 not-ready rejections": replace(history, ready=late_ready),
        "1+2": replace(history.with_costs(measured), delays=_quantiles(touch)),
        "2+3": replace(history, delays=_quantiles(touch), ready=late_ready),
        "1+2+3": replace(history.with_costs(measured), delays=_quantiles(touch), ready=late_ready),
    }
    # the cost model's 24-hour half-life against the truth's speed curve (most of a ready
    # lead's value lasts for days): the same with a one-week half-life
    week = {"ready_half_life_hours": 168.0}
    for name in ("configured (before)", "2+3", "1+2+3"):
        replay = variants[name]
        variants[f"{name}, half-life 1 week"] = replay.with_costs(
            replay.costs.model_copy(update=week)
        )
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    truth_lt = load_truth(engine, ids)
    handed = sub.meta["mql_at"].notna().to_numpy()
    print("\nreadiness of the held-out leads the history handed off, against the truth:")
    print(f"  funnel + ready events:      {readiness_check(history.ready, truth_lt, handed)}")
    print(f"  + not-ready rejections:     {readiness_check(late_ready, truth_lt, handed)}")

    began = time.perf_counter()
    oracle_policy, oracle = grid_search(truth, 40, tuple(float(f) for f in range(0, 81, 10)))
    on_truth = tune(truth, args.trials, seed=0)
    if on_truth.outcome.net_value > oracle.net_value:
        oracle_policy, oracle = on_truth.policy, on_truth.outcome
    print(
        f"\noracle under the truth (SDR at the world's speed): net value {oracle.net_value:,.0f}"
        f" ({_policy(oracle_policy)}; {time.perf_counter() - began:.0f}s)"
    )
    print(f"\n{'replay variant':<32}{'tuned / oracle, study seeds 0..':>34}{'':>4}policy (seed 0)")
    for name, replay in variants.items():
        ratios, first = [], None
        for seed in range(args.samplers):
            tuned = tune(replay, args.trials, seed=seed)
            first = first or tuned
            outcome = truth.evaluate(tuned.policy)
            feasible = truth.within_capacity(truth.load(outcome))
            ratios.append(f"{outcome.net_value / oracle.net_value:.3f}{'' if feasible else '!'}")
        print(f"{name:<32}{', '.join(ratios):>34}    {_policy(first.policy)}", flush=True)
    print("  (! = over capacity under the truth)")

    if not args.skip_fit:
        _fit_report(cfg, result, leads, engine)


def _fit_report(cfg: Config, result, leads: Leads, engine: sa.Engine) -> None:
    print("\nfit model against the truth's fit_logit (test fold):")
    for line in fit_auc(cfg, result, leads, engine):
        print(line, flush=True)


def _quantiles(days: np.ndarray, n: int = 50) -> np.ndarray:
    return np.quantile(days, (np.arange(n) + 0.5) / n)


def _policy(policy: Policy) -> str:
    return f"MQL >= {policy.mql:,.0f}, SQL >= {policy.sql:,.0f}, fit >= {policy.min_fit:g}"


if __name__ == "__main__":
    main()
