"""What a threshold study decided, in the words RevOps reads after `leadscore train
--tune-thresholds` and `leadscore tune-thresholds`: the cut-offs (with the precision they need,
in the unit of expected revenue), what they earn on the held-out leads, the weekly load, and a
warning when the policy hands off (almost) nobody."""

from __future__ import annotations

from training.thresholds.replay import Replay
from training.thresholds.study import TuneResult
from training.thresholds.units import format_amount


def _amount(value: float, unit: str) -> str:
    return f"{format_amount(value)} {unit}" if unit else format_amount(value)


def cutoffs_text(tuning: TuneResult) -> str:
    """The cut-offs in one line; the minimum fit score only when the study tuned one."""
    p = tuning.policy
    text = (
        f"MQL when expected revenue >= {_amount(p.mql, tuning.unit)}; "
        f"SQL when >= {format_amount(p.sql)}"
    )
    return text + (f"; minimum fit score {p.min_fit:g}" if tuning.tunes_min_fit else "")


def _lanes(tuning: TuneResult) -> str | None:
    out = tuning.outcome
    if out.mqls + out.sqls == 0:
        return None
    if out.mqls == 0:
        return "every handoff goes straight to an AE"
    if out.sqls == 0:
        return "every handoff goes through an SDR first (no held-out lead reached the SQL cut-off)"
    return None


def decision_text(tuning: TuneResult) -> str:
    """What the study decided, in a line or three: the cut-offs, which lane handoffs take when
    it is only one, and why the policy is not one to serve when it is degenerate."""
    lines = [cutoffs_text(tuning)]
    if (lanes := _lanes(tuning)) is not None:
        lines.append(lanes)
    if tuning.degenerate is not None:
        lines.append(f"not a policy to serve: {tuning.degenerate}")
    return "\n".join(lines)


def load_text(tuning: TuneResult, replay: Replay) -> str:
    """The weekly load against capacity, or why there is none."""
    load, costs = tuning.load, replay.costs
    if not load.known:
        return (
            "weekly load: unknown, so SDR and AE capacity were not applied (the data has no "
            "creation dates); set costs.leads_per_week to apply them"
        )
    source = " (flow from costs.leads_per_week)" if costs.leads_per_week is not None else ""
    return (
        f"weekly load: SDR {_count(load.sdr_per_week)} / {costs.sdr_capacity_per_week:g}, "
        f"AE {_count(load.ae_per_week)} / {costs.ae_capacity_per_week:g}{source}"
    )


def _count(per_week: float) -> str:
    """Leads a week: whole from 10 up, with the digits a small team's load needs below."""
    return f"{per_week:,.0f}" if per_week >= 10 else format_amount(per_week)


def _speed_text(tuning: TuneResult) -> str | None:
    speed = tuning.speed
    if speed is None:
        return None
    rest = (
        "none is called after it asked"
        if speed.median_wait_hours is None
        else f"the rest a median {speed.median_wait_hours:.1f} h after it asked"
    )
    return (
        f"speed to lead: {speed.early_share:.0%} of handoffs are called before the lead "
        f"was ready ({speed.never_ready_share:.0%} never showed it was); {rest}"
    )


def response_text(tuning: TuneResult) -> str | None:
    """Where the replay's response times come from: measured from feedback or configured."""
    times = tuning.response_times
    if not times:
        return None
    parts = [
        f"{name} {times[lane]['hours']:.3g} h, {times[lane]['text']}"
        for lane, name in (("sdr", "SDR"), ("ae", "AE"))
        if lane in times
    ]
    return "response times (handoff to first call): " + "; ".join(parts)


def _history_text(tuning: TuneResult) -> str | None:
    notes = tuning.feedback
    if not notes:
        return None
    text = f"the history's speed: {notes['history_speed']}"
    if notes.get("not_ready_leads"):
        text += (
            f"; {notes['not_ready_leads']:,} replayed leads an SDR sent back as not ready "
            "became ready at their next sign, not at their handoff"
        )
    return text


def tuning_text(tuning: TuneResult, replay: Replay) -> str:
    """What RevOps reads: the cut-offs, what they earn on held-out leads, the weekly load."""
    out, unit = tuning.outcome, tuning.unit
    nurtured = out.nurture_value
    lines = [
        f"threshold study {tuning.study_name}: {len(tuning.trials)} trials, replay {tuning.mode}",
        *decision_text(tuning).splitlines(),
        f"replayed on {len(replay.timeline.lead_ids):,} held-out leads: net value "
        f"{_amount(out.net_value, unit)} = value {format_amount(out.revenue)} (expected revenue "
        f"of the handoffs at the policy's speed {format_amount(out.revenue - nurtured)}, of the "
        f"leads left in nurture {format_amount(nurtured)}) - SDR {format_amount(out.sdr_cost)} "
        f"- AE {format_amount(out.ae_cost)}; {out.mqls:,} MQLs, {out.sqls:,} direct SQLs",
        load_text(tuning, replay),
    ]
    if (speed := _speed_text(tuning)) is not None:
        lines.append(speed)
    if (response := response_text(tuning)) is not None:
        lines.append(response)
    if (history := _history_text(tuning)) is not None:
        lines.append(history)
    if tuning.mode == "static":
        lines.append(
            "no event timeline in this data: a static expected-value policy (each lead scored "
            "once; delay and premature contact are not priced)"
        )
    return "\n".join([lines[0], *(f"  {line}" for line in lines[1:])])
