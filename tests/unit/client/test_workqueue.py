"""Work queue semantics of client-go's workqueue: dedup, one worker per key, requeue on
done, delays and rate-limited back-off on a fake clock, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialBackoff,
    RateLimitingQueue,
    WorkQueue,
    default_controller_rate_limiter,
)


async def test_a_key_added_twice_while_queued_is_handed_out_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        queue.add(key)
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_a_key_being_processed_is_requeued_once_when_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # not handed to a second worker meanwhile
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not second.done()
    queue.done("a")
    assert await asyncio.wait_for(second, 1) == "a"
    queue.done("a")
    assert len(queue) == 0 and queue.processing == 0


async def test_done_without_new_adds_does_not_requeue() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    await queue.get()
    queue.done("a")
    assert len(queue) == 0


async def test_workers_never_process_the_same_key_concurrently() -> None:
    queue: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    processed: list[int] = []

    async def worker() -> None:
        while (key := await queue.get()) is not None:
            assert key not in active
            active.add(key)
            await asyncio.sleep(0)
            if len(processed) < 40:
                queue.add(key)  # re-added while processing
            processed.append(key)
            active.discard(key)
            queue.done(key)

    workers = [asyncio.ensure_future(worker()) for _ in range(4)]
    for key in range(3):
        queue.add(key)

    async def idle() -> None:
        while len(queue) or queue.processing:
            await asyncio.sleep(0)

    await asyncio.wait_for(idle(), 5)
    await queue.shutdown_with_drain()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert len(processed) >= 40 and set(processed) == {0, 1, 2}


async def test_add_after_releases_the_key_at_its_deadline() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 5.0)
    queue.add_after("b", 0)
    assert len(queue) == 1 and queue.waiting == 1
    assert await queue.get() == "b"
    await clock.advance(4.9)
    assert len(queue) == 0
    await clock.advance(0.1)
    assert len(queue) == 1 and queue.waiting == 0
    assert await queue.get() == "a"


async def test_add_after_keeps_the_earliest_deadline_per_key() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 10.0)
    queue.add_after("a", 2.0)
    queue.add_after("a", 5.0)
    assert queue.waiting == 1
    await clock.advance(2.0)
    assert len(queue) == 1
    await queue.get()
    queue.done("a")
    await clock.advance(10.0)
    assert len(queue) == 0  # the later requests were folded into the first


def test_item_backoff_doubles_from_5ms_to_1000s_and_forget_resets() -> None:
    limiter = ItemExponentialBackoff()
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0 and max(delays) == 1000.0
    assert limiter.num_requeues("a") == 20 and limiter.when("b") == 0.005
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0 and limiter.when("a") == 0.005
    for _ in range(200):
        limiter.when("c")
    assert limiter.when("c") == 1000.0


def test_bucket_limiter_bounds_the_overall_rate() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10, burst=2, clock=clock)
    assert [round(limiter.when(k), 6) for k in "abcd"] == [0.0, 0.0, 0.1, 0.2]


def test_default_limiter_takes_the_longer_of_item_and_bucket_delays() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock, qps=10, burst=3)
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    # The bucket is empty now: a fresh key waits for the bucket, not 5 ms.
    assert limiter.when("b") == pytest.approx(0.1)
    assert limiter.num_requeues("a") == 3
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


async def test_add_rate_limited_retries_later_each_time() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    released_at: list[float] = []
    for _ in range(3):
        queue.add_rate_limited("a")
        while not len(queue):
            await clock.advance(0.001)
        released_at.append(round(clock.now(), 3))
        assert await queue.get() == "a"
        queue.done("a")
    assert released_at == [0.005, 0.015, 0.035]
    assert queue.num_requeues("a") == 3
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_shutdown_wakes_waiting_workers_with_none() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiting = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.shutdown()
    assert await asyncio.wait_for(asyncio.gather(*waiting), 1) == [None, None, None]
    queue.add("late")
    queue.add_after("later", 1.0)
    assert len(queue) == 0 and queue.waiting == 0
    assert await queue.get() is None


async def test_shutdown_hands_out_queued_keys_then_none() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("b")
    queue.shutdown()
    assert queue.shutting_down
    assert [await queue.get(), await queue.get(), await queue.get()] == ["a", "b", None]


async def test_shutdown_with_drain_waits_for_keys_in_processing() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    await queue.get()
    drained = asyncio.ensure_future(queue.shutdown_with_drain())
    await asyncio.sleep(0)
    assert not drained.done()
    queue.done("a")
    await asyncio.wait_for(drained, 1)


async def test_a_cancelled_get_does_not_lose_a_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    cancelled = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    queue.add("a")
    assert await asyncio.wait_for(queue.get(), 1) == "a"
