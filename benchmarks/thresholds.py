"""Threshold study against the truth: on the synthetic world, the cut-offs Optuna tunes on the
held-out leads' history, scored by the generator's ground-truth response model, next to the
oracle (the best policy under that truth: an exhaustive grid, or the same study run on the
truth when it finds better), a fixed 0.5 cut-off and scikit-learn's
TunedThresholdClassifierCV single cut-off, all in one run.

    .venv/bin/python benchmarks/thresholds.py [--leads 20000] [--seed 7] [--trials 300]
        [--samplers 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import load_config
from scoring.data.load import load_leads
from scoring.features.moments import handoff_stage
from training.pipeline.run import run_training
from training.synthetic import generate_world, write_world
from training.synthetic.oracle import load_truth, truth_value
from training.thresholds.baselines import FIXED_CUTOFF, tuned_single_cutoff
from training.thresholds.replay import Outcome, Policy, Replay
from training.thresholds.study import grid_search, tune, within_capacity
from training.thresholds.tuning import held_out_replay

REPO = Path(__file__).resolve().parents[1]


def _row(name: str, outcome: Outcome, oracle: float, replay: Replay, note: str = "") -> str:
    load = replay.load(outcome)
    return (
        f"{name:<34}{outcome.net_value:>14,.0f}{outcome.net_value / oracle:>9.3f}"
        f"{outcome.mqls:>7,}{outcome.sqls:>7,}{load.sdr_per_week:>8.0f}{load.ae_per_week:>7.0f}"
        f"  {note}"
    )


def single_cutoff(truth: Replay, p: np.ndarray, cutoff: float) -> tuple[Outcome, str]:
    """A single probability cut-off, the better of its two lanes (straight to an AE, or to an
    SDR first), so the baseline gets every benefit of the doubt."""
    lanes = {
        "to AE": truth.evaluate(Policy(cutoff, cutoff), score=p),
        "to SDR": truth.evaluate(Policy(cutoff, np.inf), score=p),
    }
    lane = max(lanes, key=lambda k: lanes[k].net_value)
    return lanes[lane], f"p >= {cutoff:.3f} {lane}"


def capped_cutoff(truth: Replay, p: np.ndarray, cutoff: float) -> tuple[Outcome, str]:
    """The single cut-off, raised to the lowest value whose best lane fits the teams' capacity
    (every policy in the table must: a cut-off the team cannot staff is not a policy)."""
    for raised in np.unique(np.concatenate([[cutoff], np.quantile(p, np.linspace(0, 1, 401))])):
        if raised < cutoff:
            continue
        lanes = [
            truth.evaluate(Policy(raised, raised), score=p),
            truth.evaluate(Policy(raised, np.inf), score=p),
        ]
        feasible = [o for o in lanes if within_capacity(truth, o)]
        if feasible:
            best = max(feasible, key=lambda o: o.net_value)
            lane = "to AE" if best.sqls else "to SDR"
            return best, f"p >= {raised:.3f} {lane} (raised from {cutoff:.3f} to fit capacity)"
    return truth.evaluate(Policy(np.inf, np.inf)), "nothing fits capacity"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument(
        "--samplers", type=int, default=5, help="study seeds for the spread of the tuned ratio"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'leads.db'}"
        engine = sa.create_engine(url)
        write_world(generate_world(args.leads, args.seed), engine)
        cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
        began = time.perf_counter()
        result = run_training(cfg, engine)
        trained_s = time.perf_counter() - began
        began = time.perf_counter()
        history = held_out_replay(cfg, result.scorer, engine, result.data)
        replay_s = time.perf_counter() - began
        # the truth knows each policy's real load: the oracle needs no headroom
        truth = history.under_truth(
            truth_value(load_truth(engine, history.timeline.lead_ids))
        ).with_costs(history.costs.model_copy(update={"capacity_headroom": 0.0}))
        print(
            f"{args.leads:,} leads, seed {args.seed}: {len(history.timeline.lead_ids):,} held-out "
            f"leads (the test fold), {len(history.timeline.at):,} scoring moments; trained in "
            f"{trained_s:.0f}s, replayed (outcome model and timeline) in {replay_s:.1f}s",
            flush=True,
        )
        began = time.perf_counter()
        oracle_policy, oracle = grid_search(truth, 40, tuple(float(f) for f in range(0, 81, 10)))
        grid_s = time.perf_counter() - began
        began = time.perf_counter()
        tuned = tune(history, args.trials, seed=0)
        tune_s = time.perf_counter() - began
        on_truth = tune(truth, args.trials, seed=0)
        # the oracle: the better of the exhaustive grid and the same study run on the truth
        if on_truth.outcome.net_value > oracle.net_value:
            oracle_policy, oracle = on_truth.policy, on_truth.outcome
        tuned_truth = truth.evaluate(tuned.policy)
        p = history.timeline.p
        fixed, fixed_note = single_cutoff(truth, p, FIXED_CUTOFF)
        # the single cut-off is fitted on the calibration fold: the replayed folds stay unseen
        cal = result.data.part("calibration")
        cal_p = result.scorer.score(cal.features)["win_probability"].to_numpy()
        won_value = float(result.data.amount[result.data.label == 1].mean())
        cutoff = tuned_single_cutoff(cal_p, cal.label.to_numpy(), cfg.costs, won_value)
        sklearn_raw, sklearn_raw_note = single_cutoff(truth, p, cutoff)
        sklearn_out, sklearn_note = capped_cutoff(truth, p, cutoff)
        nobody = truth.evaluate(Policy(np.inf, np.inf))
        meta = load_leads(cfg, engine)[0].meta.loc[history.timeline.lead_ids]
        never_called = meta[f"{handoff_stage(cfg)}_at"].isna().to_numpy()
        replayed = handoff_worth(history, history.evaluate(tuned.policy))
        true = handoff_worth(truth, tuned_truth)
        uncalled = never_called[replayed.index]
        spread = [tuned_truth] + [
            truth.evaluate(tune(history, args.trials, seed=s).policy)
            for s in range(1, args.samplers)
        ]

    print(
        f"\n{'policy (net value under the truth)':<34}{'net value':>14}{'/oracle':>9}"
        f"{'MQLs':>7}{'SQLs':>7}{'SDR/wk':>8}{'AE/wk':>7}"
    )
    lines = [
        ("oracle: best under the truth", oracle, f"{_policy(oracle_policy)}; grid {grid_s:.0f}s"),
        ("tuned on history (the product)", tuned_truth, f"{_policy(tuned.policy)}; {tune_s:.0f}s"),
        ("tuned on the truth replay", on_truth.outcome, _policy(on_truth.policy)),
        ("fixed 0.5 cut-off", fixed, fixed_note),
        ("TunedThresholdClassifierCV", sklearn_out, sklearn_note),
        ("  the same, ignoring capacity", sklearn_raw, sklearn_raw_note),
        ("hand off nobody", nobody, ""),
    ]
    for name, outcome, note in lines:
        print(_row(name, outcome, oracle.net_value, truth, note))
    costs = history.costs
    print(
        f"\ntuned / oracle {_ratio(tuned_truth, oracle)}; "
        f"tuned / fixed 0.5 {_ratio(tuned_truth, fixed)}; "
        f"tuned / TunedThresholdClassifierCV {_ratio(tuned_truth, sklearn_out)}; "
        f"optimiser on the truth replay / oracle {_ratio(on_truth.outcome, oracle)}"
    )
    print(
        f"tuned policy's handoffs to leads the history never handed off ({uncalled.sum():,}): "
        f"worth {replayed[uncalled].sum():,.0f} to the replay, {true[uncalled].sum():,.0f} under "
        f"the truth; to the others ({(~uncalled).sum():,}): {replayed[~uncalled].sum():,.0f} vs "
        f"{true[~uncalled].sum():,.0f}"
    )
    ratios = ", ".join(f"{o.net_value / oracle.net_value:.3f}" for o in spread)
    fits = sum(within_capacity(truth, o) for o in spread)
    print(
        f"tuned / oracle with study seeds 0..{args.samplers - 1}: {ratios} "
        f"({fits} of {args.samplers} within capacity under the truth)"
    )
    load = truth.load(tuned_truth)
    print(
        f"capacity of the tuned policy under the truth: SDR {load.sdr_per_week:.0f} of "
        f"{costs.sdr_capacity_per_week:g}/week, AE {load.ae_per_week:.0f} of "
        f"{costs.ae_capacity_per_week:g}/week"
        f" ({'within' if within_capacity(truth, tuned_truth) else 'OVER'} capacity)"
    )


def handoff_worth(replay: Replay, outcome: Outcome) -> pd.Series:
    """What each handed-off lead is worth to `replay` (by lead position): net value plus costs."""
    frame, costs = outcome.handoffs, replay.costs
    return (
        frame["net_value"]
        + frame["sdr_load"] * costs.sdr_cost_per_mql
        + frame["ae_load"] * costs.ae_cost_per_sql
    )


def _policy(policy: Policy) -> str:
    return f"MQL >= {policy.mql:,.0f}, SQL >= {policy.sql:,.0f}, fit >= {policy.min_fit:g}"


def _ratio(a: Outcome, b: Outcome) -> str:
    return f"{a.net_value / b.net_value:.3f}" if b.net_value > 0 else "inf (baseline <= 0)"


if __name__ == "__main__":
    main()
