"""Scheduler actions (Volcano's enqueue, allocate, backfill, preempt, reclaim;
specs/volcano.md §2.3). `allocate_task` is also the default-scheduler fast path's whole
decision."""
