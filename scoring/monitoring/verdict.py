"""From monitoring figures to checks against the `monitor:` limits, and a verdict that says why.

Verdicts: `ok`; `retrain_recommended` (calibration, ranking or drift breached: the model no
longer describes the leads); `retune_recommended` (only the load: the cut-offs send the teams
more than they can work, `leadscore tune-thresholds`); `insufficient_data` (nothing could be
judged yet, or the model cannot be monitored)."""

from __future__ import annotations

from scoring.config import Config

OK, RETRAIN, RETUNE, INSUFFICIENT = (
    "ok",
    "retrain_recommended",
    "retune_recommended",
    "insufficient_data",
)
MODEL_CHECKS = ("calibration", "ranking", "score_drift", "feature_drift")


def _check(name: str, status: str, value: float | None, limit: float | None, why: str) -> dict:
    return {"check": name, "status": status, "value": value, "limit": limit, "why": why}


def _calibration_checks(cfg: Config, result: dict, ref: dict) -> list[dict]:
    spec, found = cfg.monitor, result.get("calibration")
    closed = result.get("closed", 0)
    if found is None or closed < spec.min_closed or found["auc"] is None:
        why = f"{closed:,} leads closed since training; calibration needs {spec.min_closed:,}"
        return [
            _check("calibration", "skipped", None, None, why),
            _check("ranking", "skipped", None, None, why),
        ]
    ece, low = found["ece"], found["ece_low"]
    ratio, limit = found["rate_ratio"], spec.rate_ratio
    shifted = found["rate_ratio_low"] > limit or found["rate_ratio_high"] < 1 / limit
    breach = low > spec.ece_limit or shifted
    cal_why = (
        f"ECE {ece:.3f} (90% interval {low:.3f}-{found['ece_high']:.3f}) on {closed:,} closed "
        f"leads: they won {found['observed_rate']:.1%}, the model predicted "
        f"{found['predicted_rate']:.1%} ({ratio:.2f}x)"
    )
    if low > spec.ece_limit:
        cal_why += f"; ECE above the limit {spec.ece_limit:g}"
    if shifted:
        cal_why += f"; the base rate moved beyond {limit:g}x of the predicted"
    floor = ref["test_roc_auc"] - spec.auc_drop
    auc_breach = found["auc_high"] < floor
    rank_why = (
        f"ROC AUC {found['auc']:.3f} (90% interval {found['auc_low']:.3f}-{found['auc_high']:.3f}) "
        f"against {ref['test_roc_auc']:.3f} on the test fold"
        + (f"; below {floor:.3f} (test - {spec.auc_drop:g})" if auc_breach else "")
    )
    return [
        _check("calibration", "breach" if breach else "ok", ece, spec.ece_limit, cal_why),
        _check("ranking", "breach" if auc_breach else "ok", found["auc"], floor, rank_why),
    ]


def _drift_checks(cfg: Config, result: dict) -> list[dict]:
    spec, drift, leads = cfg.monitor, result.get("drift"), result.get("leads", 0)
    if drift is None or leads < spec.min_leads:
        why = f"{leads:,} leads scored since training; drift needs {spec.min_leads:,}"
        return [
            _check("score_drift", "skipped", None, None, why),
            _check("feature_drift", "skipped", None, None, why),
        ]
    score = drift["score_psi"]
    score_breach = score > spec.score_psi_limit
    score_why = f"win probability PSI {score:.3f} on {leads:,} new leads" + (
        f"; above {spec.score_psi_limit:g}" if score_breach else ""
    )
    over = [f for f in drift["features"] if f["psi"] > spec.feature_psi_limit]
    top = drift["features"][0] if drift["features"] else None
    if over:
        named = "; ".join(
            f"{f['feature']} PSI {f['psi']:.2f} (missing {f['missing_reference']:.0%} -> "
            f"{f['missing_now']:.0%})"
            for f in over[:5]
        )
        feature_why = f"{len(over)} feature(s) above PSI {spec.feature_psi_limit:g}: {named}"
    else:
        feature_why = (
            f"largest feature PSI {top['psi']:.3f} ({top['feature']})" if top else "no features"
        )
    return [
        _check(
            "score_drift",
            "breach" if score_breach else "ok",
            score,
            spec.score_psi_limit,
            score_why,
        ),
        _check(
            "feature_drift",
            "breach" if over else "ok",
            top["psi"] if top else None,
            spec.feature_psi_limit,
            feature_why,
        ),
    ]


def _load_check(cfg: Config, result: dict) -> dict:
    load, share = result.get("load"), cfg.monitor.load_limit
    if not load or load["mql_per_week"] is None:
        return _check("load", "skipped", None, None, "no whole week of new leads yet")
    mql, sql = load["mql_per_week"], load["sql_per_week"]
    sdr, ae = load["sdr_capacity"] * share, load["ae_capacity"] * share
    ratio = max(mql / sdr, sql / ae)
    why = (
        f"last {cfg.monitor.load_weeks} weeks: {mql:,.1f} MQLs a week for {sdr:,.0f} SDR reviews, "
        f"{sql:,.1f} SQLs for {ae:,.0f} AE slots"
    )
    return _check("load", "breach" if ratio > 1 else "ok", ratio, 1.0, why)


def _challenger_note(result: dict) -> str | None:
    found = result.get("challenger")
    if not found or found.get("better") is None:
        return None
    version = found["version"]
    if found["better"]:
        return (
            f"challenger {version} ranks better on {found['closed']:,} closed leads (ROC AUC "
            f"{found['challenger']['auc']:.3f} vs {found['champion']['auc']:.3f}) and earns at "
            "least as much under its cut-offs: consider promoting it"
        )
    return f"challenger {version} is not clearly better on {found['closed']:,} closed leads"


def judge(cfg: Config, result: dict, ref: dict | None, unusable: str | None = None) -> dict:
    """`result` with its checks, verdict and reasons."""
    if unusable is not None:
        check = _check("model", "skipped", None, None, unusable)
        return result | {"checks": [check], "verdict": INSUFFICIENT, "reasons": [unusable]}
    assert ref is not None
    checks = [
        *_calibration_checks(cfg, result, ref),
        *_drift_checks(cfg, result),
        _load_check(cfg, result),
    ]
    breached = [c for c in checks if c["status"] == "breach"]
    if any(c["check"] in MODEL_CHECKS for c in breached):
        verdict = RETRAIN
    elif breached:
        verdict = RETUNE
    elif all(c["status"] == "skipped" for c in checks):
        verdict = INSUFFICIENT
    else:
        verdict = OK
    reasons = [f"{c['check']}: {c['why']}" for c in breached]
    if verdict == INSUFFICIENT:
        reasons = list(dict.fromkeys(c["why"] for c in checks))
    if (note := _challenger_note(result)) is not None:
        reasons.append(note)
    return result | {"checks": checks, "verdict": verdict, "reasons": reasons}
