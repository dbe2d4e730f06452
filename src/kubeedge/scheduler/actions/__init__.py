"""Scheduler actions (Volcano's enqueue, allocate, backfill, preempt, reclaim; specs/
volcano.md §2.3). Today: `allocate` for one task, the default-scheduler fast path; the
session-wide actions arrive with the Volcano path."""
