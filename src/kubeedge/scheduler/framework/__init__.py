"""The scheduling framework (Volcano's pkg/scheduler/framework and api): what the
scheduler knows about pods and nodes (`info`, `resource`), the cache the informers
feed (`cache`), the session plugins register into (`session`), and the Volcano
session's gangs and queues (`job_info`, `job_session`, `statement`)."""
