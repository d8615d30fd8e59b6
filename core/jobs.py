"""Background and periodic jobs on Huey: SQLite storage by default, Redis when REDIS_URL is set.

Jobs are declared by core and plugins through the ``jobs`` hook and run by ``crm worker``.
One Huey task, ``run_job``, runs any declared job by name inside an app context; it skips
the jobs of disabled plugins and retries failures with exponential backoff
(``CRM_JOB_RETRY_BASE_SECONDS`` x 2^attempt). Tests set ``CRM_JOBS_IMMEDIATE`` to run
jobs synchronously, or start a real worker.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from huey import MemoryHuey, RedisHuey, SqliteHuey

from core.lazy_imports import bind_huey_redis
from core.plugin_system.types import Job

log = logging.getLogger(__name__)


class JobQueue:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.jobs: dict[str, tuple[str, Job]] = {}
        config = app.config
        name = "crm"
        if config["CRM_JOBS_IMMEDIATE"]:
            self.huey = MemoryHuey(name, immediate=True)
        elif config.get("REDIS_URL"):
            bind_huey_redis()
            self.huey = RedisHuey(name, url=config["REDIS_URL"])
        else:
            self.huey = SqliteHuey(name, filename=config["CRM_JOBS_SQLITE_PATH"])
        self._task = self.huey.task(name="crm.run_job")(self._run)

    def declare(self) -> None:
        registry = self.app.extensions["crm_plugins"]
        for plugin_name, jobs in registry.call_each_loaded("jobs", app=self.app):
            for job in jobs:
                if job.name in self.jobs:
                    log.error("job %s of %s ignored: the name is taken", job.name, plugin_name)
                    continue
                self.jobs[job.name] = (plugin_name, job)
                if job.schedule is not None:
                    self._add_periodic(job)

    def _add_periodic(self, job: Job) -> None:
        def fire() -> None:
            self._run(job.name, {}, 0)

        self.huey.periodic_task(job.schedule, name=f"crm.periodic.{job.name}")(fire)

    def enqueue(self, name: str, delay: float | None = None, **kwargs: Any) -> None:
        if name not in self.jobs:
            raise KeyError(f"unknown job {name!r}")
        if delay:
            self._task.schedule((name, kwargs, 0), delay=delay)
        else:
            self._task(name, kwargs, 0)

    def _run(self, name: str, kwargs: dict[str, Any], attempt: int) -> Any:
        plugin_name, job = self.jobs[name]
        with self.app.app_context():
            registry = self.app.extensions["crm_plugins"]
            registry.refresh(force=True)
            if not registry.is_active(plugin_name):
                log.info("job %s skipped: plugin %s is not enabled", name, plugin_name)
                return None
            try:
                return job.func(**kwargs)
            except Exception:
                from core.db import db

                db.session.rollback()
                if attempt >= job.retries:
                    log.exception("job %s failed for good after %d attempts", name, attempt + 1)
                    raise
                delay = self.app.config["CRM_JOB_RETRY_BASE_SECONDS"] * (2**attempt)
                log.warning(
                    "job %s failed (attempt %d); retrying in %.1fs",
                    name,
                    attempt + 1,
                    delay,
                    exc_info=True,
                )
                if self.app.config["CRM_JOBS_IMMEDIATE"]:
                    return self._run(name, kwargs, attempt + 1)
                self._task.schedule((name, kwargs, attempt + 1), delay=delay)
                return None

    def run_worker(self, workers: int = 2, periodic: bool = True) -> None:
        consumer = self.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=periodic
        )
        consumer.run()


def init_jobs(app: Flask) -> JobQueue:
    queue = JobQueue(app)
    app.extensions["crm_jobs"] = queue
    queue.declare()
    return queue


def enqueue(name: str, delay: float | None = None, **kwargs: Any) -> None:
    """Run the declared job ``name`` in the background with ``kwargs`` (JSON-able values)."""
    current_app.extensions["crm_jobs"].enqueue(name, delay=delay, **kwargs)
