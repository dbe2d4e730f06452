"""Rate limits and back-off for talking to the API server.

Owns the token bucket (client-go's `flowcontrol` QPS/burst limiter and the work queue's
`BucketRateLimiter`) and exponential back-off with jitter (client-go's `wait.Backoff`).
Both read time only from an injected `Clock`; neither ever blocks the event loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kubeedge.client.clock import Clock, RealClock

__all__ = ["Backoff", "TokenBucket"]


class TokenBucket:
    """`qps` tokens per second, at most `burst` saved up; `qps <= 0` means unlimited.

    Callers reserve a token and wait out the returned delay, like Go's
    `rate.Limiter.Reserve().Delay()`: the bucket may go negative, so concurrent callers
    queue up in order instead of racing for the next token.
    """

    def __init__(self, qps: float, burst: int, clock: Clock | None = None) -> None:
        if qps > 0 and burst < 1:
            raise ValueError(f"burst must be at least 1 when qps is limited, not {burst}")
        self.qps = qps
        self.burst = burst
        self.clock: Clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self.clock.now()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0

    def _refill(self) -> None:
        now = self.clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def reserve(self) -> float:
        """Take a token now; return how many seconds the caller must wait before acting."""
        if self.unlimited:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_acquire(self) -> bool:
        """Take a token only if one is available without waiting."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self.clock.sleep(delay)


@dataclass
class Backoff:
    """Exponential back-off: `initial`, times `factor` per step, capped at `maximum`,
    each delay stretched by up to `jitter` of itself (client-go's reflector uses 0.8 s,
    2, 30 s and jitter 1.0). `reset()` after a success."""

    initial: float = 0.8
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _current: float = field(default=0.0, init=False, repr=False)

    def next(self) -> float:
        self._current = (
            self.initial if self._current <= 0 else min(self._current * self.factor, self.maximum)
        )
        delay = self._current
        if self.jitter > 0:
            delay += delay * self.jitter * self.rng.random()
        return delay

    def reset(self) -> None:
        self._current = 0.0
