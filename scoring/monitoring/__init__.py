"""Stage 8, watching the handoff: SLA clocks on a business calendar, the shared funnel report
(and, next, model monitoring)."""
