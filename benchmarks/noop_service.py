"""A BentoML endpoint that does nothing: the reference the scoring service is measured against
(same framework, same worker count, a JSON body in and a small JSON answer out): /score takes a
/score body, /feedback a /feedback body (its items as plain dicts, not checked nor stored)."""

from __future__ import annotations

from typing import Any

import bentoml


@bentoml.service(name="noop", workers=1, traffic={"timeout": 30, "max_concurrency": 1024})
class Noop:
    @bentoml.api(route="/score")
    async def score(
        self,
        lead: dict[str, Any] | None = None,
        leads: list[dict[str, Any]] | None = None,
        as_of: str | None = None,
        explain: bool = True,
        top: int = 3,
    ) -> dict[str, Any]:
        return {"scores": [{"lead_id": (lead or {}).get("lead_id"), "stage": "nurture"}]}

    @bentoml.api(route="/feedback")
    async def feedback(self, feedback: list[dict[str, Any]]) -> dict[str, Any]:
        return {"stored": [item.get("id") for item in feedback], "duplicates": []}
