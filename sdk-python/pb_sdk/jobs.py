"""``pb:jobs``: enqueue jobs on the durable queue.

    from pb_sdk import jobs
    job_id = jobs.enqueue("resize", {"file": "a.png"}, max_attempts=3)
"""

import json

from . import _bindings
from .errors import call


def enqueue(name: str, payload=None, delay: float | None = None, max_attempts: int | None = None,
            dedupe_key: str | None = None, priority: int | None = None, tx=None) -> str:
    """Enqueues job ``name`` with ``payload`` (as JSON); its id. ``delay`` is in
    seconds; with ``tx`` (a :class:`pb_sdk.data.Transaction`) the job exists
    only if the transaction commits."""
    queue = _bindings.module("jobs")
    delay_ms = None if delay is None else max(0, int(delay * 1000))
    options = queue.EnqueueOptions(delay_ms, max_attempts, dedupe_key, priority)
    if tx is None:
        return call(queue.enqueue, name, json.dumps(payload), options)
    return call(queue.enqueue_in, tx.raw, name, json.dumps(payload), options)


def status(id: str):
    """The job's status (the generated ``JobStatus``), or None."""
    return call(_bindings.module("jobs").status, id)
