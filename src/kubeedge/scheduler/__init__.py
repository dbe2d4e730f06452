"""One Volcano-style scheduler (ARCHITECTURE.md "scheduler"): `framework/` (what pods
and nodes are, the cache, the session), `actions/`, `plugins/` (by Volcano's names),
`queue` (pending pods and back-off) and `scheduler` (the `Scheduler` that wires them to
the informers and writes bindings). It talks to the API only through `kubeedge.client`.

Today it serves default-scheduler pods, each as a one-pod gang placed at once; pods
for `volcano` are left alone until the Volcano path (queues, PodGroups, gangs) lands.
"""
