"""One Volcano-style scheduler (ARCHITECTURE.md "scheduler"): `framework/` (what pods
and nodes are, the cache, the session), `actions/`, `plugins/` (by Volcano's names),
`queue` (pending pods and back-off) and `scheduler` (the `Scheduler` that wires them to
the informers and writes bindings). It talks to the API only through `kubeedge.client`.

It serves default-scheduler pods, each as a one-pod gang placed at once (the fast
path), and `volcano` pods through PodGroups, Queues and gangs in a session every
period (`volcano`: enqueue, allocate and backfill; statements; PodGroup status).
Preempt and reclaim are not here yet.
"""
