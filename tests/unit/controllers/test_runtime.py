"""The reconcile loop's retry rules: failures back off exponentially, a lost write race
(409 Conflict) is looked at again shortly without growing the back-off."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeedge.client.errors import APIError
from kubeedge.controllers.runtime import Controller


class Flaky(Controller):
    name = "flaky"

    def __init__(self, outcomes: list[int]) -> None:
        super().__init__(client=_NoClient())  # type: ignore[arg-type]
        self.outcomes = outcomes
        self.calls = 0
        self.finished = asyncio.Event()

    def setup(self) -> None:
        pass

    async def reconcile(self, key: str) -> None:
        self.calls += 1
        code = self.outcomes.pop(0) if self.outcomes else 0
        if not self.outcomes:
            self.finished.set()
        if code:
            raise APIError({"code": code, "reason": "Conflict" if code == 409 else "x",
                            "message": "boom"})


class _NoClient:
    clock: Any = None


async def _run(outcomes: list[int]) -> Flaky:
    controller = Flaky(outcomes)
    await controller.start()
    controller.queue.add("k")
    await asyncio.wait_for(controller.finished.wait(), 5)
    await controller.stop()
    return controller


async def test_conflicts_are_retried_without_growing_the_back_off() -> None:
    controller = await _run([409, 409, 409])
    assert controller.calls == 3
    assert controller.queue.num_requeues("k") == 0


async def test_failures_back_off() -> None:
    controller = await _run([500, 500])
    assert controller.calls == 2
    assert controller.queue.num_requeues("k") == 2
