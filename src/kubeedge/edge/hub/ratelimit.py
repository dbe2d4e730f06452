"""EdgeHub's upstream rate limit: a token bucket on the hub's clock.

Owns the `messageQPS`/`messageBurst` limit KubeEdge's edgehub puts on messages the edge
modules send to the cloud (client-go's token-bucket limiter, specs/kubeedge.md §3
"Keepalive and rate limit": 30 QPS, burst 60). Must never read the wall clock or sleep
on anything but the clock it was given, so tests drive it with a FakeClock.
"""

from __future__ import annotations

from kubeedge.messaging.bus import Clock

__all__ = ["TokenBucket"]


class TokenBucket:
    """`burst` tokens to start with, refilled at `qps` per second; `wait` takes one.

    qps 0 means no limit: KubeEdge's config validation lets 0 through, and a bucket
    that never refills would stop the edge talking to the cloud after `burst` messages.
    """

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        if qps < 0:
            raise ValueError(f"modules.edgeHub.messageQPS: must be >= 0, got {qps}")
        if burst < 0:
            raise ValueError(f"modules.edgeHub.messageBurst: must be >= 0, got {burst}")
        self.qps = float(qps)
        # A positive rate with burst 0 could never hand out a whole token.
        self.burst = max(int(burst), 1)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock.now()
        self.waited = 0.0  # total seconds callers were held back (for metrics)

    @property
    def unlimited(self) -> bool:
        return self.qps == 0

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = max(now - self._last, 0.0)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)

    def try_take(self) -> bool:
        """Take a token if one is there now."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def wait(self) -> None:
        """Take a token, sleeping on the clock until one is there."""
        if self.unlimited:
            return
        while not self.try_take():
            delay = (1.0 - self._tokens) / self.qps
            self.waited += delay
            await self._clock.sleep(delay)
