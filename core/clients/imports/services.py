"""Uploading, previewing and running client imports; the run is the ``core.import_clients`` job.

A run reads the stored file in batches of ``BATCH`` rows. Each row is checked (see ``rows``),
matched against the registry by id, tax id, e-mail, phone and name, and then created in
bulk (SQLAlchemy Core executemany: clients, phones, e-mails, tags, addresses, contact
persons, the search index and the audit log), updated through the client service, or left
alone, as the user chose for duplicates. Every row that fails or is skipped is recorded with
its line, column and reason. Progress is committed with each batch, so a run that stops can
go on from where it stopped without importing a row twice.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import itertools
import logging
import multiprocessing
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from core.audit.models import AuditLog, audit_actor
from core.clients import duplicates, normalise, search, services
from core.clients.imports import mapping as fields
from core.clients.imports import reader
from core.clients.imports.models import (
    ON_DUPLICATE,
    ClientImport,
    ClientImportFile,
    ClientImportIssue,
)
from core.clients.imports.rows import (
    ADDRESS_KEYS,
    CONTACT_KEYS,
    NEW_CLIENT_KEYS,
    Context,
    Creating,
    New,
    Row,
    missing_required,
    new_rows,
    parse_batch,
)
from core.clients.models import (
    Address,
    Client,
    ContactPerson,
    Email,
    Phone,
    Tag,
    client_tags,
)
from core.db import (
    bulk_writer,
    cycle_collector_paused,
    database_value,
    db,
    tuple_writer,
    utcnow,
)
from core.security import scoped
from core.users.models import User
from core.users.services import ValidationFailed

log = logging.getLogger(__name__)

BATCH = 5000
STALLED_AFTER = timedelta(minutes=15)
# Smaller imports are checked in this process: starting a helper process takes a second,
# and its first batch is checked here meanwhile (see _parse_elsewhere).
PARALLEL_FROM_ROWS = 2 * BATCH
# Python's cycle collector is paused while a run works (see core.db.cycle_collector_paused)
# and collects the young objects after this many batches.
COLLECT_EVERY = 20
PREVIEW_ROWS = 20
JOB = "core.import_clients"
STAMP_KEYS = ("created_at", "updated_at", "version", "created_by_id")


def visible_import(import_id: int, user: User) -> ClientImport | None:
    """An import ``user`` started (administrators see every import); None otherwise."""
    job = db.session.get(ClientImport, import_id)
    if job is None or (job.created_by_id != user.id and not user.is_admin):
        return None
    return job


def max_bytes() -> int:
    return current_app.config["CRM_IMPORT_MAX_MB"] * 1024 * 1024


def refuse_size(size: int) -> None:
    limit = max_bytes() // 1048576
    raise ValidationFailed(
        {
            "file": [
                f"The file is {size / 1048576:.1f} MB; imports take files up to {limit} MB. "
                "Split it into parts."
            ]
        }
    )


def upload_file(
    storage: Any, user: User, encoding: str | None = None, delimiter: str | None = None
) -> ClientImport:
    """``upload`` for an uploaded file (werkzeug's FileStorage): too large a file is refused
    by its size, before it is read into memory."""
    storage.stream.seek(0, 2)
    size = storage.stream.tell()
    storage.stream.seek(0)
    if size > max_bytes():
        refuse_size(size)
    return upload(storage.read(), storage.filename or "upload", user, encoding, delimiter)


def upload(
    data: bytes,
    filename: str,
    user: User,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> ClientImport:
    """Store an uploaded file after reading its header and counting its rows."""
    if len(data) > max_bytes():
        refuse_size(len(data))
    if encoding and encoding not in reader.ENCODINGS:
        raise ValidationFailed({"encoding": [f"Choose one of: {', '.join(reader.ENCODINGS)}."]})
    if delimiter and delimiter not in reader.DELIMITERS:
        raise ValidationFailed({"delimiter": ["Choose a comma, semicolon, tab or |."]})
    try:
        info = reader.inspect(data, filename, encoding or None, delimiter or None)
    except reader.FileRefused as exc:
        raise ValidationFailed({"file": [str(exc)]}) from None
    if not any(info.header):
        raise ValidationFailed({"file": ["The first row must name the columns."]})
    if info.total_rows == 0:
        raise ValidationFailed({"file": ["The file has a header row but no clients."]})
    job = ClientImport(
        filename=(filename or "upload")[:255],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        file_kind=info.kind,
        encoding=info.encoding,
        delimiter=info.delimiter,
        header=info.header,
        total_rows=info.total_rows,
        mapping=fields.guess(info.header),
        on_duplicate="skip",
        default_owner_id=user.id,
        created_by_id=user.id,
        status="uploaded",
        message="",
    )
    db.session.add(job)
    db.session.flush()
    db.session.add(ClientImportFile(import_id=job.id, content=data))
    db.session.commit()
    return job


def sample(job: ClientImport, count: int = reader.SAMPLE_ROWS) -> list[tuple[int, list[str]]]:
    """The first rows of the file, as (line, cells)."""
    out = []
    for number, cells in reader.rows(_content(job), job.file_kind, job.encoding, job.delimiter):
        out.append((number, cells))
        if len(out) >= count:
            break
    return out


def earlier_runs(job: ClientImport) -> list[ClientImport]:
    """Finished imports of the same file (same bytes)."""
    return (
        db.session.execute(
            sa.select(ClientImport)
            .where(
                ClientImport.sha256 == job.sha256,
                ClientImport.id != job.id,
                ClientImport.status == "done",
                ClientImport.dry_run.is_(False),
            )
            .order_by(ClientImport.id.desc())
        )
        .scalars()
        .all()
    )


def configure(job: ClientImport, settings: dict[str, Any]) -> None:
    """Check and set the mapping and the choices of a run; ValidationFailed changes nothing."""
    errors: dict[str, list[str]] = {}
    mapping = settings.get("mapping", job.mapping)
    if not isinstance(mapping, list):
        errors["mapping"] = ["Give a list with one field (or null) per column."]
    else:
        mapping = [m or None for m in mapping]
        errors.update(fields.check(mapping, len(job.header)))
    on_duplicate = settings.get("on_duplicate", job.on_duplicate)
    if on_duplicate not in ON_DUPLICATE:
        errors["on_duplicate"] = [f"Choose one of: {', '.join(ON_DUPLICATE)}."]
    owner_id = settings.get("default_owner_id", job.default_owner_id)
    if owner_id is not None:
        valid = isinstance(owner_id, int) and not isinstance(owner_id, bool)
        valid = valid and 0 < owner_id < 2**63
        owner = db.session.get(User, owner_id) if valid else None
        if owner is None or not owner.active:
            errors["default_owner_id"] = ["No such active user."]
    if errors:
        raise ValidationFailed(errors)
    job.mapping = mapping
    job.on_duplicate = on_duplicate
    job.default_owner_id = owner_id
    job.dry_run = bool(settings.get("dry_run", False))


def can_start(job: ClientImport) -> bool:
    """Whether the mapping may be chosen and a run started: never while a run is queued or
    running, and never again after a run that wrote clients."""
    if job.status in ("queued", "running"):
        return False
    if job.status == "uploaded" or job.dry_run:
        return True
    return job.status == "failed" and job.processed == 0  # it stopped before writing a row


def check_can_start(job: ClientImport) -> None:
    """ValidationFailed (409) saying why ``job`` cannot be configured or started now."""
    if can_start(job):
        return
    if job.status in ("queued", "running"):
        message = "This import is running already."
    elif job.status == "failed":
        message = (
            f"This import stopped after {job.processed} rows; go on with it (resume) so no "
            "row is imported twice."
        )
    else:
        message = "This import has finished; upload the file again."
    raise ValidationFailed({"status": [message]}, 409)


def start(job: ClientImport, settings: dict[str, Any]) -> ClientImport:
    """Queue a run with these settings (a dry run checks every row and writes no client)."""
    check_can_start(job)
    configure(job, settings)
    earlier = earlier_runs(job)
    if earlier and job.on_duplicate == "create" and not job.dry_run:
        db.session.rollback()
        raise ValidationFailed(
            {
                "on_duplicate": [
                    f"This file was imported already (import #{earlier[0].id}); choose skip or "
                    "update so its rows are not created twice."
                ]
            },
            409,
        )
    db.session.execute(sa.delete(ClientImportIssue).where(ClientImportIssue.import_id == job.id))
    job.status = "queued"
    job.processed = job.created_count = job.updated_count = 0
    job.skipped_count = job.failed_count = 0
    job.started_at = job.finished_at = None
    job.message = ""
    db.session.commit()
    from core.jobs import enqueue

    enqueue(JOB, import_id=job.id)
    return job


def stalled(job: ClientImport) -> bool:
    """A run that wrote no progress for a long while: its worker died (killed, host lost).

    A live run writes progress with every batch, a second or so apart."""
    return job.status == "running" and job.updated_at < utcnow() - STALLED_AFTER


def resume(job: ClientImport) -> ClientImport:
    """Go on with a run that stopped (failed): rows already handled are not read again.

    A dry run starts again from the first row instead: it saved nothing, and what it had
    noted about the rows before (to tell a row repeating an earlier one) is gone."""
    if job.status != "failed" and not stalled(job):
        raise ValidationFailed({"status": ["Only a stopped import can go on."]}, 409)
    if job.dry_run:
        db.session.execute(
            sa.delete(ClientImportIssue).where(ClientImportIssue.import_id == job.id)
        )
        job.processed = job.created_count = job.updated_count = 0
        job.skipped_count = job.failed_count = 0
        job.started_at = job.finished_at = None
    job.status = "queued"
    job.message = ""
    db.session.commit()
    from core.jobs import enqueue

    enqueue(JOB, import_id=job.id)
    return job


def preview(job: ClientImport, settings: dict[str, Any], user: User) -> list[dict[str, Any]]:
    """What the first rows would do with these settings; nothing is saved."""
    check_can_start(job)
    configure(job, settings)
    run = Run(job, user, Context.load(), write=False, record=False)
    batch = sample(job, PREVIEW_ROWS)
    outcome = run.process(batch)
    # Rows that would be new may still be a known client under another spelling of its
    # name: say so, as the client form does (the run itself matches exact keys only).
    region = run.ctx.region
    for entry in outcome:
        entry["similar"] = []
        if entry["action"] == "create" and entry["name"]:
            entry["similar"] = [
                {"id": m.client.id, "name": m.client.name, "reasons": m.reasons}
                for m in duplicates.find({"name": entry["name"]}, user, limit=3, region=region)
            ]
    db.session.rollback()  # the settings are only remembered when the run starts
    return outcome


def run_import(import_id: int) -> None:
    """The job: run (or go on with) an import."""
    job = db.session.get(ClientImport, import_id)
    if job is None or job.status not in ("queued", "running"):
        return
    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    if user is None or not user.active:
        _stop(job, "The user who started this import no longer exists or is deactivated.")
        return
    token = audit_actor.set(user.id)
    try:
        job.status = "running"
        job.started_at = job.started_at or utcnow()
        db.session.commit()
        run = Run(job, user, Context.load(), write=not job.dry_run)
        if job.processed and run.write:
            run.recall_created()
        if job.total_rows - job.processed >= PARALLEL_FROM_ROWS:
            parsed = _parse_elsewhere(job, run)
        else:
            parsed = (parse_batch(b, *run.checking) for b in _batches(job, job.processed))
        with cycle_collector_paused() as collect:
            for count, rows in enumerate(parsed, 1):
                run.process_rows(rows, describe=False)
                if count % COLLECT_EVERY == 0:
                    collect()
        db.session.refresh(job)
        job.total_rows = job.processed
        job.status = "done"
        job.finished_at = utcnow()
        db.session.commit()
    except reader.FileRefused as exc:
        db.session.rollback()
        _stop(job, str(exc))
    except Exception as exc:  # noqa: BLE001 - the user must see that the run stopped, and why
        log.exception("import %s stopped", import_id)
        db.session.rollback()
        _stop(
            job,
            f"The import stopped after {job.processed} rows ({type(exc).__name__}); "
            "the rows before are saved. Go on to import the rest.",
        )
    finally:
        audit_actor.reset(token)


def _batches(
    job: ClientImport, skip: int, content: bytes | None = None
) -> Iterator[list[tuple[int, list[str]]]]:
    """The file's rows in batches, leaving out the first ``skip`` (those a stopped run had
    handled)."""
    if content is None:
        content = _content(job)
    rows = reader.rows(content, job.file_kind, job.encoding, job.delimiter)
    rows = itertools.islice(rows, skip, None)
    while batch := list(itertools.islice(rows, BATCH)):
        yield batch


def helper_context() -> multiprocessing.context.BaseContext:
    # A fresh interpreter, not a fork of a threaded worker.
    return multiprocessing.get_context("spawn")


# The file and the checking settings of the run, in the helper process (see _parse_elsewhere).
_helper: dict[str, Any] = {}


def _start_helper(
    path: str, kind: str, encoding: str, delimiter: str, skip: int, checking: tuple
) -> None:
    """In the helper process: open the file (a copy at ``path``) once, after the ``skip``
    rows already handled.

    The process does nothing but check rows, so Python's cycle collector stays paused in
    it (as in the writing process, see core.db.cycle_collector_paused), collecting the
    young objects every ``COLLECT_EVERY`` batches."""
    gc.freeze()
    gc.disable()
    rows = reader.rows(Path(path).read_bytes(), kind, encoding, delimiter)
    _helper["rows"] = itertools.islice(rows, skip, None)
    _helper["checking"] = checking
    _helper["batches"] = 0


def _check_next_batch(size: int) -> list[Row]:
    """In the helper process: read and check the next ``size`` rows of the file ([] at its
    end)."""
    _helper["batches"] += 1
    if _helper["batches"] % COLLECT_EVERY == 0:
        gc.collect(1)
    batch = list(itertools.islice(_helper["rows"], size))
    return parse_batch(batch, *_helper["checking"]) if batch else []


def _parse_elsewhere(job: ClientImport, run: Run) -> Iterator[list[Row]]:
    """Read and check rows in a helper process while this one writes the batches already
    checked: reading and checking (phone numbers above all) and writing take about as long,
    and each has a core. The helper is given the file once and reads it itself, so the rows'
    cells never travel between the processes, only the checked rows. The first batch is
    checked here while the helper starts (a new interpreter takes a second or more), so
    writing begins at once.

    A few batches are in flight at a time, so memory stays flat; the order is kept. Should
    the helper fail, the rest of the file is read and checked here.
    """
    content = _content(job)
    skip = job.processed
    size = BATCH
    # The helper reads the file from a copy on disk: handed over through the pipe that
    # starts the process, its megabytes would keep this process waiting until the new
    # interpreter is up and reads them.
    with _copy_for_helper(content) as copy:
        pool = _helper_pool(copy, job, skip + size, run)
        pending: deque = deque()
        try:
            if pool is not None:
                try:
                    for _ in range(3):
                        pending.append(pool.submit(_check_next_batch, size))  # starts it
                except Exception:  # noqa: BLE001 - no helper: the rest is checked here
                    log.warning("import %s: the helper did not start", job.id, exc_info=True)
                    pending.clear()
            # Checked here, outside the fallback below: an error in it stops the run.
            first = next(_batches(job, skip, content), [])
            if first:
                yield parse_batch(first, *run.checking)
            handed = skip + len(first)  # rows of the file checked and handed on
            if len(first) < size:
                return
            helping = bool(pending)
            try:
                while pending:
                    rows = pending.popleft().result()
                    if len(rows) == size:
                        pending.append(pool.submit(_check_next_batch, size))
                    elif not rows:
                        return
                    handed += len(rows)
                    yield rows
                if helping:
                    return
            except reader.FileRefused:
                raise  # the file cannot be read further: the run stops, saying why
            except Exception:  # noqa: BLE001 - checked here again; a real error recurs
                # The helper could not start or died: check the rest here, slower.
                log.warning("import %s: checking rows in the worker itself", job.id)
            for batch in _batches(job, handed, content):
                yield parse_batch(batch, *run.checking)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)


@contextlib.contextmanager
def _copy_for_helper(content: bytes) -> Iterator[str]:
    """A copy of the file for the helper process, in the instance folder (it holds the
    clients' data: not in a temporary folder other programs share), removed when the run
    ends; a copy a killed worker left behind is removed by a later run."""
    folder = Path(current_app.instance_path) / "import-copies"
    folder.mkdir(parents=True, exist_ok=True)
    stale = time.time() - 24 * 3600
    for old in folder.glob("*.data"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < stale:
                old.unlink()
    handle, path = tempfile.mkstemp(prefix="import-", suffix=".data", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        yield path
    finally:
        Path(path).unlink(missing_ok=True)


def _helper_pool(path: str, job: ClientImport, skip: int, run: Run) -> ProcessPoolExecutor | None:
    """The helper process's pool (it starts with the first task), or None if there can be
    none: the import then runs, slower, checking every row in this process."""
    try:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=helper_context(),
            initializer=_start_helper,
            initargs=(path, job.file_kind, job.encoding, job.delimiter, skip, run.checking),
        )
    except Exception:  # noqa: BLE001
        log.warning("import %s: no helper process; checking rows here", job.id, exc_info=True)
        return None


def _stop(job: ClientImport, message: str) -> None:
    db.session.execute(
        sa.update(ClientImport)
        .where(ClientImport.id == job.id)
        .values(status="failed", message=message, finished_at=utcnow())
    )
    db.session.commit()


def _content(job: ClientImport) -> bytes:
    return db.session.execute(
        sa.select(ClientImportFile.content).where(ClientImportFile.import_id == job.id)
    ).scalar_one()


# Live clients sharing a key with the rows of a batch: (client id, the key as rows have it).
MATCH_SQL = {
    "id": "SELECT id, id FROM clients WHERE id IN ({}) AND deleted_at IS NULL",
    "tax id": "SELECT id, tax_id_key FROM clients WHERE tax_id_key IN ({}) AND deleted_at IS NULL",
    "e-mail": "SELECT e.client_id, e.email FROM client_emails e JOIN clients c "
    "ON c.id = e.client_id WHERE e.email IN ({}) AND c.deleted_at IS NULL",
    "phone": "SELECT p.client_id, p.e164 FROM client_phones p JOIN clients c "
    "ON c.id = p.client_id WHERE p.e164 IN ({}) AND c.deleted_at IS NULL",
    "name": "SELECT id, kind || ':' || name_key FROM clients "
    "WHERE name_key IN ({}) AND deleted_at IS NULL",
}


@dataclass
class Planned:
    row: Row
    action: str  # create, update, skip, error
    client_id: int | None = None
    reason: str = ""
    matches: list[int] = field(default_factory=list)


class Run:
    """One pass over an import's rows; ``write=False`` decides without saving (previews, dry
    runs)."""

    def __init__(
        self, job: ClientImport, user: User, ctx: Context, write: bool, record: bool = True
    ) -> None:
        self.job = job
        self.user = user
        self.ctx = ctx
        self.write = write
        self.record = record  # the progress and the problems, into the import (not previews)
        self.mapping = list(job.mapping)
        self.header = list(job.header)
        self.policy = job.on_duplicate
        self.default_owner_id = job.default_owner_id
        self.first_row_of_key: dict[tuple[str, str], int] = {}
        self.created_in_run: dict[int, int] = {}  # client id -> file line
        self._tags: dict[str, tuple[int, str]] | None = None
        label = f"#{job.id} {job.filename}"
        self.creating = Creating(job.default_owner_id, label, lean=self.policy != "update")
        # What parse_batch needs besides the rows; a run that writes builds the rows to insert.
        self.checking = (self.mapping, self.header, ctx, self.creating if write else None)

    # --- deciding ---------------------------------------------------------------------

    def process(self, batch: list[tuple[int, list[str]]]) -> list[dict[str, Any]]:
        """Check and handle one batch of (line, cells); returns what happened to each row."""
        return self.process_rows(parse_batch(batch, *self.checking))

    def process_rows(self, rows: list[Row], describe: bool = True) -> list[dict[str, Any]]:
        """Handle one batch of checked rows; returns what happened to each (for previews)."""
        found = self._match([r for r in rows if not r.errors])
        visible = self._visible({cid for hits in found.values() for cid in hits})
        plans = [self._plan(row, found.get(row.number, {}), visible) for row in rows]
        # Updates first: each commits on its own (through the client service), and the new
        # clients, the problems and the progress of the batch are then committed together.
        updated = self._update([p for p in plans if p.action == "update"])
        creating = [p for p in plans if p.action == "create"]
        created = self._create(creating) if self.write else creating
        self._record(plans, len(rows), len(created), len(updated))
        if self.write:
            db.session.commit()
            if created:
                app = current_app._get_current_object()
                app.extensions["crm_plugins"].notify(
                    "clients_imported",
                    app=app,
                    client_ids=[p.client_id for p in created],
                    user=self.user,
                )
        return [self._describe(p) for p in plans] if describe else []

    def _match(self, rows: list[Row]) -> dict[int, dict[int, list[str]]]:
        """For each row, the live clients sharing a key with it: {line: {client id: reasons}}."""
        wanted: dict[str, set[str]] = {}
        for row in rows:
            for kind, value in row.keys():
                wanted.setdefault(kind, set()).add(value)
        hits: dict[tuple[str, str], set[int]] = {}
        # Plain SQL on the driver's cursor: thousands of values and hits per batch, which
        # SQLAlchemy's result rows would cost more to hand over than the queries take.
        cursor = db.session.connection().connection.cursor()
        postgres = db.engine.dialect.name == "postgresql"
        for kind, values in wanted.items():
            sql, params = MATCH_SQL[kind], list(values)
            if kind == "id":
                params = [int(v) for v in params]
            elif kind == "name":
                params = list({v.partition(":")[2] for v in params})
            if postgres:
                statement, args = sql.replace("IN ({})", "= ANY(%s)"), (params,)
            else:
                statement, args = sql.format(",".join("?" * len(params))), tuple(params)
            cursor.execute(statement, args)
            for client_id, key in cursor.fetchall():
                hits.setdefault((kind, str(key)), set()).add(client_id)
        cursor.close()
        out: dict[int, dict[int, list[str]]] = {}
        for row in rows:
            for kind, value in row.keys():
                for client_id in hits.get((kind, value), ()):
                    reasons = out.setdefault(row.number, {}).setdefault(client_id, [])
                    if kind not in reasons:
                        reasons.append(kind)
        return out

    def _visible(self, ids: set[int]) -> set[int]:
        if not ids:
            return set()
        query = scoped(
            sa.select(Client.id).where(Client.id.in_(ids)), self.user, "clients", Client.owner_id
        )
        return set(db.session.execute(query).scalars())

    def _plan(self, row: Row, found: dict[int, list[str]], visible: set[int]) -> Planned:
        if row.errors:
            return Planned(row, "error")
        earlier = self._earlier_line(row, found)
        if self.policy == "create" or (not found and earlier is None):
            missing_required(row, self.mapping, self.header)
            if row.errors:
                return Planned(row, "error")
            for key in row.keys():
                self.first_row_of_key.setdefault(key, row.number)
            return Planned(row, "create")
        if earlier is not None:
            line, reason = earlier
            return Planned(row, "skip", reason=f"Same {reason} as line {line} of this file.")
        # Clients the user cannot see are neither counted nor named, and what they share
        # with the row is not told apart from what the visible ones share.
        ids = sorted(i for i in found if i in visible)
        hidden = sorted(i for i in found if i not in visible)
        if not ids:
            why = " and ".join(dict.fromkeys(r for i in hidden for r in found[i]))
            return Planned(
                row, "skip", reason=f"Already in the CRM (same {why}), owned by another user."
            )
        why = " and ".join(dict.fromkeys(r for i in ids for r in found[i]))
        if len(ids) > 1 or hidden:
            listed = ", ".join(f"#{i}" for i in ids[:5])
            others = " and clients of other users" if hidden else ""
            return Planned(
                row,
                "skip",
                reason=f"Matches several clients: {listed} (same {why}){others}.",
                matches=ids,
            )
        client_id = ids[0]
        if self.policy == "skip":
            return Planned(
                row,
                "skip",
                client_id,
                reason=f"Already in the CRM as client #{client_id} (same {why}).",
                matches=[client_id],
            )
        return Planned(row, "update", client_id, matches=[client_id])

    def recall_created(self) -> None:
        """On going on after a stop: the clients this run had created, by file line (from
        their history), so a later row repeating one is skipped as in a run never stopped."""
        prefix = f"#{self.job.id} "
        created = db.session.execute(
            sa.select(AuditLog.entity_id, AuditLog.changes).where(
                AuditLog.at >= self.job.started_at,
                AuditLog.user_id == self.user.id,
                AuditLog.entity == "clients",
                AuditLog.action == "create",
            )
        )
        for client_id, changes in created:
            source = (changes or {}).get("import") or [None, ""]
            label = source[1] if isinstance(source, list) and len(source) == 2 else ""
            if isinstance(label, str) and label.startswith(prefix):
                line = label.rpartition(", line ")[2]
                if line.isascii() and line.isdigit():
                    self.created_in_run[client_id] = int(line)

    def _earlier_line(self, row: Row, found: dict[int, list[str]]) -> tuple[int, str] | None:
        """An earlier line of this file that created the same client, and the shared key."""
        for key in row.keys():
            line = self.first_row_of_key.get(key)
            if line is not None:
                return line, key[0]
        for client_id, reasons in found.items():
            if client_id in self.created_in_run:
                return self.created_in_run[client_id], reasons[0]
        return None

    # --- writing ----------------------------------------------------------------------

    def _create(self, plans: list[Planned]) -> list[Planned]:
        """Insert the new clients of a batch with everything they bring, one executemany per
        table. The rows were built where they were checked (``Row.new``); here they get
        their ids."""
        if not plans:
            return []
        _lock_for_writing(self.job.id)
        conn = db.session.connection()
        now = database_value(conn, Client.__table__.c.created_at, utcnow())
        user_id = self.user.id
        ids = _take_ids(Client.__table__, len(plans))
        created_in_run = self.created_in_run
        tag_ids = self._tag_ids
        stamp = (now, now, 1, user_id)
        clients: list[tuple] = []
        phones: list[tuple] = []
        emails: list[tuple] = []
        tag_links: list[tuple] = []
        addresses: list[tuple] = []
        audits: list[tuple] = []
        documents: list[tuple[int, str]] = []
        contacts: list[tuple] = []
        with_contact: list[tuple[int, New]] = []
        for plan, client_id in zip(plans, ids, strict=True):
            row = plan.row
            new = row.new if row.new is not None else new_rows(row, self.ctx, self.creating)
            plan.client_id = client_id
            created_in_run[client_id] = row.number
            clients.append((client_id, *new.client, *stamp))
            phones += [(client_id, None, "work", e164, rev) for e164, rev in new.phones]
            emails += [(client_id, None, "work", email) for email in new.emails]
            if row.tags:
                tag_links += [(client_id, t) for t in tag_ids(row.tags)]
            if new.address is not None:
                addresses.append((client_id, "legal", *new.address))
            if new.contact is not None:
                with_contact.append((client_id, new))
            audits.append((now, user_id, "clients", client_id, "create", new.history))
            documents.append((client_id, new.document))
        write = functools.partial(tuple_writer, conn)
        write(Client.__table__, ("id", *NEW_CLIENT_KEYS, *STAMP_KEYS))(clients)
        if with_contact:
            contact_ids = _take_ids(ContactPerson.__table__, len(with_contact))
            for (client_id, new), contact_id in zip(with_contact, contact_ids, strict=True):
                contacts.append((contact_id, client_id, *new.contact, "", *stamp))
                phones += [
                    (client_id, contact_id, "work", e164, rev) for e164, rev in new.contact_phones
                ]
                emails += [(client_id, contact_id, "work", e) for e in new.contact_emails]
                history = f"{new.contact_history}{client_id}]}}"
                audits.append((now, user_id, "contact_persons", contact_id, "create", history))
            write(
                ContactPerson.__table__, ("id", "client_id", *CONTACT_KEYS, "notes", *STAMP_KEYS)
            )(contacts)
        write(Phone.__table__, ("client_id", "contact_person_id", "kind", "e164", "digits_rev"))(
            phones
        )
        write(Email.__table__, ("client_id", "contact_person_id", "kind", "email"))(emails)
        write(client_tags, ("client_id", "tag_id"))(tag_links)
        write(Address.__table__, ("client_id", "kind", *ADDRESS_KEYS))(addresses)
        write(AuditLog.__table__, ("at", "user_id", "entity", "entity_id", "action", "changes"))(
            audits
        )
        search.insert_documents(documents)
        return plans

    def _known_tags(self) -> dict[str, tuple[int, str]]:
        """Every tag by its case-folded name: (id, name as written)."""
        if self._tags is None:
            self._tags = {}
            for tag_id, name in db.session.execute(sa.select(Tag.id, Tag.name).order_by(Tag.id)):
                self._tags.setdefault(name.casefold(), (tag_id, name))
        return self._tags

    def _tag_ids(self, names: list[str]) -> list[int]:
        if not names:
            return []
        known = self._known_tags()
        out = []
        for name in names:
            tag_id = known.get(name.casefold(), (None, ""))[0]
            if tag_id is None:
                # Updates of this run (or other users) may have added it since the list was read.
                tag_id = db.session.execute(sa.select(Tag.id).where(Tag.name == name)).scalar()
            if tag_id is None:
                tag_id = db.session.execute(
                    sa.insert(Tag).values(name=name).returning(Tag.id)
                ).scalar_one()
            known.setdefault(name.casefold(), (tag_id, name))
            if tag_id not in out:
                out.append(tag_id)
        return out

    def _tag_names(self, names: list[str]) -> list[str]:
        """``names`` spelt as the tags already in the CRM ("vip" is the known "VIP")."""
        known = self._known_tags()
        return [known.get(name.casefold(), (None, name))[1] for name in names]

    def _update(self, plans: list[Planned]) -> list[Planned]:
        """Add what the rows bring to the clients they match; returns those that changed."""
        if not plans:
            return []
        clients = {
            c.id: c
            for c in db.session.execute(
                sa.select(Client)
                .where(Client.id.in_([p.client_id for p in plans]))
                .options(
                    selectinload(Client.phones),
                    selectinload(Client.emails),
                    selectinload(Client.tags),
                    selectinload(Client.addresses),
                    selectinload(Client.contacts),
                )
            ).scalars()
        }
        changed = []
        for plan in plans:
            plan.row.tags = self._tag_names(plan.row.tags)
            # What the row adds is worked out from the client as it is now, not as the batch
            # read it: each update commits, which reloads the clients, so what an earlier row
            # of the file or another user added meanwhile is kept rather than overwritten.
            client = clients.get(plan.client_id)
            try:
                gone = client is None or client.deleted_at is not None
            except ObjectDeletedError:
                gone = True
            if gone:
                plan.action = "error"
                plan.reason = "The client was moved to the trash or deleted meanwhile."
                continue
            data, contact = _changes(client, plan.row)
            if not data and not contact:
                plan.action, plan.reason = "skip", "Nothing new for the client."
                continue
            if self.write:
                try:
                    if data:
                        services.update_client(client, data)
                        if "tags" in data:
                            self._tags = None  # it may have added tags: read them again
                    if contact:
                        person = contact.pop("_person", None)
                        services.save_contact(client, contact, person)
                except (ValidationFailed, StaleDataError) as exc:
                    db.session.rollback()
                    plan.action = "error"
                    plan.reason = (
                        str(exc)
                        if isinstance(exc, ValidationFailed)
                        else "Someone changed the client meanwhile; run the import again."
                    )
                    continue
            changed.append(plan)
        return changed

    def _record(self, plans: list[Planned], handled: int, created: int, updated: int) -> None:
        issues = []
        skipped = failed = 0
        for plan in plans:
            if plan.action == "error":
                failed += 1
                problems = plan.row.errors or [("", "", plan.reason)]
                issues += [
                    {
                        "import_id": self.job.id,
                        "row": plan.row.number,
                        "column": column[:200],
                        "value": value[:500],
                        "message": message[:500],
                        "kind": "error",
                    }
                    for column, value, message in problems
                ]
            elif plan.action == "skip":
                skipped += 1
                issues.append(
                    {
                        "import_id": self.job.id,
                        "row": plan.row.number,
                        "column": "",
                        "value": "",
                        "message": plan.reason[:500],
                        "kind": "skipped",
                    }
                )
        if not self.record:
            return  # a preview
        if issues:
            bulk_insert(ClientImportIssue.__table__, issues)
        db.session.execute(
            sa.update(ClientImport)
            .where(ClientImport.id == self.job.id)
            .values(
                processed=ClientImport.processed + handled,
                created_count=ClientImport.created_count + created,
                updated_count=ClientImport.updated_count + updated,
                skipped_count=ClientImport.skipped_count + skipped,
                failed_count=ClientImport.failed_count + failed,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if not self.write:
            db.session.commit()

    def _describe(self, plan: Planned) -> dict[str, Any]:
        return {
            "row": plan.row.number,
            "action": plan.action,
            "name": plan.row.client.get("name", ""),
            "client_id": plan.client_id,
            "matches": plan.matches,
            "reason": plan.reason,
            "errors": [{"column": c, "value": v, "message": m} for c, v, m in plan.row.errors],
        }


def bulk_insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) with one executemany through the driver."""
    if rows:
        keys = list(rows[0])
        bulk_writer(db.session.connection(), sa.insert(table), keys)(rows)


def _lock_for_writing(import_id: int) -> None:
    """Start this transaction with a write, so on SQLite it holds the write lock from here."""
    db.session.execute(
        sa.update(ClientImport)
        .where(ClientImport.id == import_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _take_ids(table: sa.Table, count: int) -> list[int]:
    """``count`` new ids for ``table``, taken before inserting so child rows can refer to them
    in the same executemany (RETURNING would make SQLite insert row by row).

    From the table's sequence on PostgreSQL; on SQLite the next ones after the largest,
    which is safe because this transaction already holds SQLite's single write lock (taken
    by ``_lock_for_writing``).
    """
    if db.engine.dialect.name == "postgresql":
        return list(
            db.session.execute(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"table": table.name, "count": count},
            ).scalars()
        )
    start = db.session.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
    return list(range(start + 1, start + 1 + count))


def _changes(client: Client, row: Row) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What ``row`` adds to ``client``: fields it fills or changes, new phones, e-mails,
    tags, address and contact person. Empty cells never erase anything."""
    data: dict[str, Any] = {}
    for key in services.SIMPLE_FIELDS:
        if key in row.client and row.client[key] not in (None, "") and key != "name_key":
            if getattr(client, key) != row.client[key]:
                data[key] = row.client[key]
    custom = {
        k: v
        for k, v in (row.client.get("custom") or {}).items()
        if (client.custom or {}).get(k) != v
    }
    if custom:
        data["custom"] = custom
    have_phones = [p.e164 for p in client.phones]
    if any(p not in have_phones for p in row.phones):
        data["phones"] = [{"number": p.e164, "kind": p.kind} for p in client.phones] + [
            {"number": p} for p in row.phones if p not in have_phones
        ]
    have_emails = [e.email for e in client.emails]
    if any(e not in have_emails for e in row.emails):
        data["emails"] = [{"email": e.email, "kind": e.kind} for e in client.emails] + [
            {"email": e} for e in row.emails if e not in have_emails
        ]
    have_tags = [t.name for t in client.tags]
    folded = {t.casefold() for t in have_tags}
    if any(t.casefold() not in folded for t in row.tags):
        data["tags"] = have_tags + [t for t in row.tags if t.casefold() not in folded]
    if row.address:
        new = Address(**_address(row.address))
        if new.one_line() not in {a.one_line() for a in client.addresses}:
            data["addresses"] = [_address_of(a) for a in client.addresses] + [_address(row.address)]
    contact = None
    if row.contact:
        wanted = normalise.name_key(
            " ".join(row.contact.get(k, "") for k in ("first_name", "middle_name", "last_name"))
        )
        person = next(
            (c for c in client.contacts if normalise.name_key(c.full_name) == wanted), None
        )
        contact = dict(row.contact) if person is None else _contact_changes(person, row.contact)
    return data, contact


def _contact_changes(person: ContactPerson, given: dict[str, Any]) -> dict[str, Any] | None:
    """What a row adds to a contact person the client has already: new phones and e-mails,
    the position; ``_person`` says whom to save it to."""
    data: dict[str, Any] = {}
    have_phones = [p.e164 for p in person.phones]
    if any(p not in have_phones for p in given.get("phones", ())):
        data["phones"] = [{"number": p.e164, "kind": p.kind} for p in person.phones] + [
            {"number": p} for p in given["phones"] if p not in have_phones
        ]
    have_emails = [e.email for e in person.emails]
    if any(e not in have_emails for e in given.get("emails", ())):
        data["emails"] = [{"email": e.email, "kind": e.kind} for e in person.emails] + [
            {"email": e} for e in given["emails"] if e not in have_emails
        ]
    if given.get("position") and given["position"] != person.position:
        data["position"] = given["position"]
    return {**data, "_person": person} if data else None


def _address(parts: dict[str, str]) -> dict[str, str]:
    get = parts.get
    return {
        "kind": "legal",
        "country": get("country", ""),
        "region": get("region", ""),
        "city": get("city", ""),
        "postcode": get("postcode", ""),
        "street": get("street", ""),
    }


def _address_of(address: Address) -> dict[str, str]:
    return {
        k: getattr(address, k) for k in ("kind", "country", "region", "city", "postcode", "street")
    }
