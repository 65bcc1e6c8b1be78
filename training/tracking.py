"""MLflow runs of training: one run per training (config, data, metrics, plots, model) and the
registered version it makes, under its source's registered model (`registry.model_name`: the
config's `name`); the registry itself (aliases, champion) is `scoring.model.registry`."""

from __future__ import annotations

import json
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

import scoring
from scoring.config import Config
from scoring.model.predict import input_columns, score_table
from scoring.model.registry import (
    SOURCE_TAG,
    load_scorer,
    model_name,
    registered_version,
    setup,
)
from scoring.model.scorer import LeadScorer
from scoring.monitoring.page.inputs import CARD_FILE
from training.dataset_input import training_set
from training.pipeline.card import jsonable, model_card
from training.pipeline.run import TrainResult
from training.thresholds.plots import pareto_plot, weekly_plot
from training.thresholds.replay import Replay
from training.thresholds.study import TuneResult
from training.thresholds.whatif import threshold_card

PACKAGES = ("lightgbm", "scikit-learn", "pandas", "numpy", "mlflow", "shap", "optuna", "bentoml")
_MODEL_CODE = Path(scoring.__file__).parent / "model" / "mlflow_model.py"
# What the pyfunc's code (scoring/, shipped as code_paths) imports, pinned to the versions
# installed here. Declared, not inferred: MLflow's inference loads the model in a subprocess
# (~5 s a training) and names the editable `leadscore` (not on any index) and scikit-learn
# (LightGBM imports it when present) instead. tests/scoring/model/test_predict.py loads the model
# with nothing else importable.
PYFUNC_PACKAGES = (
    "mlflow-skinny", "lightgbm", "numpy", "pandas", "pyarrow", "pydantic", "pyyaml", "sqlalchemy"
)  # fmt: skip


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(scoring.__file__).parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            cwd=Path(scoring.__file__).parent,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _flat_metrics(result: TrainResult) -> dict[str, float]:
    flat = {f"{model}_{k}": v for model, vals in result.metrics.items() for k, v in vals.items()}
    flat |= {f"calibration_logloss_{k}": v for k, v in result.calibration_losses.items()}
    return {k: float(v) for k, v in flat.items() if pd.notna(v)}


def input_signature(cfg: Config, output: pd.DataFrame) -> ModelSignature:
    """Columns of type Any: the lead id is required, every field, `as_of` and `events` may be
    left out. Any, not "string": MLflow (3.17) enforces a declared type before `predict` runs
    and refuses an int64, bool or datetime column declared "string" ("Incompatible input types"),
    so converting in `predict` would never be reached; nor typed columns, which would refuse the
    strings a CRM sends. With Any, MLflow checks the column names and passes strings and typed
    values through, and `score_table` parses both the same way (`scoring.model.predict`)."""
    columns = [ColSpec(AnyType(), c, required=c == cfg.leads.id) for c in input_columns(cfg)]
    columns += [ColSpec(AnyType(), "as_of", required=False)]
    if cfg.events is not None:
        columns += [ColSpec(AnyType(), "events", required=False)]
    return ModelSignature(inputs=Schema(columns), outputs=infer_signature(output).inputs)


def input_example(cfg: Config) -> pd.DataFrame:
    """A lead the way a CRM sends it: raw fields as strings, recent events as JSON."""
    example = {c: "" for c in input_columns(cfg)} | {cfg.leads.id: "example-1"}
    example["as_of"] = "2025-06-01T10:05:00Z"
    if cfg.events is not None:
        types = list(cfg.events.types)
        example["events"] = json.dumps([{"type": types[0], "timestamp": "2025-06-01T10:00:00Z"}])
    return pd.DataFrame([example])


def log_training(
    result: TrainResult,
    plots: dict[str, Path],
    register: bool,
    tuning: tuple[TuneResult, Replay] | None = None,
) -> tuple[str, str | None]:
    """Log the run (config, data fingerprint, code and package versions, metrics, plots, model);
    register a version when `register`; with `tuning`, the threshold study that set the model's
    cut-offs too. Returns (run id, version or None)."""
    cfg = result.config
    setup()
    with mlflow.start_run() as run:
        mlflow.set_tags(
            {
                "source": cfg.name,
                "code_version": code_version(),
                "gate": "passed" if result.gate.passed else "refused",
            }
        )
        mlflow.log_dict(cfg.stored(), "config.json")
        mlflow.log_dict({p: metadata.version(p) for p in PACKAGES}, "packages.json")
        mlflow.log_params(
            {
                "source": cfg.name,
                "weighting": cfg.training.weighting,
                "weighting_used": result.weighting,
                "deal_size_basis": result.scorer.deal_size.basis,
                "weight_power": cfg.training.weight_power,
                "seed": cfg.training.seed,
                "calibration": result.scorer.calibration.method,
                "calibration_choice": result.scorer.metadata.get("calibration", ""),
                "recipe": result.scorer.metadata.get("recipe", "")[:500],
                "cross_folds": cfg.training.cross_folds,
                "refit": result.registered.metadata.get("refit", "none: the evaluated model")[:500],
                "probability_bound": result.scorer.calibration.bound,
                "leads": len(result.data.label),
                "win_rate": round(float(result.data.label.mean()), 4),
                "data_fingerprint": result.data.fingerprint(),
            }
        )
        dataset = training_set(
            result.data.features.assign(
                label=result.data.label, fold=result.data.fold
            ).reset_index(),
            name=f"{cfg.name}-training-set",
            digest=result.data.fingerprint(),
            target="label",
        )
        mlflow.log_input(dataset, context="training")
        mlflow.log_metrics(_flat_metrics(result))
        mlflow.log_text(result.gate.message, "quality_gate.txt")
        if result.check is not None:
            mlflow.log_text(result.check.to_text(), "data_check.txt")
            suspects = ",".join(sorted(result.check.suspects)) or "none"
            mlflow.set_tags({"leak_suspects": suspects[:250]})
        for path in plots.values():
            mlflow.log_artifact(str(path), "plots")
        log_search(result.scorer.metadata.get("search", {}))
        if tuning is not None:
            log_tuning(*tuning)
        card = training_card(result, tuning)
        log_report(card, "report/report.html")
        version = _log_model(result.registered, register, card=card)
        if version and tuning is not None:
            MlflowClient().set_model_version_tag(
                model_name(result.scorer.config.name), version, "thresholds", tuning[0].study_name
            )
        return run.info.run_id, version


def training_card(result: TrainResult, tuning: tuple[TuneResult, Replay] | None) -> dict:
    """The model card of a training (`training.pipeline.card`), with its threshold study."""
    card = model_card(result, code_version())
    if tuning is not None:
        card["thresholds"] = jsonable(threshold_card(*tuning))
    return card


def log_report(card: dict, path: str) -> None:
    """The report page of `card` (model card and thresholds; no monitoring at training) as an
    HTML artifact of the active run, the same page `/report` and `leadscore report page` give."""
    from scoring.monitoring.page.render import PageInputs, render_page

    why = {
        k: "no lead database at training: the service's /report and `leadscore report page` show it"
        for k in ("funnel", "sla")
    }
    why["monitoring"] = "no monitoring at training: run `leadscore monitor` once it serves"
    inputs = PageInputs(
        source=card["source"],
        card=card,
        generated_at=card.get("created_at", "").replace("T", " ").rstrip("Z"),
        why=why,
    )
    mlflow.log_text(render_page(inputs), path)


def pyfunc_parts(scorer: LeadScorer, scorer_dir: Path) -> dict:
    """What the registered pyfunc is made of, as `mlflow.pyfunc.log_model` and `save_model` take
    it: the model code, the scorer saved in `scorer_dir`, the runtime package, the signature, an
    input example and the pinned requirements."""
    example = input_example(scorer.config)
    return {
        "python_model": str(_MODEL_CODE),
        "artifacts": {"scorer": str(scorer_dir)},
        "code_paths": [str(Path(scoring.__file__).parent)],
        "signature": input_signature(scorer.config, score_table(scorer, example)),
        "input_example": example,
        "pip_requirements": pyfunc_requirements(),
    }


def pyfunc_requirements() -> list[str]:
    """`PYFUNC_PACKAGES` pinned to this environment's versions (the model's requirements.txt)."""
    return [f"{name}=={metadata.version(name)}" for name in PYFUNC_PACKAGES]


def _log_model(
    scorer: LeadScorer, register: bool, name: str = "model", card: dict | None = None
) -> str | None:
    """Log the scorer as the pyfunc model of the active run, its model card (`card.json`) in
    the scorer folder; when `register`, register it under its source's model, the version
    tagged with the source."""
    cfg = scorer.config
    registered = model_name(cfg.name)  # a name that cannot be registered fails before logging
    with tempfile.TemporaryDirectory() as tmp:
        scorer_dir = Path(tmp) / "scorer"
        scorer.save(scorer_dir)
        if card is not None:
            (scorer_dir / CARD_FILE).write_text(json.dumps(card, allow_nan=False))
        info = mlflow.pyfunc.log_model(
            name=name,
            registered_model_name=registered if register else None,
            **pyfunc_parts(scorer, scorer_dir),
        )
    if not register:
        return None
    version = str(info.registered_model_version)
    MlflowClient().set_model_version_tag(registered, version, SOURCE_TAG, cfg.name)
    return version


def log_search(search: dict) -> None:
    """Each trial of the booster search as a child run of the active run: the part, its
    settings, its level-free log loss on the held-out blocks and the rounds they chose."""
    for part, found in search.items():
        for trial in found["trials"]:
            with mlflow.start_run(run_name=f"search-{part}-{trial['number']}", nested=True):
                mlflow.set_tag("search_part", part)
                mlflow.log_params(trial["params"] | {"part": part})
                loss = trial["level_free_log_loss"]
                mlflow.log_metrics({"level_free_log_loss": loss, "rounds": trial["rounds"] or 0})


def log_tuning(tuning: TuneResult, replay: Replay) -> None:
    """The threshold study on the active run: chosen cut-offs, net value and load as metrics;
    summary, trials, weekly figures, costs and plots under thresholds/<study>/."""
    folder = f"thresholds/{tuning.study_name}"
    p, load, speed = tuning.policy, tuning.load, tuning.speed
    timing = {"handoff_early_share": speed.early_share} if speed else {}
    if speed and speed.median_wait_hours is not None:
        timing["handoff_wait_hours"] = speed.median_wait_hours
    figures = {"threshold_mql": p.mql, "threshold_sql": p.sql}
    if tuning.tunes_min_fit:
        figures["threshold_min_fit"] = p.min_fit
    figures["handoff_net_value"] = tuning.outcome.net_value
    if load.known:  # no dates and no costs.leads_per_week: no weekly load to log
        figures |= {
            "handoff_sdr_per_week": load.sdr_per_week,
            "handoff_ae_per_week": load.ae_per_week,
        }
    mlflow.log_metrics(figures | timing)
    if tuning.degenerate is not None:
        mlflow.set_tag("thresholds_degenerate", tuning.degenerate[:250])
    mlflow.log_dict(tuning.summary(), f"{folder}/summary.json")
    mlflow.log_dict(replay.costs.model_dump(mode="json"), f"{folder}/costs.json")
    mlflow.log_text(tuning.trials_frame().to_csv(index=False), f"{folder}/trials.csv")
    if replay.dated:
        weekly = tuning.outcome.weekly * replay.scale
        mlflow.log_text(weekly.to_csv(), f"{folder}/weekly.csv")
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.log_artifact(str(pareto_plot(tuning, Path(tmp) / "pareto.png")), folder)
        mlflow.log_artifact(str(weekly_plot(tuning, replay, Path(tmp) / "weekly.png")), folder)


def register_retuned(
    client: MlflowClient, version: str, scorer: LeadScorer, tuning: TuneResult, replay: Replay
) -> str:
    """A new version with the same boosters and the tuned thresholds, logged (with its study) in
    the run of `version`, so its metrics and plots sit beside the models they belong to."""
    source = scorer.config.name
    _, run_id = load_scorer(client, version, source=source)
    tuned = scorer.with_thresholds(tuning.thresholds())
    card = retuned_card(logged_card(client, version, source), tuned, tuning, replay)
    with mlflow.start_run(run_id=run_id):
        log_tuning(tuning, replay)
        name = f"model-{tuning.study_name}"
        log_report(card, f"report/{name}/report.html")
        new = _log_model(tuned, register=True, name=name, card=card)
    assert new is not None
    name = model_name(source)
    client.set_model_version_tag(name, new, "boosters_from_version", version)
    client.set_model_version_tag(name, new, "thresholds", tuning.study_name)
    return new


def logged_card(client: MlflowClient, version: str, source: str) -> dict | None:
    """The model card a registered version was logged with (None: logged before cards)."""
    mv = registered_version(client, version, source=source)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=tmp)
        found = Path(path) / "artifacts" / "scorer" / CARD_FILE
        return json.loads(found.read_text()) if found.is_file() else None


def retuned_card(card: dict | None, scorer: LeadScorer, tuning: TuneResult, replay: Replay) -> dict:
    """The card of a version re-tuned from another: its card (what the boosters learnt is
    unchanged) with the new study and cut-offs; a bare one when the other had none."""
    cfg, t = scorer.config, scorer.thresholds
    base = card or {
        "card_version": 1,
        "source": cfg.name,
        "registered_model": model_name(cfg.name),
        "recipe": scorer.metadata.get("recipe", ""),
        "missing": "the version these boosters come from was logged before model cards",
    }
    cutoffs = {"mql": t.mql, "sql": t.sql, "min_fit": t.min_fit, "source": t.source}
    return base | {
        "cutoffs_in_use": cutoffs,
        "thresholds": jsonable(threshold_card(tuning, replay)),
    }
