"""Plots of a threshold study: the Pareto front (net value vs sales workload) and the chosen
policy's net value and team load week by week."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from training.pipeline.plots import save_figure
from training.thresholds.replay import Replay
from training.thresholds.study import TuneResult


def pareto_plot(tuning: TuneResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(
        [t.workload for t in tuning.trials],
        [t.net_value for t in tuning.trials],
        s=8,
        alpha=0.35,
        label="trials",
    )
    front = tuning.pareto
    ax.plot([t.workload for t in front], [t.net_value for t in front], "o-", label="Pareto front")
    out = tuning.outcome
    weekly = tuning.load.known
    chosen = (
        tuning.load.sdr_per_week + tuning.load.ae_per_week if weekly else out.mqls + out.ae_load
    )
    ax.scatter([chosen], [out.net_value], s=90, marker="*", c="red", label="chosen")
    ax.set(
        xlabel="sales workload (SDR reviews + AE SQLs "
        + ("per week)" if weekly else "over the held-out leads)"),
        ylabel="net value of held-out leads",
        title="Threshold study",
    )
    ax.legend()
    return save_figure(fig, path)


def weekly_plot(tuning: TuneResult, replay: Replay, path: Path) -> Path:
    if not replay.dated:
        return _undated_plot(path)
    weekly = tuning.outcome.weekly * replay.scale
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    top.bar(weekly.index, weekly["net_value"], width=5)
    top.set(ylabel="net value / week", title="Chosen policy, week by week (scaled to all leads)")
    bottom.plot(weekly.index, weekly["sdr_load"], label="SDR reviews")
    bottom.plot(weekly.index, weekly["ae_load"], label="AE SQLs")
    bottom.axhline(replay.costs.sdr_capacity_per_week, ls="--", c="C0", lw=1)
    bottom.axhline(replay.costs.ae_capacity_per_week, ls="--", c="C1", lw=1)
    bottom.set(ylabel="leads / week")
    bottom.legend()
    return save_figure(fig, path)


def _undated_plot(path: Path) -> Path:
    """Without creation dates there are no weeks to plot: the figure says so (the run keeps
    its usual artifacts)."""
    fig, ax = plt.subplots(figsize=(7, 2))
    ax.axis("off")
    ax.text(
        0.5,
        0.5,
        "No weekly figures: the data has no creation dates\n"
        "(costs.leads_per_week gives the weekly load against capacity)",
        ha="center",
        va="center",
    )
    return save_figure(fig, path)
