"""Threshold study: Optuna picks the MQL and SQL cut-offs (and a minimum fit score, when the
model scores fit) that maximise the replayed net value of handoffs, within SDR and AE capacity.

Single objective: maximise net value; capacity enters as constraints (`trial.set_constraint`,
feasible when <= 0; none when the weekly flow of leads is unknown). Pareto mode: maximise net
value and minimise the sales workload (SDR reviews + AE SQLs a week, or over the replayed leads
without a weekly flow), returning the front; the chosen policy is its best feasible point.
Studies are seeded and resumable: the same name in the same storage continues where it stopped.
A chosen policy that hands off (almost) nobody comes back marked `degenerate`, with the reason.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import optuna
import pandas as pd

from scoring.model.scorer import Thresholds
from training.thresholds.replay import Load, Outcome, Policy, Replay, SpeedToLead
from training.thresholds.response import response_summary
from training.thresholds.units import format_amount

MIN_FIT_STEP = 5
MAX_MIN_FIT = 80
LANES = ("sdr_and_ae", "ae_only")
REFINE_EVERY = 4  # the last quarter of the trials refines around the best feasible policy
REFINE_WIDTH = 1.6  # first refinement round: MQL cut-offs within 1/1.6..1.6x; halved each round
MIN_REFINE_WIDTH = 1.02
MIN_HANDOFF_SHARE = 0.01  # a policy handing off fewer of the replayed leads is degenerate


@dataclass(frozen=True)
class Trial:
    number: int
    policy: Policy
    net_value: float
    sdr_per_week: float
    ae_per_week: float
    mqls: int
    sqls: int
    replayed_work: float = np.nan  # SDR reviews + AE SQLs over the replayed leads

    @property
    def workload(self) -> float:
        """SDR reviews + AE SQLs a week; over the replayed leads when no weekly flow is known."""
        weekly = self.sdr_per_week + self.ae_per_week
        return weekly if np.isfinite(weekly) else self.replayed_work

    def feasible(self, replay: Replay) -> bool:
        return replay.within_capacity(Load(self.sdr_per_week, self.ae_per_week))


@dataclass(frozen=True)
class TuneResult:
    policy: Policy
    outcome: Outcome
    load: Load
    study_name: str
    mode: str  # replay mode: "timeline" or "static"
    objective: str  # "net_value" or "pareto"
    trials: list[Trial]
    pareto: list[Trial]  # non-dominated feasible trials (net value up, workload down)
    speed: SpeedToLead | None  # when the chosen policy's calls come (None: static replay)
    # why the chosen policy is not worth serving (it hands off almost nobody); None when it is:
    # register it only when asked to
    degenerate: str | None = None
    tunes_min_fit: bool = True  # False: the model has no fit score, the minimum stays 0
    unit: str = ""  # what amounts are counted in, after a number: "" money, or "won deals"
    # per lane (sdr, ae): the response hours the replay used and where they come from
    # (`response.response_summary`: measured from feedback, or configured)
    response_times: dict = field(default_factory=dict)
    # what else the sales feedback changed in the replay (`Replay.notes`)
    feedback: dict = field(default_factory=dict)

    def thresholds(self) -> Thresholds:
        p = self.policy
        return Thresholds(mql=p.mql, sql=p.sql, min_fit=p.min_fit, source="tuned")

    def cutoffs(self) -> dict[str, float]:
        """The tuned cut-offs by name (no minimum fit score when the study did not tune one)."""
        cuts = asdict(self.policy)
        return cuts if self.tunes_min_fit else {k: v for k, v in cuts.items() if k != "min_fit"}

    def summary(self) -> dict:
        known = self.load.known
        return {
            "study": self.study_name,
            "objective": self.objective,
            "replay": self.mode,
            "trials": len(self.trials),
            "thresholds": self.cutoffs(),
            "unit": self.unit or None,
            "degenerate": self.degenerate,
            "net_value": self.outcome.net_value,
            "revenue": self.outcome.revenue,
            "sdr_cost": self.outcome.sdr_cost,
            "ae_cost": self.outcome.ae_cost,
            "mqls": self.outcome.mqls,
            "sqls": self.outcome.sqls,
            "sdr_per_week": self.load.sdr_per_week if known else None,
            "ae_per_week": self.load.ae_per_week if known else None,
            "speed_to_lead": asdict(self.speed) if self.speed else None,
            "response_times": self.response_times,
            "feedback": self.feedback or None,
            "pareto": [
                asdict(t.policy) | {"net_value": t.net_value, "workload": t.workload}
                for t in self.pareto
            ],
        }

    def trials_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [asdict(t.policy) | asdict(t) | {"workload": t.workload} for t in self.trials]
        ).drop(columns="policy")


def search_range(replay: Replay) -> tuple[float, float]:
    """Cut-offs worth trying: from the 5th percentile of expected revenue along the timeline to
    just above its maximum (which hands off nobody: always within capacity)."""
    values = replay.timeline.revenue[np.isfinite(replay.timeline.revenue)]
    lo = max(float(np.quantile(values, 0.05)), 1e-6)
    return lo, max(float(values.max()) * 1.01, lo * 10)


def suggest_policy(trial: optuna.Trial, lo: float, hi: float, min_fit: bool = True) -> Policy:
    """The search space: the MQL cut-off, whether leads may go straight to an AE, the SQL
    cut-off as a multiple of the MQL one, and the minimum fit score (only when the model scores
    fit). Lanes are a choice of its own because "every handoff goes to an AE" (sql = mql) and
    "SDRs screen first" are separate optima that a continuous SQL cut-off rarely lands on."""
    mql = trial.suggest_float("mql", lo, hi, log=True)
    if trial.suggest_categorical("lanes", LANES) == "ae_only":
        ratio = 1.0
    else:
        ratio = trial.suggest_float("sql_ratio", 1.0, max(hi / lo, 1.0), log=True)
    fit = trial.suggest_int("min_fit", 0, MAX_MIN_FIT, step=MIN_FIT_STEP) if min_fit else 0
    return Policy(mql=mql, sql=min(mql * ratio, hi), min_fit=float(fit))


def _with_fit(params: dict, min_fit: int | None) -> dict:
    return params if min_fit is None else params | {"min_fit": min_fit}


def starting_design(lo: float, hi: float, min_fit: bool = True) -> list[dict]:
    """Trials run before TPE takes over: a coarse grid over both lanes (the landscape has
    several basins; random starts find one of them, this finds each), and the policy that hands
    off nobody, which is always within capacity. Without a fit score, no minimum fit score."""
    fits: tuple[int | None, ...] = (0, MAX_MIN_FIT // 2, MAX_MIN_FIT) if min_fit else (None,)
    ratios = sorted({min(r, max(hi / lo, 1.0)) for r in (1.5, 4.0, 16.0)})  # within the range
    design: list[dict] = [_with_fit({"mql": hi, "lanes": "ae_only"}, fits[0])]
    for mql in np.geomspace(lo, hi, 9)[:-1]:
        for fit in fits:
            design.append(_with_fit({"mql": float(mql), "lanes": "ae_only"}, fit))
            design += [
                _with_fit({"mql": float(mql), "lanes": "sdr_and_ae", "sql_ratio": r}, fit)
                for r in ratios
            ]
    return design


def replay_fingerprint(replay: Replay) -> str:
    """What prices a policy beyond the model and data: the costs, when each lead was ready
    (`events.ready`) and the history's contact delays. A study resumes only when all match."""
    costs = replay.costs.model_dump(mode="json")
    if costs["leads_per_week"] is None:  # a key added later: studies named before it resume
        del costs["leads_per_week"]
    digest = hashlib.sha256(json.dumps(costs, sort_keys=True).encode())
    for values in (replay.ready, replay.delays):
        digest.update(b"-" if values is None else np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:10]


def _objective(replay: Replay, lo: float, hi: float, pareto: bool):
    min_fit = replay.has_fit

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        policy = suggest_policy(trial, lo, hi, min_fit)
        outcome = replay.evaluate(policy)
        load = replay.load(outcome)
        trial.set_user_attr("policy", asdict(policy))
        trial.set_user_attr("outcome", [outcome.mqls, outcome.sqls])
        trial.set_user_attr("load", [load.sdr_per_week, load.ae_per_week])
        trial.set_user_attr("replayed_work", outcome.mqls + outcome.ae_load)
        sdr_excess, ae_excess = replay.capacity_excess(load)
        trial.set_constraint("sdr_capacity", sdr_excess)
        trial.set_constraint("ae_capacity", ae_excess)
        if pareto:
            return outcome.net_value, _trial_workload(load, outcome)
        return outcome.net_value

    return objective


def _trial_workload(load: Load, outcome: Outcome) -> float:
    if load.known:
        return load.sdr_per_week + load.ae_per_week
    return outcome.mqls + outcome.ae_load


def _trial(frozen: optuna.trial.FrozenTrial) -> Trial:
    attrs = frozen.user_attrs
    return Trial(
        frozen.number,
        Policy(**attrs["policy"]),
        float(frozen.values[0]),
        *map(float, attrs["load"]),
        *map(int, attrs["outcome"]),
        float(attrs.get("replayed_work", np.nan)),
    )


def pareto_front(trials: list[Trial]) -> list[Trial]:
    """Trials no other trial beats on both net value (higher) and workload (lower)."""
    ordered = sorted(trials, key=lambda t: (t.workload, -t.net_value))
    front, best = [], -np.inf
    for t in ordered:
        if t.net_value > best:
            front.append(t)
            best = t.net_value
    return front


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def _local_trials(
    study: optuna.Study, replay: Replay, lo: float, hi: float, width: float
) -> list[dict]:
    """The refinement round around the best feasible trial (none before one is feasible, or
    once the round is narrower than 2%)."""
    feasible = [t for t in _complete(study) if _trial(t).feasible(replay)]
    best = max(feasible, key=lambda t: t.values[0], default=None)
    if best is None or width < MIN_REFINE_WIDTH:
        return []
    return local_design(best.params, lo, hi, width)


def _untried(study: optuna.Study, design: list[dict]) -> list[dict]:
    """The design points no trial of the study holds yet (each once); a trial enqueued but not
    run yet holds its point in `fixed_params` only."""
    seen = {_key(t.params or t.system_attrs.get("fixed_params", {})) for t in study.trials}
    fresh = []
    for params in design:
        if _key(params) not in seen:
            seen.add(_key(params))
            fresh.append(params)
    return fresh


def _key(params: dict) -> tuple:
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


def local_design(params: dict, lo: float, hi: float, width: float) -> list[dict]:
    """Trials around the best feasible policy: its MQL cut-off times [1/width, width] against
    nearby minimum fit scores (capacity binds along that ridge: a lower fit needs a higher
    cut-off), then the other lanes (straight to an AE, SQL cut-offs across the range and near
    the best one's) at MQL cut-offs close to its own. No minimum fit score when the best
    policy has none (the model scores no fit)."""
    mqls = np.clip(params["mql"] * np.geomspace(1 / width, width, 7), lo, hi)
    fit = params.get("min_fit")
    fits: list[int | None] = (
        [None]
        if fit is None
        else sorted({min(max(fit + d, 0), MAX_MIN_FIT) for d in (-10, -5, 0, 5, 10)})
    )
    top = max(hi / lo, 1.0)
    ratio = params.get("sql_ratio") if params["lanes"] == "sdr_and_ae" else None
    ratios = set(np.geomspace(1.25, top, 6)) | ({ratio / width, ratio * width} if ratio else set())
    lanes = [{"lanes": "sdr_and_ae", "sql_ratio": float(min(max(r, 1.0), top))} for r in ratios]
    lanes += [{"lanes": "ae_only"}] if ratio is not None else []
    best_lane = {k: v for k, v in params.items() if k in ("lanes", "sql_ratio")}
    near = [_with_fit(best_lane | {"mql": float(m)}, f) for f in fits for m in mqls]
    return near + [_with_fit(lane | {"mql": float(m)}, fit) for lane in lanes for m in mqls[2:5]]


def tune(
    replay: Replay,
    trials: int = 300,
    seed: int = 0,
    storage: optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    pareto: bool = False,
) -> TuneResult:
    """Run (or resume) the study and return the best policy within capacity."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    objective_name = "pareto" if pareto else "net_value"
    name = study_name or f"thresholds-{replay_fingerprint(replay)}-{objective_name}-seed{seed}"
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True),
        directions=["maximize", "minimize"] if pareto else ["maximize"],
    )
    lo, hi = search_range(replay)
    objective = _objective(replay, lo, hi, pareto)
    explore = trials - trials // REFINE_EVERY
    if not _complete(study):
        design = starting_design(lo, hi, replay.has_fit)
        # a short study keeps TPE half its trials: every k-th design point, spread over the grid
        step = max(1, -(-len(design) // max(explore // 2, 1)))
        for params in _untried(study, design[::step]):
            study.enqueue_trial(params)
    if explore > len(_complete(study)):
        study.optimize(objective, n_trials=explore - len(_complete(study)))
    width = REFINE_WIDTH
    while (left := trials - len(_complete(study))) > 0:
        local = _untried(study, _local_trials(study, replay, lo, hi, width))[:left]
        if not local:  # nothing new to try nearby: TPE for the rest
            study.optimize(objective, n_trials=left)
            break
        for params in local:
            study.enqueue_trial(params)
        waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in study.trials)
        study.optimize(objective, n_trials=min(left, waiting))
        width = 1 + (width - 1) / 2
    completed = [_trial(t) for t in _complete(study)]
    feasible = [t for t in completed if t.feasible(replay)]
    best = max(feasible, key=lambda t: t.net_value)
    outcome = replay.evaluate(best.policy)
    return TuneResult(
        policy=best.policy,
        outcome=outcome,
        load=replay.load(outcome),
        study_name=name,
        mode=replay.mode,
        objective=objective_name,
        trials=completed,
        pareto=pareto_front(feasible),
        speed=replay.speed_to_lead(outcome),
        degenerate=degenerate_reason(replay, outcome, completed),
        tunes_min_fit=replay.has_fit,
        unit=replay.unit,
        response_times=response_summary(replay.response, replay.costs),
        feedback=dict(replay.notes),
    )


def degenerate_reason(replay: Replay, outcome: Outcome, trials: list[Trial]) -> str | None:
    """Why a chosen policy that hands off fewer than 1% of the replayed leads is no policy to
    serve (None when it hands off more): capacity, when a policy handing off more would earn
    more but does not fit the teams; otherwise the costs, above what a handoff is worth."""
    leads = len(replay.revenue)
    handed = outcome.mqls + outcome.sqls
    if leads == 0 or handed >= MIN_HANDOFF_SHARE * leads:
        return None
    head = f"the study hands off {handed:,} of {leads:,} held-out leads ({handed / leads:.1%})"
    if any(t.net_value > outcome.net_value and not t.feasible(replay) for t in trials):
        return (
            f"{head}: handing off more would earn more but does not fit the teams' capacity "
            "(costs.sdr_capacity_per_week, costs.ae_capacity_per_week, costs.capacity_headroom)"
        )
    costs, unit = replay.costs, f" {replay.unit}" if replay.unit else ""
    passed_on = (1 - costs.sdr_reject_rate) * costs.ae_cost_per_sql  # a not-ready MQL, at best
    cheapest = min(costs.ae_cost_per_sql, costs.sdr_cost_per_mql + passed_on)
    top, median = _peak_revenue(replay)
    return (
        f"{head}: the costs are above what a handoff is worth (the cheapest handoff costs "
        f"{format_amount(cheapest)}{unit}; at its best a held-out lead is expected to bring at "
        f"most {format_amount(top)}{unit}, the median lead {format_amount(median)}): check that "
        "costs.sdr_cost_per_mql and costs.ae_cost_per_sql are in the unit of expected revenue"
    )


def _peak_revenue(replay: Replay) -> tuple[float, float]:
    """(highest, median) over the replayed leads of the expected revenue each reaches."""
    tl = replay.timeline
    peak = np.full(len(tl.lead_ids), -np.inf)
    np.maximum.at(peak, tl.lead, np.nan_to_num(tl.revenue, nan=-np.inf))
    peak = peak[np.isfinite(peak)]
    return (float(peak.max()), float(np.median(peak))) if len(peak) else (0.0, 0.0)


def within_capacity(replay: Replay, outcome: Outcome) -> bool:
    return replay.within_capacity(replay.load(outcome))


def _best_on(
    replay: Replay, mqls: np.ndarray, sqls: np.ndarray, min_fits: tuple[float, ...]
) -> tuple[Policy, Outcome] | None:
    best: tuple[Policy, Outcome] | None = None
    for mql in mqls:
        for sql in sqls[sqls >= mql]:
            for min_fit in min_fits:
                policy = Policy(float(mql), float(sql), float(min_fit))
                outcome = replay.evaluate(policy)
                if not within_capacity(replay, outcome):
                    continue
                if best is None or outcome.net_value > best[1].net_value:
                    best = (policy, outcome)
    return best


def grid_search(
    replay: Replay, points: int = 40, min_fits: tuple[float, ...] = (0.0, 20.0, 40.0, 60.0, 80.0)
) -> tuple[Policy, Outcome]:
    """Exhaustive search within capacity: a log grid of cut-offs (sql >= mql) x minimum fit
    scores, then a finer grid around the best cell. The oracle when the replay is valued by the
    ground truth. Without a fit score, no minimum fit score."""
    lo, hi = search_range(replay)
    cuts = np.geomspace(lo, hi, points)
    coarse = _best_on(replay, cuts, cuts, min_fits if replay.has_fit else (0.0,))
    assert coarse is not None  # the top cut-off hands off nobody: always feasible
    step = cuts[1] / cuts[0]
    policy = coarse[0]
    fine = [np.geomspace(c / step, c * step, 11) for c in (policy.mql, policy.sql)]
    refined = _best_on(replay, fine[0], fine[1], (policy.min_fit,))
    return max([coarse, refined] if refined else [coarse], key=lambda b: b[1].net_value)
