"""The duplicate scan over the whole registry, built to finish a million clients in seconds.

It compares live clients (not in the trash) by the same rules as the check on the client
form (``core.clients.duplicates``): the same tax id, e-mail or phone, or a similar name
(rapidfuzz's token-sort ratio of at least 88 once legal forms and punctuation are set aside).
Phones and e-mails of contact persons count for their company, as in that check.

Comparing every client with every other is out of the question at a million clients, so
the scan blocks:

- Exact values: the database finds the values held more than once (``GROUP BY ... HAVING
  COUNT(*) > 1``, on the covering index of each value), then reads only the live clients
  holding those values. Each group of clients sharing a value becomes pairs.
- Names: one pass streams ``(id, name_key)`` of the live clients with SQLAlchemy Core and
  turns each into its *sorted core name* (legal forms dropped, words sorted: what the
  token-sort ratio compares). Clients with the same sorted core name are a group (score
  100). Different names are compared by *sorted neighbourhood*: the distinct names are
  sorted, and each is scored against its ``WINDOW`` next neighbours, once in alphabetical
  order and once ordered by the reversed text (so a difference in the first letters is
  caught too), with ``rapidfuzz.process.cpdist`` scoring a whole offset in one call.
  A pair of names that differ early *and* late, with many names sorting between them, can
  be missed; the check on the client form, which searches by words, still warns about it.

A value or name shared by more than ``MAX_GROUP`` clients (an office's switchboard on 500
clients, "Ivan Ivanov") is not evidence of a duplicate and would make pairs explode: it is
not turned into pairs, and the scan records how many such groups it skipped and the largest
of them. At most ``MAX_PAIRS`` pairs are kept (``truncated`` says when there were more).

The pairs are written with executemany in batches, a commit after each: open pairs found
again keep their row (and id), new ones are added, open pairs not found any more are
deleted at the end, and pairs someone dismissed or merged are never touched. Running a
scan again (a retried job) starts it over and ends in the same state.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.clients.duplicates import NAME_THRESHOLD
from core.clients.dupscan.models import REASONS, DuplicatePair, DuplicateScan
from core.clients.models import Client, Email, Phone
from core.clients.normalise import LEGAL_FORMS
from core.db import bulk_writer, db, utcnow

log = logging.getLogger(__name__)

MAX_GROUP = 20  # clients sharing one value or name beyond which it yields no pairs
WINDOW = 12  # neighbours each distinct name is compared with, in each order
MAX_PAIRS = 500_000
BATCH = 5_000  # rows per executemany
PROGRESS_ROWS = 50_000  # names read between two progress updates
SKIPPED_KEPT = 20  # largest skipped groups recorded on the scan
STALE_AFTER = timedelta(minutes=15)  # a scan with no progress for this long was interrupted

_WORD = re.compile(r"\w+")
_scans = DuplicateScan.__table__
_pairs = DuplicatePair.__table__
_clients = Client.__table__
_LIVE = _clients.c.deleted_at.is_(None)


def sorted_core_name(name_key: str) -> str:
    """``name_key`` without legal forms, words sorted: "ооо ромашка плюс" -> "плюс ромашка".

    ``name_key`` is the stored folded name, so this equals the sorted words of
    ``normalise.core_name(name)``; the ratio of two of these is their token-sort ratio.
    """
    return " ".join(sorted(w for w in _WORD.findall(name_key) if w not in LEGAL_FORMS))


class Found:
    """Pairs found so far, each with its reasons and best score, and the skipped groups."""

    def __init__(self, max_group: int = MAX_GROUP, max_pairs: int = MAX_PAIRS) -> None:
        self.max_group = max_group
        self.max_pairs = max_pairs
        # (a << 64) | b -> [reasons, score], a < b: int keys hash and sort fast.
        self.pairs: dict[int, list[Any]] = {}
        self.truncated = False
        self.groups_skipped = 0
        self._largest: list[tuple[int, str, str]] = []

    def add(self, a: int, b: int, reason: str, score: int) -> None:
        if a == b:
            return
        key = (a << 64) | b if a < b else (b << 64) | a
        entry = self.pairs.get(key)
        if entry is None:
            if len(self.pairs) >= self.max_pairs:
                self.truncated = True
                return
            self.pairs[key] = [[reason], score]
            return
        if reason not in entry[0]:
            entry[0].append(reason)
        if score > entry[1]:
            entry[1] = score

    def group(self, ids: Iterable[int], reason: str, value: str) -> None:
        """Every two clients in ``ids`` share ``value``: a pair each, unless there are many."""
        members = sorted(set(ids))
        if len(members) < 2:
            return
        if len(members) > self.max_group:
            self.skip(reason, value, len(members))
            return
        for a, b in itertools.combinations(members, 2):
            self.add(a, b, reason, 100)

    def skip(self, reason: str, value: str, clients: int) -> None:
        self.groups_skipped += 1
        item = (clients, reason, value)
        if len(self._largest) < SKIPPED_KEPT:
            heapq.heappush(self._largest, item)
        elif item > self._largest[0]:
            heapq.heapreplace(self._largest, item)

    def skipped(self) -> list[dict[str, Any]]:
        return [
            {"reason": reason, "value": value, "clients": clients}
            for clients, reason, value in sorted(self._largest, reverse=True)
        ]

    def rows(self, scan_id: int, now) -> Iterator[dict[str, Any]]:
        """The pairs as rows, in index order (appending to the unique index is cheapest)."""
        order = {r: i for i, r in enumerate(REASONS)}
        encoded: dict[tuple[str, ...], str] = {}  # the few distinct reason lists, as JSON
        mask = (1 << 64) - 1
        for pair in sorted(self.pairs):
            reasons, score = self.pairs[pair]
            a, b = pair >> 64, pair & mask
            key = tuple(reasons)
            if key not in encoded:
                encoded[key] = json.dumps(sorted(reasons, key=order.__getitem__))
            yield {
                "a": a,
                "b": b,
                "reasons": encoded[key],
                "score": score,
                "scan": scan_id,
                "at": now,
            }


# --- exact values ------------------------------------------------------------------------


def _exact_sources() -> list[tuple[str, Any, Any, sa.Select]]:
    """(reason, value column, client id column, live rows holding a repeated value)."""
    sources = []
    tax = _clients.c.tax_id_key
    repeated = (
        sa.select(tax).where(tax.is_not(None), tax != "").group_by(tax).having(sa.func.count() > 1)
    )
    sources.append(
        (
            "tax id",
            tax,
            _clients.c.id,
            sa.select(tax, _clients.c.id).where(_LIVE, tax.in_(repeated)).order_by(tax),
        )
    )
    for reason, table, column in (
        ("e-mail", Email.__table__, "email"),
        ("phone", Phone.__table__, "e164"),
    ):
        value = table.c[column]
        repeated = sa.select(value).group_by(value).having(sa.func.count() > 1)
        rows = (
            sa.select(value, table.c.client_id)
            .join(_clients, sa.and_(_clients.c.id == table.c.client_id, _LIVE))
            .where(value.in_(repeated))
            .order_by(value)
        )
        sources.append((reason, value, table.c.client_id, rows))
    return sources


def find_exact(conn: sa.Connection, found: Found) -> None:
    for reason, _value, _client, query in _exact_sources():
        rows = conn.execute(query)
        for value, group in itertools.groupby(rows, key=lambda r: r[0]):
            found.group((r[1] for r in group), reason, value)


# --- names -------------------------------------------------------------------------------


def read_names(conn: sa.Connection, progress=None) -> tuple[dict[str, list[int]], int]:
    """Live clients grouped by sorted core name (streamed, not loaded as ORM objects)."""
    groups: dict[str, list[int]] = {}
    read = 0
    query = sa.select(_clients.c.id, _clients.c.name_key).where(_LIVE)
    result = conn.execution_options(yield_per=PROGRESS_ROWS).execute(query)
    for part in result.partitions():
        for client_id, name_key in part:
            key = sorted_core_name(name_key or "")
            if key:
                ids = groups.get(key)
                if ids is None:
                    groups[key] = [client_id]
                else:
                    ids.append(client_id)
        read += len(part)
        if progress is not None:
            progress(read)
    return groups, read


def _neighbours(names: list[str], window: int) -> Iterator[tuple[str, str, int]]:
    """Pairs of ``names`` at most ``window`` apart whose ratio reaches the threshold."""
    # Imported here: numpy costs every web worker ~15 MB, and only the scan job needs it.
    import numpy as np
    from rapidfuzz import fuzz, process

    for offset in range(1, min(window, len(names) - 1) + 1):
        scores = process.cpdist(
            names[:-offset],
            names[offset:],
            scorer=fuzz.ratio,
            score_cutoff=NAME_THRESHOLD,
            workers=-1,
        )
        for i in np.flatnonzero(scores):
            yield names[i], names[i + offset], int(scores[i])


def find_similar_names(groups: dict[str, list[int]], found: Found, window: int = WINDOW) -> None:
    names = []
    for name, ids in groups.items():
        if len(ids) > found.max_group:
            found.skip("similar name", name, len(ids))
            continue
        found.group(ids, "similar name", name)
        names.append(name)
    names.sort()
    orders = (names, sorted(names, key=lambda n: n[::-1]))
    for ordered in orders:
        for one, other, score in _neighbours(ordered, window):
            for a in groups[one]:
                for b in groups[other]:
                    found.add(a, b, "similar name", score)


# --- writing -----------------------------------------------------------------------------


def _upsert(conn: sa.Connection) -> sa.Insert:
    postgresql = conn.dialect.name == "postgresql"
    insert = pg_insert if postgresql else sqlite_insert
    # Encoded once per distinct list by Found.rows, not once per row; SQLite stores JSON
    # as text, PostgreSQL casts it.
    reasons = sa.bindparam("reasons", type_=sa.Text)
    statement = insert(_pairs).values(
        client_a_id=sa.bindparam("a"),
        client_b_id=sa.bindparam("b"),
        reasons=sa.cast(reasons, sa.JSON) if postgresql else reasons,
        score=sa.bindparam("score"),
        status="open",
        found_by_id=sa.bindparam("scan"),
        found_at=sa.bindparam("at"),
    )
    return statement.on_conflict_do_update(
        index_elements=[_pairs.c.client_a_id, _pairs.c.client_b_id],
        set_={
            "reasons": statement.excluded.reasons,
            "score": statement.excluded.score,
            "found_by_id": statement.excluded.found_by_id,
            "found_at": statement.excluded.found_at,
        },
        # A dismissed or merged pair keeps its decision.
        where=_pairs.c.status == "open",
    )


def save(conn: sa.Connection, scan_id: int, found: Found) -> tuple[int, int]:
    """Replace the open pairs with ``found``; returns (open pairs, pairs decided before).

    Commits after every batch, so other writers (SQLite has one at a time) wait for one
    batch, not for the whole scan; the stale open pairs go in the last transaction. A
    reviewer meanwhile sees the old pairs, some already updated: never a dismissal lost
    (the upsert leaves decided pairs alone) and never a pair twice. The caller commits.
    """
    decided = {
        (a, b)
        for a, b in conn.execute(
            sa.select(_pairs.c.client_a_id, _pairs.c.client_b_id).where(_pairs.c.status != "open")
        )
    }
    write = bulk_writer(conn, _upsert(conn))
    found_at = _pairs.c.found_at.type.dialect_impl(conn.dialect)
    to_db = found_at.bind_processor(conn.dialect)
    now = utcnow()
    batch: list[dict[str, Any]] = []
    again = 0
    for row in found.rows(scan_id, to_db(now) if to_db else now):
        if (row["a"], row["b"]) in decided:
            again += 1
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            write(batch)
            conn.commit()
            batch = []
    if batch:
        write(batch)
    conn.execute(
        sa.delete(_pairs).where(
            _pairs.c.status == "open",
            sa.or_(_pairs.c.found_by_id.is_(None), _pairs.c.found_by_id != scan_id),
        )
    )
    open_pairs = conn.execute(
        sa.select(sa.func.count()).select_from(_pairs).where(_pairs.c.status == "open")
    ).scalar_one()
    return open_pairs, again


# --- the job -----------------------------------------------------------------------------


def _update(scan_id: int, **values: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(_scans)
            .where(_scans.c.id == scan_id)
            .values(updated_at=utcnow(), version=_scans.c.version + 1, **values)
        )


def run(scan_id: int) -> dict[str, Any] | None:
    """The ``core.duplicate_scan`` job: scan the registry for scan ``scan_id``.

    A scan already done is left alone, so a job delivered twice does the work once; a scan
    that failed or was interrupted starts over.
    """
    engine = db.engine
    with engine.connect() as conn:
        status = conn.execute(
            sa.select(_scans.c.status).where(_scans.c.id == scan_id)
        ).scalar_one_or_none()
    if status is None or status == "done":
        log.info("duplicate scan %s: nothing to do (%s)", scan_id, status or "no such scan")
        return None
    _update(
        scan_id,
        status="running",
        stage="exact",
        started_at=utcnow(),
        finished_at=None,
        progress_done=0,
        message="",
    )
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 2)
        clock = now

    try:
        found = Found()
        with engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(_clients).where(_LIVE)
            ).scalar_one()
            _update(scan_id, progress_total=total)
            find_exact(conn, found)
            lap("exact")
            _update(scan_id, stage="names")
            groups, read = read_names(
                conn, progress=lambda n: _update(scan_id, progress_done=min(n, total))
            )
            lap("read names")
        find_similar_names(groups, found)
        del groups
        lap("compare names")
        _update(scan_id, stage="saving", progress_done=read, progress_total=read)
        # The page cache for writing many pairs is the worker's (core.db.sqlite_cache_kib).
        with engine.connect() as conn:
            open_pairs, decided = save(conn, scan_id, found)
            conn.execute(
                sa.update(_scans)
                .where(_scans.c.id == scan_id)
                .values(
                    status="done",
                    stage="",
                    pairs_found=open_pairs,
                    pairs_decided=decided,
                    groups_skipped=found.groups_skipped,
                    skipped=found.skipped(),
                    truncated=found.truncated,
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                    version=_scans.c.version + 1,
                )
            )
            conn.commit()
        lap("save")
    except Exception as exc:
        log.exception("duplicate scan %s failed", scan_id)
        _update(
            scan_id,
            status="failed",
            stage="",
            finished_at=utcnow(),
            message=f"{type(exc).__name__}: {exc}"[:1000],
        )
        raise
    log.info(
        "duplicate scan %s: %s clients, %s open pairs, %s groups skipped; seconds %s",
        scan_id,
        read,
        open_pairs,
        found.groups_skipped,
        seconds,
    )
    return {
        "clients": read,
        "pairs": open_pairs,
        "groups_skipped": found.groups_skipped,
        "truncated": found.truncated,
        "seconds": seconds,
    }
