"""Container restart back-off as kubelet keeps it (client-go's flowcontrol.Backoff, used
by kuberuntime's `doBackOff`): per container, keyed by pod UID and container name.

The first crash restarts at once and arms `initial` (10 s); a crash seen while the
last restart is younger than the current back-off waits out the rest of it and then
doubles it, up to `max` (5 min); a container that ran for more than 2 x max since its
last restart starts over at `initial` (flowcontrol's hasExpired). Jitter: none, as
kubelet passes 0. In memory only, as kubelet's: an edgecore restart forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RestartBackOff"]


@dataclass
class _Entry:
    backoff: float
    last_update: float


class RestartBackOff:
    """Times are the Edged clock's seconds."""

    def __init__(self, initial: float = 10.0, maximum: float = 300.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > self.maximum * 2

    def in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """Whether a restart of a container that exited at `event_time` must wait."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return now - event_time < entry.backoff

    def remaining(self, key: str, event_time: float, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(entry.backoff - (now - event_time), 0.0)

    def next(self, key: str, event_time: float, now: float) -> None:
        """Record a restart: arm or double the back-off."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            self._entries[key] = _Entry(self.initial, now)
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
            entry.last_update = now

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.backoff if entry is not None else 0.0

    def forget(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
