"""The reminder job on a frozen clock: an overdue task is told to its assignee, and after the
escalation delay to the team head, exactly once each (in the CRM and by e-mail through a real
SMTP server on loopback), with two workers running the job at the same moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import db
from core.jobs import enqueue
from core.notifications.models import Notification
from core.tasks import reminders, services
from core.tasks.models import Task
from core.users.models import Team, User
from tests.conftest import make_app, make_user

TASKS = ["tasks.view", "tasks.edit"]
DUE = datetime(2026, 3, 2, 9, 0)  # a Monday, UTC


def _office(app) -> dict[str, int]:
    head = make_user(app, "hanna@example.com", TASKS, name="Hanna Head")
    with app.app_context():
        team = Team(name="Sales", head_id=head)
        db.session.add(team)
        db.session.commit()
        team_id = team.id
        db.session.get(User, head).team_id = team_id
        db.session.commit()
    worker = make_user(app, "ivan@example.com", TASKS, team_id=team_id, name="Ivan Worker")
    with app.app_context():
        db.session.get(User, worker).timezone = "Europe/Chisinau"
        db.session.commit()
        actor = db.session.get(User, head)
        task = services.create_task(
            {
                "title": "Call Romashka, about the contract",
                "assignee_id": worker,
                "due_at": DUE,
                "remind_before_minutes": 0,
            },
            actor,
            now=DUE - timedelta(days=1),
        )
        # Given as a naive time it is the assignee's wall clock (UTC+2 in March).
        assert task.due_at == DUE - timedelta(hours=2)
        task.due_at = DUE
        db.session.commit()
        task_id = task.id
    return {"head": head, "worker": worker, "task": task_id}


def _run_in_two_workers(app, now: datetime) -> list[dict]:
    """Two threads, each with its own app context and database session, start together."""
    barrier = threading.Barrier(2)
    results: list = []
    errors: list = []

    def work() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(reminders.run(now=now))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 2
    return results


def _in_app(app, user_id: int, event: str) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.event == event)
        ).scalar_one()


def _mails(sink, to: str, prefix: str) -> list:
    return [m for m in sink.messages if m["To"] == to and m["Subject"].startswith(prefix)]


def test_overdue_then_escalated_exactly_once_each_with_two_workers(app, smtp_server):
    ids = _office(app)
    with app.app_context():
        assert reminders.run(now=DUE - timedelta(minutes=1)) == {
            "due_soon": 0,
            "overdue": 0,
            "escalated": 0,
        }
    assert _in_app(app, ids["worker"], "task_overdue") == 0

    results = _run_in_two_workers(app, DUE + timedelta(minutes=1))
    assert sum(r["overdue"] for r in results) == 1
    assert _in_app(app, ids["worker"], "task_overdue") == 1
    assert len(_mails(smtp_server, "ivan@example.com", "Overdue:")) == 1
    # Before the escalation delay (60 minutes by default) the head hears nothing.
    _run_in_two_workers(app, DUE + timedelta(minutes=59))
    assert _in_app(app, ids["head"], "task_overdue_escalated") == 0
    assert _mails(smtp_server, "hanna@example.com", "Overdue in your team:") == []

    results = _run_in_two_workers(app, DUE + timedelta(minutes=61))
    assert sum(r["escalated"] for r in results) == 1
    assert _in_app(app, ids["head"], "task_overdue_escalated") == 1
    mails = _mails(smtp_server, "hanna@example.com", "Overdue in your team:")
    assert len(mails) == 1
    assert "Ivan Worker" in mails[0].get_content()
    assert "/tasks/" in mails[0].get_content()

    # Later runs send nothing more; the assignee still has exactly one of each.
    _run_in_two_workers(app, DUE + timedelta(hours=5))
    assert _in_app(app, ids["worker"], "task_overdue") == 1
    assert _in_app(app, ids["head"], "task_overdue_escalated") == 1
    assert len(_mails(smtp_server, "ivan@example.com", "Overdue:")) == 1
    assert len(_mails(smtp_server, "hanna@example.com", "Overdue in your team:")) == 1
    with app.app_context():
        task = db.session.get(Task, ids["task"])
        assert task.overdue_notified_at == DUE + timedelta(minutes=1)
        assert task.escalated_at == DUE + timedelta(minutes=61)


def test_the_escalation_delay_is_a_setting(app, smtp_server):
    from core.settings.services import save

    ids = _office(app)
    with app.app_context():
        assert save({"core.task_escalation_minutes": 5}) == {}
        reminders.run(now=DUE + timedelta(minutes=1))
        assert reminders.run(now=DUE + timedelta(minutes=6))["escalated"] == 1
    assert _in_app(app, ids["head"], "task_overdue_escalated") == 1


def test_a_due_soon_reminder_goes_once_within_the_lead_time(app, smtp_server):
    ids = _office(app)
    with app.app_context():
        db.session.get(Task, ids["task"]).remind_before_minutes = 30
        db.session.commit()
        assert reminders.run(now=DUE - timedelta(minutes=31))["due_soon"] == 0
        assert reminders.run(now=DUE - timedelta(minutes=29))["due_soon"] == 1
        assert reminders.run(now=DUE - timedelta(minutes=20))["due_soon"] == 0
    assert _in_app(app, ids["worker"], "task_due_soon") == 1
    # task_due_soon is in-app only by default: no e-mail.
    assert _mails(smtp_server, "ivan@example.com", "Due soon:") == []


def test_done_tasks_are_not_reminded(app, smtp_server):
    ids = _office(app)
    with app.app_context():
        task = db.session.get(Task, ids["task"])
        services.complete_task(task, "Called, signed", db.session.get(User, ids["worker"]))
        assert task.completed_at is not None
        assert reminders.run(now=DUE + timedelta(hours=3)) == {
            "due_soon": 0,
            "overdue": 0,
            "escalated": 0,
        }


def test_the_job_is_declared_periodic_every_minute(app):
    jobs = app.extensions["crm_jobs"].jobs
    assert jobs["core.task_reminders"][1].schedule is not None
    huey = app.extensions["crm_jobs"].huey
    due = {t.name for t in huey.read_periodic(datetime(2026, 1, 5, 3, 18))}
    assert "crm.periodic.core.task_reminders" in due


@pytest.mark.worker
def test_two_real_worker_processes_send_each_notice_once(app, smtp_server, tmp_path):
    """The same, with the job queued four times into two `crm worker` processes of two
    threads each (as on two hosts), and the e-mails delivered by those workers."""
    ids = _office(app)
    queue = str(tmp_path / "jobs.sqlite3")
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "CRM_JOBS_SQLITE_PATH": queue,
            "CRM_JOBS_IMMEDIATE": "0",
            "CRM_JOB_RETRY_BASE_SECONDS": "0.2",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_server.port),
        }
    )
    producer = make_app(
        tmp_path / "producer",
        app.config["SQLALCHEMY_DATABASE_URI"],
        CRM_JOBS_IMMEDIATE=False,
        CRM_JOBS_SQLITE_PATH=queue,
    )
    crm = str(Path(sys.executable).with_name("crm"))
    logs, workers = [], []
    for n in range(2):
        log = open(tmp_path / f"worker-{n}.log", "w")
        logs.append(log)
        workers.append(
            subprocess.Popen(
                [crm, "worker", "--workers", "2", "--no-periodic"],
                env={**env, "CRM_INSTANCE_PATH": str(tmp_path / f"worker-{n}")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def settle(done) -> None:
        deadline = time.monotonic() + 60
        while not done() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # long enough for a second notice, were one to come

    try:
        with producer.app_context():
            for _ in range(4):
                enqueue("core.task_reminders", now=(DUE + timedelta(minutes=1)).isoformat())
        settle(lambda: _mails(smtp_server, "ivan@example.com", "Overdue:"))
        assert _in_app(app, ids["worker"], "task_overdue") == 1
        assert len(_mails(smtp_server, "ivan@example.com", "Overdue:")) == 1
        assert _in_app(app, ids["head"], "task_overdue_escalated") == 0

        with producer.app_context():
            for _ in range(4):
                enqueue("core.task_reminders", now=(DUE + timedelta(minutes=61)).isoformat())
        settle(lambda: _mails(smtp_server, "hanna@example.com", "Overdue in your team:"))
        assert _in_app(app, ids["head"], "task_overdue_escalated") == 1
        assert len(_mails(smtp_server, "hanna@example.com", "Overdue in your team:")) == 1
        assert _in_app(app, ids["worker"], "task_overdue") == 1
        assert len(_mails(smtp_server, "ivan@example.com", "Overdue:")) == 1
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        for log in logs:
            log.close()
        with producer.app_context():
            db.engine.dispose()
