"""Plots logged with every run: calibration, gains, SHAP summaries, feature importance."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import shap

from training.pipeline.run import TrainResult


def calibration_plot(result: TrainResult, path: Path, bins: int = 10) -> Path:
    y = result.data.part("test").label.to_numpy()
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name in ("combined", "logistic_regression"):
        p = result.predictions[name]
        chunks = np.array_split(np.argsort(p), bins)
        px, py = [p[c].mean() for c in chunks], [y[c].mean() for c in chunks]
        ax.plot(px, py, marker="o", label=name)
        top = max(top, *px, *py)
    ax.plot([0, top], [0, top], "k--", lw=1, label="perfect")
    ax.set(
        xlabel="predicted win probability", ylabel="observed win rate", title="Calibration (test)"
    )
    ax.legend()
    return save_figure(fig, path)


def gains_plot(result: TrainResult, path: Path) -> Path:
    test = result.data.part("test")
    y = test.label.to_numpy()
    value = np.where(y == 1, test.amount.fillna(0).to_numpy(), 0.0)
    fig, ax = plt.subplots(figsize=(6, 5))
    share = np.arange(1, len(y) + 1) / len(y)
    for name, p in result.predictions.items():
        order = np.argsort(-p, kind="stable")
        ax.plot(share, np.cumsum(y[order]) / max(y.sum(), 1), label=f"{name} (wins)")
    order = np.argsort(-result.predictions["combined"], kind="stable")
    if value.sum() > 0:
        ax.plot(share, np.cumsum(value[order]) / value.sum(), "k:", label="combined (revenue)")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="random")
    ax.set(
        xlabel="share of leads, best scores first", ylabel="share captured", title="Gains (test)"
    )
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def shap_plots(result: TrainResult, folder: Path, sample: int = 2000) -> list[Path]:
    paths = []
    test = result.data.part("test").features
    rows = test.iloc[:sample]
    for name, part in result.scorer.parts.items():
        x = part.encoder.transform(rows)
        contrib = part.booster.predict(x, pred_contrib=True)[:, :-1]  # exact TreeSHAP, log-odds
        plt.figure()
        shap.summary_plot(
            contrib,
            x,
            feature_names=list(part.encoder.names),
            show=False,
            max_display=15,
            rng=np.random.default_rng(0),
        )
        plt.title(f"SHAP summary: {name} model")
        paths.append(save_figure(plt.gcf(), folder / f"shap_{name}.png"))
        fig, ax = plt.subplots(figsize=(6, 5))
        gain = part.booster.feature_importance("gain")
        order = np.argsort(gain)[-15:]
        ax.barh(np.asarray(part.encoder.names)[order], gain[order])
        ax.set(title=f"Feature importance (gain): {name} model")
        paths.append(save_figure(fig, folder / f"importance_{name}.png"))
    return paths


def all_plots(result: TrainResult, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        calibration_plot(result, folder / "calibration.png"),
        gains_plot(result, folder / "gains.png"),
    ]
    paths += shap_plots(result, folder)
    return {p.stem: p for p in paths}


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
