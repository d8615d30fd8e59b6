"""Background jobs: declared through a hook, retried with backoff, skipped for disabled plugins,
run by a real `crm worker` on SQLite and on Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from crm_test_plugins.hello.models import Delivery

from core.db import db
from core.jobs import enqueue
from tests.conftest import disable, enable, make_app


def _kinds(app) -> list[str]:
    with app.app_context():
        return db.session.execute(sa.select(Delivery.kind).order_by(Delivery.id)).scalars().all()


def test_jobs_from_core_and_plugins_are_declared(app):
    jobs = app.extensions["crm_jobs"].jobs
    assert jobs["core.purge_login_attempts"][0] == "core"
    assert jobs["hello.tick"][0] == "hello" and jobs["hello.tick"][1].schedule is not None
    huey = app.extensions["crm_jobs"].huey
    due = {task.name for task in huey.read_periodic(datetime(2026, 1, 5, 3, 17))}
    assert {"crm.periodic.hello.tick", "crm.periodic.core.purge_login_attempts"} <= due
    due = {task.name for task in huey.read_periodic(datetime(2026, 1, 5, 3, 18))}
    assert "crm.periodic.hello.tick" in due and "crm.periodic.core.purge_login_attempts" not in due


def test_a_failing_job_is_retried_until_it_succeeds(app):
    enable(app, "hello")
    with app.app_context():
        enqueue("hello.flaky", fail_times=2)
    assert _kinds(app).count("flaky-attempt") == 3
    assert "flaky-done" in _kinds(app)


def test_a_job_that_keeps_failing_gives_up_after_its_retries(app):
    enable(app, "hello")
    with app.app_context():
        enqueue("hello.flaky", fail_times=99)
    kinds = _kinds(app)
    assert kinds.count("flaky-attempt") == 4  # the first run and three retries
    assert "flaky-done" not in kinds


def test_jobs_of_a_disabled_plugin_do_not_run(app):
    enable(app, "hello")
    disable(app, "hello")
    with app.app_context():
        enqueue("hello.record", kind="should-not-run")
    enable(app, "hello")
    assert "should-not-run" not in _kinds(app)
    with app.app_context():
        enqueue("hello.record", kind="ran")
    assert "ran" in _kinds(app)


def test_unknown_job_names_are_refused(app):
    with app.app_context(), pytest.raises(KeyError):
        enqueue("nope.nothing")


def test_core_purges_old_failed_logins(app):
    from datetime import timedelta

    from core.db import utcnow
    from core.users.models import LoginAttempt

    with app.app_context():
        db.session.add_all(
            [
                LoginAttempt(ip="1.2.3.4", email="a@b.c", at=utcnow() - timedelta(days=2)),
                LoginAttempt(ip="1.2.3.4", email="a@b.c"),
            ]
        )
        db.session.commit()
        enqueue("core.purge_login_attempts")
        assert (
            db.session.execute(sa.select(sa.func.count()).select_from(LoginAttempt)).scalar() == 1
        )


def _redis_url() -> str | None:
    url = os.environ.get("CRM_TEST_REDIS_URL")
    if not url:
        return None
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=1).close()
    except OSError:
        pytest.skip(f"Redis at {url} is not reachable")
    return url


def _wait_for(app, predicate, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    kinds = _kinds(app)
    while time.monotonic() < deadline and not predicate(kinds):
        time.sleep(0.2)
        kinds = _kinds(app)
    return kinds


@pytest.mark.worker
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_real_worker_runs_queued_jobs_and_retries(app, tmp_path, backend):
    redis_url = None
    if backend == "redis":
        redis_url = _redis_url()
        if redis_url is None:
            pytest.skip(
                "set CRM_TEST_REDIS_URL to run against Redis (test.sh does when Redis is up)"
            )
    enable(app, "hello")
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "CRM_INSTANCE_PATH": str(tmp_path / "worker-instance"),
            "CRM_JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite3"),
            "CRM_JOB_RETRY_BASE_SECONDS": "0.2",
            "CRM_JOBS_IMMEDIATE": "0",
        }
    )
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    crm = str(Path(sys.executable).with_name("crm"))
    producer = make_app(
        tmp_path / "producer",
        app.config["SQLALCHEMY_DATABASE_URI"],
        CRM_JOBS_IMMEDIATE=False,
        REDIS_URL=redis_url,
        CRM_JOBS_SQLITE_PATH=env["CRM_JOBS_SQLITE_PATH"],
    )
    if redis_url:
        producer.extensions["crm_jobs"].huey.flush()
    with producer.app_context():
        enqueue("hello.record", kind=f"queued-{backend}")
        enqueue("hello.flaky", fail_times=1)
    assert f"queued-{backend}" not in _kinds(app)  # nothing runs until a worker does
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [crm, "worker", "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        kinds = _wait_for(app, lambda k: f"queued-{backend}" in k and "flaky-done" in k)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
        with producer.app_context():
            db.engine.dispose()
    output = (tmp_path / "worker.log").read_text()
    assert f"queued-{backend}" in kinds, output[-3000:]
    assert "flaky-done" in kinds and kinds.count("flaky-attempt") == 2, output[-3000:]


def test_web_workers_do_not_load_unused_queue_clients_and_redis_is_bound_when_asked():
    """Importing core (as every web worker does) loads neither psycopg nor redis through
    Huey on a SQLite installation; an app configured with Redis afterwards still gets a
    working Redis queue (Huey's storage given the redis client)."""
    code = """
import os, sys
os.environ.pop("REDIS_URL", None)
import core
assert "psycopg" not in sys.modules and "redis" not in sys.modules, "loaded at import"
from huey import RedisHuey, storage
assert storage.Redis is None
from core.lazy_imports import bind_huey_redis
bind_huey_redis()
import redis
from redis import exceptions
queue = RedisHuey("crm-test", url="redis://127.0.0.1:6379/15")
assert isinstance(queue.storage.conn, redis.Redis)
assert storage.TimeoutError is exceptions.TimeoutError
import sqlalchemy as sa
sa.create_engine("postgresql+psycopg://u@127.0.0.1:1/x").dialect.dbapi.connect  # importable
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
