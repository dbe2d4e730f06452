"""The scheduling framework (Volcano's pkg/scheduler/framework and api): what the
scheduler knows about pods and nodes (`info`, `resource`), the cache the informers
feed (`cache`), and the session plugins register into (`session`)."""
