"""The `conformance` plugin (specs/volcano.md §2.4): never evict critical or
kube-system pods. It only restricts preempt and reclaim victims, which this scheduler
does not run yet, so it registers nothing; it exists so Volcano's configurations load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.session import Session

__all__ = ["ConformancePlugin"]


class ConformancePlugin:
    name = "conformance"

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})

    def on_session_open(self, ssn: Session) -> None:
        return None
