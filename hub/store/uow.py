"""The unit of work: one PostgreSQL transaction, and the repository operations the use cases need.

Everything a message changes (source record, golden record, version, outbox event, processed
message id, outcome counter) is written through one unit of work, so it commits or vanishes whole.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, StatementError

from hub.store.tables import (
    ar_exposure,
    audit_log,
    credit_limit_proposal,
    customer_alert,
    dead_letter,
    distinct_pair,
    golden_override,
    golden_record,
    match_key,
    match_review,
    message_outcome,
    source_record,
)

WALK_IN_GOLDEN_ID = "CASH"


@dataclass(frozen=True)
class StoredSourceRecord:
    """A source record as stored: where it is attached, and what was last applied."""

    source: str
    source_record_id: str
    golden_id: str | None
    detached: bool
    last_occurred_at: datetime
    record: dict[str, Any]


@dataclass(frozen=True)
class StoredGoldenRecord:
    """A golden record's current row."""

    golden_id: str
    state: str
    version: int
    survivor_id: str | None
    customer: dict[str, Any] | None
    source_refs: list[dict[str, str]]
    lineage: dict[str, Any]
    data_quality: dict[str, Any]


SOURCE_RECORD_COLUMNS = "source, source_record_id, golden_id, detached, last_occurred_at, record"
GOLDEN_RECORD_COLUMNS = "golden_id, state, version, survivor_id, customer, source_refs, lineage, data_quality"

#: Insert or replace a source record's state (named parameters: `SourceRecordState.params`).
UPSERT_SOURCE_RECORD = (
    "INSERT INTO source_record (source, source_record_id, golden_id, detached, last_occurred_at,"
    " last_message_id, parent_source_record_id, record, payload, issues, updated_at)"
    " VALUES (%(source)s, %(ref)s, %(golden)s, %(detached)s, %(at)s, %(message)s, %(parent)s, %(record)s,"
    " %(payload)s, %(issues)s, now())"
    " ON CONFLICT (source, source_record_id) DO UPDATE SET golden_id = excluded.golden_id,"
    " detached = excluded.detached, last_occurred_at = excluded.last_occurred_at,"
    " last_message_id = excluded.last_message_id,"
    " parent_source_record_id = excluded.parent_source_record_id, record = excluded.record,"
    " payload = excluded.payload, issues = excluded.issues, updated_at = now()"
)
#: Statements the hot path sends alone and in pipelines with others.
LOCK_KEYS = "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k"
PROCESSED = "SELECT 1 FROM processed_message WHERE message_id = %s"
GOLDEN_BY_ID = f"SELECT {GOLDEN_RECORD_COLUMNS} FROM golden_record WHERE golden_id = %s"
ATTACHED_RECORDS = (
    f"SELECT {SOURCE_RECORD_COLUMNS} FROM source_record WHERE golden_id = %s AND NOT detached"
    " ORDER BY source, source_record_id"
)
#: Source records (two arrays: sources, source record ids) with their golden records' survivors, locked.
SOURCE_RECORDS_WITH_SURVIVOR = (
    "SELECT "
    + ", ".join(f"s.{c}" for c in SOURCE_RECORD_COLUMNS.split(", "))
    + ", g.survivor_id FROM source_record s LEFT JOIN golden_record g ON g.golden_id = s.golden_id"
    " WHERE (s.source, s.source_record_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
    " ORDER BY s.source, s.source_record_id FOR UPDATE OF s"
)
#: Per record of a batch (three arrays: record index, key kind, key value), the golden ids sharing the most
#: blocking keys with it, ranked as `golden_ids_by_keys` ranks them, each with its survivor.
CANDIDATES_OF_RECORDS = (
    "WITH wanted AS (SELECT * FROM unnest(%(records)s::int[], %(kinds)s::text[], %(values)s::text[])"
    "  AS w(i, kind, value)),"
    " shared AS (SELECT w.i, m.golden_id, count(*) AS shared FROM wanted w"
    "  JOIN match_key m ON m.kind = w.kind AND m.value = w.value GROUP BY w.i, m.golden_id),"
    " ranked AS (SELECT i, golden_id, shared,"
    "  row_number() OVER (PARTITION BY i ORDER BY shared DESC, golden_id) AS rank FROM shared)"
    " SELECT r.i, r.golden_id, g.survivor_id FROM ranked r"
    " LEFT JOIN golden_record g ON g.golden_id = r.golden_id"
    " WHERE r.rank <= %(limit)s ORDER BY r.i, r.rank"
)
#: What scoring reads about golden records (one array of ids, given twice), in one round trip.
MATCH_CONTEXT = (
    f"SELECT {SOURCE_RECORD_COLUMNS} FROM source_record WHERE golden_id = ANY(%s) AND NOT detached"
    " ORDER BY golden_id, source, source_record_id",
    "SELECT golden_id_a, golden_id_b FROM distinct_pair"
    " WHERE golden_id_a = ANY(%s) AND golden_id_b = ANY(%s)",
    "SELECT golden_id FROM golden_record WHERE golden_id = ANY(%s) AND customer ->> 'blacklisted' = 'true'",
)
#: What a credit status is computed from (named parameters g: golden id, kind: the hold alert's kind);
#: the last status row is locked.
LOWEST_CREDIT_LIMIT = (
    "SELECT min((v.event->'customer'->'credit'->>'limit')::numeric) AS lowest FROM golden_version v"
    " WHERE v.golden_id = %(g)s AND v.event->'customer'->'credit'->>'currency' = %(c)s"
    " AND v.created_at >= now() - %(window)s"
    " AND v.created_at >= coalesce((SELECT max(a.created_at) FROM golden_version a WHERE a.golden_id = %(g)s"
    " AND a.cause->>'action' = 'credit_limit.approve'), '-infinity')"
)

CREDIT_INPUTS = (
    "WITH previous AS (SELECT version, status FROM credit_status WHERE golden_id = %(g)s FOR UPDATE)"
    " SELECT (SELECT version FROM previous) AS version, (SELECT status FROM previous) AS status,"
    " EXISTS (SELECT 1 FROM customer_alert WHERE golden_id = %(g)s AND kind = %(kind)s"
    "  AND resolved_at IS NULL) AS alerted,"
    " ARRAY(SELECT ARRAY[account_id, outstanding::text, overdue::text, currency] FROM ar_exposure"
    "  WHERE golden_id = %(g)s ORDER BY account_id) AS exposures"
)
#: Queue an event (named parameters: topic, key, value, golden).
INSERT_OUTBOX = (
    "INSERT INTO outbox (topic, key, value, golden_id) VALUES (%(topic)s, %(key)s, %(value)s, %(golden)s)"
)
OVERRIDES = (
    "SELECT golden_id, attribute, value, actor, reason, set_at FROM golden_override"
    " WHERE golden_id = %s ORDER BY attribute"
)


@dataclass(frozen=True)
class SourceRecordState:
    """A source record as a change leaves it: what is stored of it."""

    source: str
    source_record_id: str
    golden_id: str | None
    detached: bool
    occurred_at: datetime
    message_id: str
    parent_source_record_id: str | None
    record: dict[str, Any]
    payload: dict[str, Any] | None
    issues: list[dict[str, Any]]

    def params(self) -> dict[str, Any]:
        """The named parameters of UPSERT_SOURCE_RECORD."""
        return {
            "source": self.source,
            "ref": self.source_record_id,
            "golden": self.golden_id,
            "detached": self.detached,
            "at": self.occurred_at,
            "message": self.message_id,
            "parent": self.parent_source_record_id,
            "record": Jsonb(self.record),
            "payload": None if self.payload is None else Jsonb(self.payload),
            "issues": Jsonb(self.issues),
        }


#: A statement of the hot path and its parameters.
Statement = tuple[str, Sequence[Any] | dict[str, Any]]

#: Called with each statement the hot path sends and its seconds (the benchmarks count statements).
statement_observers: list[Callable[[str, float], None]] = []


@dataclass(frozen=True)
class MatchContext:
    """What scoring reads about candidate golden records besides their records' values."""

    attached: dict[str, list[StoredSourceRecord]]
    #: candidates a steward marked distinct from the record's current golden record
    distinct_from_current: set[str]
    #: pairs among the candidates and the current golden record a steward marked distinct
    distinct_pairs: set[frozenset[str]]
    blacklisted: set[str]


@dataclass(frozen=True)
class OpenedSourceChange:
    """A source change's start: whether its message was processed, and its source record as stored."""

    processed: bool
    existing: StoredSourceRecord | None
    #: the surviving golden record the source record is attached to, if it is
    current_golden_id: str | None


@dataclass(frozen=True)
class SourceChangeKeys:
    """What opening a source change locks and reads: its locks, its message id, its source record."""

    locks: tuple[str, ...]
    message_id: str
    source: str
    source_record_id: str
    #: the blocking keys its record is matched by; empty when it is not matched (a delete, a walk-in)
    blocking_keys: tuple[tuple[str, str], ...] = ()


@dataclass
class _ReadAhead:
    """A batch's source changes opened at once, valid for each entry until this transaction touches it."""

    locks: set[str]
    #: the message ids the read-ahead answers for; one is dropped when this transaction marks it processed
    message_ids: set[str]
    processed: set[str]
    #: each source record as stored (with its golden record's survivor), None when not stored; dropped
    #: when this transaction writes it
    records: dict[tuple[str, str], tuple[Any, ...] | None]
    candidates: _CandidatesReadAhead


@dataclass
class _CandidatesReadAhead:
    """The candidate golden records of a batch's records and what scoring reads about them, as at the
    batch's start. An answer stands while this transaction has added none of the record's blocking keys
    and changed none of the golden records in it (their keys, source records or document): adding keys
    can only raise a golden record into a record's candidates, and taking keys away can only lower the
    ones that are in them."""

    limit: int = 0
    #: per record's blocking keys: its candidates, best first, each with its survivor
    found: dict[tuple[tuple[str, str], ...], list[tuple[str, str | None]]] = field(default_factory=dict)
    #: the golden records the context was read for, their attached source records, distinct pairs and
    #: blacklisted ones
    read_for: set[str] = field(default_factory=set)
    attached: dict[str, list[StoredSourceRecord]] = field(default_factory=dict)
    distinct_pairs: set[frozenset[str]] = field(default_factory=set)
    blacklisted: set[str] = field(default_factory=set)
    added_keys: set[tuple[str, str]] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    #: the golden record each source record this transaction wrote was attached to when it wrote it
    written: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def candidates_of(
        self, keys: Sequence[tuple[str, str]], limit: int
    ) -> list[tuple[str, str | None]] | None:
        found = self.found.get(tuple(keys))
        if found is None or limit != self.limit or not self.added_keys.isdisjoint(keys):
            return None
        if any(golden_id in self.changed for golden_id, _ in found):
            return None
        return found

    def context_of(self, ids: Sequence[str], current: str | None) -> MatchContext | None:
        wanted = {*ids, *([current] if current else [])}
        if not wanted <= self.read_for or not wanted.isdisjoint(self.changed):
            return None
        return _match_context(
            {g: list(self.attached.get(g, ())) for g in ids},
            {pair for pair in self.distinct_pairs if pair <= wanted},
            current,
            self.blacklisted & wanted,
        )

    def forget(self) -> None:
        """Answer nothing more: something changed that the bookkeeping does not follow."""
        self.found.clear()
        self.read_for.clear()


class ReadAheadOutdated(RuntimeError):
    """Another transaction retired or erased a golden record this batch read ahead and matched to.

    The batch is then applied again one message at a time (its fallback), each reading for itself.
    """


class _PendingRow:
    """The row a deferred statement returns: there once the statement has gone, with the next read or
    when first asked for."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._row: Any = None
        self._sent = False

    def arrived(self, row: Any) -> None:
        self._row, self._sent = row, True

    def row(self) -> Any:
        if not self._sent:
            self._flush()
        if not self._sent:
            raise RuntimeError("the statement was undone before its row arrived")
        return self._row


class AttachedSourceRecord:
    """What storing an attached source record found: exposure booked, and its children's golden ids."""

    def __init__(self, pending: _PendingRow) -> None:
        self._pending = pending

    @property
    def parked_accounts(self) -> int:
        return int(self._pending.row().parked)

    @property
    def children(self) -> list[str]:
        return list(self._pending.row().children)


@dataclass(frozen=True)
class CreditInputs:
    """A golden record's exposures (account, outstanding, overdue, currency), hold alert, last status."""

    exposures: list[tuple[str, str, str | None, str]]
    suspected_blacklist_match: bool
    previous_version: int | None
    previous_status: dict[str, Any] | None


@dataclass(frozen=True)
class GoldenToRefresh:
    """A golden record locked for a refresh, with what its survivorship and its credit status read."""

    golden: StoredGoldenRecord | None
    attached: list[StoredSourceRecord]
    overrides: list[Any]
    credit: CreditInputs


def _match_context(
    attached: dict[str, list[StoredSourceRecord]],
    pairs: set[frozenset[str]],
    current: str | None,
    blacklisted: set[str],
) -> MatchContext:
    from_current = {other for pair in pairs if current in pair for other in pair if other != current}
    return MatchContext(attached, from_current, pairs, blacklisted)


def _credit_inputs(row: Any) -> CreditInputs:
    return CreditInputs(
        [(a, o, d, c) for a, o, d, c in row.exposures], bool(row.alerted), row.version, row.status
    )


def _candidates_params(key_sets: Sequence[tuple[tuple[str, str], ...]], limit: int) -> dict[str, Any]:
    """CANDIDATES_OF_RECORDS's parameters: the n-th key set's keys go in as record n."""
    wanted = [(i, kind, value) for i, key_set in enumerate(key_sets) for kind, value in key_set]
    return {
        "records": [i for i, _, _ in wanted],
        "kinds": [kind for _, kind, _ in wanted],
        "values": [value for _, _, value in wanted],
        "limit": limit,
    }


def _json(document: Any) -> str:
    # UTF-8 rather than \\u escapes: an event of non-Latin text stays near its source's size (six bytes a
    # character escaped, three in UTF-8), under what the broker takes
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _lock_id(key: str) -> int:
    """Map a key onto PostgreSQL's 64-bit advisory-lock space, stably across processes."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _lock_ids(keys: Iterable[str]) -> list[int]:
    """The lock ids of keys in key order: LOCK_KEYS takes them in array order, so every worker takes
    them in the same order and none deadlocks."""
    return [_lock_id(key) for key in sorted(set(keys))]


class _Flight:
    """Statements sent in an open pipeline and not waited for yet; closing it is the wait."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self._raw = raw
        self._pipeline = raw.pipeline()
        self._pipeline.__enter__()
        self._rows: list[tuple[psycopg.Cursor[Any], _PendingRow]] = []

    def execute(
        self, writes: Sequence[Statement], pending: dict[int, _PendingRow], cursor: psycopg.Cursor[Any]
    ) -> None:
        for i, (sql, params) in enumerate(writes):
            if i in pending:  # a statement whose row is wanted gets a cursor of its own
                own = self._raw.cursor(row_factory=namedtuple_row)
                own.execute(sql, params)
                self._rows.append((own, pending[i]))
            else:
                cursor.execute(sql, params)

    def close(self, error: BaseException | None = None) -> None:
        """Wait for every statement sent (raising what failed), or give up on them after `error`."""
        if error is None:
            self._pipeline.__exit__(None, None, None)
        else:
            self._pipeline.__exit__(type(error), error, error.__traceback__)

    def deliver(self) -> None:
        for cursor, row in self._rows:
            row.arrived(cursor.fetchone())


class UnitOfWork:
    """One transaction on the hub's database."""

    def __init__(self, conn: Connection) -> None:
        self._sa = conn
        self._cursors: list[psycopg.Cursor[Any]] = []
        #: When set (the stream worker's batches and imports), writes whose result nothing needs (golden
        #: records, versions, credit status, processed message ids, decisions, outbox events) do not
        #: cost a round trip each: they ride in the pipeline of the next statement that reads, or go
        #: when the savepoint or transaction ends, or before SQLAlchemy sends anything, in order.
        self.deferring = False
        self._deferred: list[Statement] = []
        #: the deferred statements whose row is wanted, by position in `_deferred`
        self._deferred_rows: dict[int, _PendingRow] = {}
        self._deferred_processed: set[str] = set()
        self._read_ahead: _ReadAhead | None = None
        #: writes sent ahead (`send_writes`) in an open pipeline, not waited for yet
        self._flight: _Flight | None = None
        #: golden ids taken from the sequence for this transaction and not used yet
        self._golden_ids: list[str] = []
        self.allocate_in_blocks = False
        #: outcome counts written when the transaction ends: the counter rows are shared by every worker,
        #: and updating them per message would hold their locks for a whole batch
        self.pending_counts: dict[tuple[str, str], int] = {}

    # -- statements of the hot path ------------------------------------------------------------------
    #
    # The per-message statements go to psycopg directly, on the transaction's own connection: SQLAlchemy
    # Core spends about 0.25 ms of CPU building, caching and wrapping each statement, psycopg 0.04 ms
    # (`hub bench limits`), and a message sent about 25 of them. Errors are raised as SQLAlchemy's, so
    # callers tell a lost connection or a deadlock from bad data the same way for both paths.

    @property
    def conn(self) -> Connection:
        """The transaction's SQLAlchemy connection; the deferred writes are sent before it is used.

        What goes through it is off the hot path (merges, steward actions) and may move any source record
        or retire any golden record, so the batch's read-ahead is dropped.
        """
        self._read_ahead = None
        self.flush_writes()
        return self._sa

    @property
    def _raw(self) -> psycopg.Connection[Any]:
        raw = self._sa.connection.driver_connection
        assert raw is not None
        return raw  # type: ignore[no-any-return]

    def _send(self, statements: Sequence[Statement]) -> list[psycopg.Cursor[Any]]:
        """Send the deferred writes, then `statements`, in one round trip; return a cursor per statement.

        PostgreSQL runs pipelined statements in order, each with a fresh snapshot as if sent one by one:
        a write is seen by the reads after it, and a lock taken by one is held when the next reads. Writes
        already sent ahead (`send_writes`) are waited for in the same round trip.
        """
        writes, pending = self._take_deferred()
        while len(self._cursors) <= len(statements):
            self._cursors.append(self._raw.cursor(row_factory=namedtuple_row))
        cursors = self._cursors[1 : len(statements) + 1]
        flight, self._flight = self._flight, None
        began = time.perf_counter() if statement_observers else 0.0
        try:
            if flight is None and not pending and len(writes) + len(statements) == 1:
                sql, params = (writes or statements)[0]
                (cursors[0] if statements else self._cursors[0]).execute(sql, params)
            else:
                flight = flight or _Flight(self._raw)
                try:
                    flight.execute(writes, pending, self._cursors[0])
                    for cursor, (sql, params) in zip(cursors, statements, strict=True):
                        cursor.execute(sql, params)
                except BaseException as error:
                    flight.close(error)
                    raise
                flight.close()  # the one wait: every statement sent so far has run
        except psycopg.Error as error:
            shown = statements[0][0] if statements else writes[0][0] if writes else "deferred writes"
            raise self._database_error(error, shown) from error
        if flight is not None:
            flight.deliver()
        if statement_observers:
            shape = " ; ".join(sql for sql, _ in statements) or "deferred writes"
            for observe in statement_observers:
                observe(shape, time.perf_counter() - began)
        return cursors

    def _take_deferred(self) -> tuple[list[Statement], dict[int, _PendingRow]]:
        writes, self._deferred = self._deferred, []
        pending, self._deferred_rows = self._deferred_rows, {}
        if writes:
            self._deferred_processed.clear()
        return writes, pending

    def _database_error(self, error: psycopg.Error, shown: str) -> StatementError:
        """Return psycopg's error as SQLAlchemy's (callers tell a lost connection the same way for both
        paths), invalidating the connection when it broke."""
        broken = self._raw.broken
        if broken:
            self._sa.invalidate(error)
        return DBAPIError.instance(shown, None, error, psycopg.Error, connection_invalidated=broken)

    def send_writes(self) -> None:
        """Send the deferred writes now without waiting for them: PostgreSQL runs them while this process
        goes on with the next message, and the next read waits for them in its own round trip.

        The batch loops call it after each message, so the database's work on one message overlaps the
        Python work on the next instead of taking turns with it. A write that fails is reported by the
        next read (or the commit), as a deferred write always is.
        """
        if not self._deferred:
            return
        writes, pending = self._take_deferred()
        if not self._cursors:
            self._cursors.append(self._raw.cursor(row_factory=namedtuple_row))
        if self._flight is None:
            self._flight = _Flight(self._raw)
        try:
            self._flight.execute(writes, pending, self._cursors[0])
        except psycopg.Error as error:
            self.abandon_writes(error)
            raise self._database_error(error, writes[0][0]) from error

    def abandon_writes(self, error: BaseException) -> None:
        """Stop waiting for the writes sent ahead: the transaction is failing and will be rolled back.

        The connection leaves pipeline mode, so it goes back to the pool as it came.
        """
        flight, self._flight = self._flight, None
        if flight is not None:
            flight.close(error)

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> psycopg.Cursor[Any]:
        return self._send([(sql, params)])[0]

    def _write(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> None:
        """Write now, or (deferring) with the next statement that reads, or when the transaction ends."""
        if self.deferring:
            self._deferred.append((sql, params))
        else:
            self._run(sql, params)

    def _write_returning(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> _PendingRow:
        """Write as `_write` does; the statement's one row is there once it has gone."""
        pending = _PendingRow(self.flush_writes)
        if self.deferring:
            self._deferred_rows[len(self._deferred)] = pending
            self._deferred.append((sql, params))
        else:
            pending.arrived(self._one(sql, params))
        return pending

    def flush_writes(self) -> None:
        """Send the deferred writes now, in the order they were written, in one round trip, and wait for
        them and for the writes sent ahead."""
        if self._deferred or self._flight is not None:
            self._send([])

    def _pipelined(self, statements: Sequence[Statement]) -> list[list[Any]]:
        """Send statements in one round trip (see `_send`); return their rows."""
        return [c.fetchall() if c.description is not None else [] for c in self._send(statements)]

    def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return self._run(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any | None:
        return self._run(sql, params).fetchone()

    # -- idempotency and counting -------------------------------------------------------------

    def is_processed(self, message_id: str) -> bool:
        """Tell whether a message id was applied (or found stale) before."""
        if message_id in self._deferred_processed:
            return True
        return self._one(PROCESSED, (message_id,)) is not None

    def mark_processed(self, message_id: str, source: str, outcome: str) -> None:
        """Record a message id in the same transaction as its effects."""
        self._write(
            "INSERT INTO processed_message (message_id, source, outcome) VALUES (%s, %s, %s)",
            (message_id, source, outcome),
        )
        if self.deferring:
            self._deferred_processed.add(message_id)
        if self._read_ahead is not None:
            self._read_ahead.message_ids.discard(message_id)

    def count_outcome(self, source: str, outcome: str, n: int = 1) -> None:
        """Add to the persistent count of messages by source and outcome (written at commit)."""
        self.pending_counts[(source, outcome)] = self.pending_counts.get((source, outcome), 0) + n

    def flush_counts(self) -> None:
        """Write the counts of this transaction, just before it commits."""
        for (source, outcome), n in sorted(self.pending_counts.items()):
            stmt = pg_insert(message_outcome).values(source=source, outcome=outcome, count=n)
            self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["source", "outcome"], set_={"count": message_outcome.c.count + n}
                )
            )
        self.pending_counts.clear()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run a block in a savepoint; if it raises, its writes and its counts are undone."""
        counts = dict(self.pending_counts)
        self.flush_writes()
        # the savepoint rides with the block's first statement, its release with the block's last writes
        self._deferred.append(("SAVEPOINT message", ()))
        try:
            yield
            self._deferred.append(("RELEASE SAVEPOINT message", ()))
            self.flush_writes()  # inside the savepoint: a row that fails is this block's failure
        except BaseException as error:
            self.abandon_writes(error)
            began = not self._deferred or self._deferred[0][0] != "SAVEPOINT message"
            self._deferred.clear()
            self._deferred_rows.clear()
            self._deferred_processed.clear()
            if began and not self._raw.broken:
                self._run("ROLLBACK TO SAVEPOINT message")
                self._run("RELEASE SAVEPOINT message")  # rolled back to, it stays; do not pile them up
            self.pending_counts = counts
            raise

    def read_ahead_source_changes(self, changes: Sequence[SourceChangeKeys], candidate_limit: int) -> None:
        """Open a batch's source changes in one round trip: take all their locks, in the one order every
        worker uses, then read which messages were processed, their source records (locked) and their
        records' candidate golden records; then, in a second, what scoring reads about those.

        `open_source_change`, `golden_ids_by_keys` and `match_context` answer from it for as long as
        this transaction has not touched what they read; otherwise they read for themselves, as without
        a read-ahead.
        """
        if not changes:
            return
        keys = {key for change in changes for key in change.locks}
        refs = sorted({(c.source, c.source_record_id) for c in changes})
        message_ids = sorted({c.message_id for c in changes})
        key_sets = sorted({c.blocking_keys for c in changes if c.blocking_keys})
        _, processed, found, candidates = self._pipelined(
            [
                (LOCK_KEYS, (_lock_ids(keys),)),
                ("SELECT message_id FROM processed_message WHERE message_id = ANY(%s)", (message_ids,)),
                (
                    SOURCE_RECORDS_WITH_SURVIVOR,
                    ([source for source, _ in refs], [ref for _, ref in refs]),
                ),
                (CANDIDATES_OF_RECORDS, _candidates_params(key_sets, candidate_limit)),
            ]
        )
        records: dict[tuple[str, str], tuple[Any, ...] | None] = dict.fromkeys(refs)
        for row in found:
            records[(row.source, row.source_record_id)] = tuple(row)
        read = _CandidatesReadAhead(candidate_limit, {key_set: [] for key_set in key_sets})
        for row in candidates:
            read.found[key_sets[row.i]].append((row.golden_id, row.survivor_id))
        current = {
            golden_id
            for row in records.values()
            if row is not None and not row[3]  # attached: its golden record, or that one's survivor
            for golden_id in (row[2], row[-1])
            if golden_id is not None
        }
        ids = sorted({golden_id for found in read.found.values() for golden_id, _ in found} | current)
        if ids:
            read.attached, read.distinct_pairs, read.blacklisted = self._read_match_context(ids, ids)
            read.read_for = set(ids)
        self._read_ahead = _ReadAhead(
            keys, set(message_ids), {r.message_id for r in processed}, records, read
        )

    def _forget_source_record(self, source: str, source_record_id: str, golden_id: str | None) -> None:
        """Drop a source record from the read-ahead as this transaction writes it, attached to `golden_id`
        (None: detached); the golden records it leaves and joins have changed for the candidates' reads."""
        ahead = self._read_ahead
        if ahead is None:
            return
        ref = (source, source_record_id)
        read = ahead.candidates
        if ref in read.written:
            left: tuple[str | None, ...] = (read.written[ref],)
        elif ref in ahead.records:
            row = ahead.records.pop(ref)
            left = () if row is None else (row[2], row[-1])  # its golden record and that one's survivor
        else:
            read.forget()
            left = ()
        read.written[ref] = golden_id
        read.changed.update(g for g in (*left, golden_id) if g is not None)

    def open_source_change(
        self, locks: Collection[str], message_id: str, source: str, source_record_id: str
    ) -> OpenedSourceChange:
        """Take a change's advisory locks, then tell whether its message was processed and read its source
        record (locked), in one round trip; the reads run after the locks are held. Answered from the
        batch's read-ahead when it holds the change untouched."""
        if message_id in self._deferred_processed:
            return OpenedSourceChange(True, None, None)
        ahead = self._read_ahead
        if (
            ahead is not None
            and message_id in ahead.message_ids
            and (source, source_record_id) in ahead.records
            and ahead.locks.issuperset(locks)
        ):
            row = ahead.records[(source, source_record_id)]
            return self._opened(message_id in ahead.processed, row)
        _, processed, found = self._pipelined(
            [
                (LOCK_KEYS, (_lock_ids(locks),)),
                (PROCESSED, (message_id,)),
                (SOURCE_RECORDS_WITH_SURVIVOR, ([source], [source_record_id])),
            ]
        )
        return self._opened(bool(processed), tuple(found[0]) if found else None)

    def _opened(self, processed: bool, found: tuple[Any, ...] | None) -> OpenedSourceChange:
        if found is None:
            return OpenedSourceChange(processed, None, None)
        *stored, survivor_id = found
        existing = StoredSourceRecord(*stored)
        current = None
        if existing.golden_id is not None and not existing.detached:
            current = existing.golden_id if survivor_id is None else self.resolve(survivor_id)
        return OpenedSourceChange(processed, existing, current)

    # -- locking --------------------------------------------------------------------------------

    def lock(self, keys: Iterable[str]) -> None:
        """Take transaction-scoped advisory locks on keys, in a fixed order so workers never deadlock."""
        ids = _lock_ids(keys)
        if ids:
            self._all(LOCK_KEYS, (ids,))

    # -- source records ---------------------------------------------------------------------------

    def save_source_record(self, state: SourceRecordState) -> None:
        """Insert or replace a source record's state."""
        self._forget_source_record(state.source, state.source_record_id, state.golden_id)
        self._run(UPSERT_SOURCE_RECORD, state.params())

    def attach_source_record(
        self, state: SourceRecordState, keys: Sequence[tuple[str, str]]
    ) -> AttachedSourceRecord:
        """Store a source record attached to a golden record with its blocking keys, in one statement that
        rides, when deferring, with the next read (the golden record's refresh).

        Only the keys that changed are deleted or inserted. Exposure AR parked on this source record is
        booked on the golden record, and the golden ids of records naming it as their parent are returned.
        """
        self._forget_source_record(state.source, state.source_record_id, state.golden_id)
        wanted = sorted(set(keys))
        if self._read_ahead is not None:
            self._read_ahead.candidates.added_keys.update(wanted)
        pending = self._write_returning(
            f"WITH saved AS ({UPSERT_SOURCE_RECORD} RETURNING 1),"
            " wanted AS (SELECT k AS kind, v AS value"
            "  FROM unnest(%(kinds)s::text[], %(values)s::text[]) AS t(k, v)),"
            " gone AS (DELETE FROM match_key m WHERE m.source = %(source)s AND m.source_record_id = %(ref)s"
            "  AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.kind = m.kind AND w.value = m.value)"
            "  RETURNING 1),"
            " keyed AS (INSERT INTO match_key (kind, value, source, source_record_id, golden_id)"
            "  SELECT kind, value, %(source)s, %(ref)s, %(golden)s FROM wanted"
            "  ON CONFLICT (kind, value, source, source_record_id)"
            "  DO UPDATE SET golden_id = excluded.golden_id"
            "  WHERE match_key.golden_id IS DISTINCT FROM excluded.golden_id RETURNING 1),"
            " parked AS (UPDATE ar_exposure SET golden_id = %(golden)s WHERE golden_id IS NULL"
            "  AND named_source = %(source)s AND named_source_record_id = %(ref)s RETURNING 1)"
            " SELECT (SELECT count(*) FROM parked) AS parked,"
            " ARRAY(SELECT DISTINCT golden_id FROM source_record WHERE source = %(source)s"
            "  AND parent_source_record_id = %(ref)s AND NOT detached AND golden_id IS NOT NULL) AS children",
            {
                **state.params(),
                "kinds": [k for k, _ in wanted],
                "values": [v for _, v in wanted],
            },
        )
        return AttachedSourceRecord(pending)

    def attached_records(self, golden_id: str) -> list[StoredSourceRecord]:
        """Return the source records attached to a golden record, oldest reference first."""
        return [StoredSourceRecord(*r) for r in self._all(ATTACHED_RECORDS, (golden_id,))]

    def golden_id_of(self, source: str, source_record_id: str) -> str | None:
        """Return the golden id an attached source record belongs to."""
        row = self._one(
            "SELECT golden_id FROM source_record"
            " WHERE source = %s AND source_record_id = %s AND NOT detached",
            (source, source_record_id),
        )
        return None if row is None else str(row.golden_id)

    # -- match keys -------------------------------------------------------------------------------

    def remove_match_keys(self, source: str, source_record_id: str) -> None:
        """Remove a detached source record's blocking keys: nothing finds it any more."""
        self._forget_source_record(source, source_record_id, None)
        self._run(
            "DELETE FROM match_key WHERE source = %s AND source_record_id = %s", (source, source_record_id)
        )

    def golden_ids_by_keys(self, keys: Sequence[tuple[str, str]], limit: int) -> list[str]:
        """Return the golden ids sharing the most blocking keys with a record, at most `limit`, each
        followed to its survivor.

        Ranking by shared keys keeps a common key (a shared office building's postcode) from crowding
        out the candidate that also shares a name or a date of birth. A merge moves the keys to the
        survivor, so a retired id is rare here; it is followed with one query more.
        """
        if not keys:
            return []
        ahead = self._read_ahead
        found = None if ahead is None else ahead.candidates.candidates_of(keys, limit)
        if found is None:
            rows = self._all(CANDIDATES_OF_RECORDS, _candidates_params([tuple(keys)], limit))
            found = [(r.golden_id, r.survivor_id) for r in rows]
        if any(survivor is not None for _, survivor in found):
            return sorted(self.resolve_many([golden_id for golden_id, _ in found]))
        return [golden_id for golden_id, _ in found]

    def match_context(self, candidates: Collection[str], current: str | None) -> MatchContext:
        """Read what scoring needs about candidate golden records, in one round trip: their attached
        source records, the pairs a steward marked distinct, and which are blacklisted."""
        ids = sorted(set(candidates))
        ahead = self._read_ahead
        known = None if ahead is None else ahead.candidates.context_of(ids, current)
        if known is not None:
            return known
        with_current = sorted({*ids, *([current] if current else [])})
        attached, pairs, blacklisted = self._read_match_context(ids, with_current)
        return _match_context(attached, pairs, current, blacklisted)

    def _read_match_context(
        self, ids: list[str], with_current: list[str]
    ) -> tuple[dict[str, list[StoredSourceRecord]], set[frozenset[str]], set[str]]:
        attached_sql, distinct_sql, blacklisted_sql = MATCH_CONTEXT
        stored, distinct, blacklisted = self._pipelined(
            [
                (attached_sql, (ids,)),
                (distinct_sql, (with_current, with_current)),
                (blacklisted_sql, (with_current,)),
            ]
        )
        attached: dict[str, list[StoredSourceRecord]] = {g: [] for g in ids}
        for r in stored:
            attached[r.golden_id].append(StoredSourceRecord(*r))
        pairs = {frozenset((r.golden_id_a, r.golden_id_b)) for r in distinct}
        return attached, pairs, {r.golden_id for r in blacklisted}

    def move_source_records(self, from_golden_id: str, to_golden_id: str) -> None:
        """Re-attach every source record (and its blocking keys) of one golden record to another."""
        self.conn.execute(
            update(source_record)
            .where(source_record.c.golden_id == from_golden_id)
            .values(golden_id=to_golden_id)
        )
        self.conn.execute(
            update(match_key).where(match_key.c.golden_id == from_golden_id).values(golden_id=to_golden_id)
        )

    def move_source_record(self, source: str, source_record_id: str, to_golden_id: str) -> None:
        """Re-attach one source record (and its blocking keys) to another golden record."""
        self.conn.execute(
            update(source_record)
            .where(
                and_(source_record.c.source == source, source_record.c.source_record_id == source_record_id)
            )
            .values(golden_id=to_golden_id)
        )
        self.conn.execute(
            update(match_key)
            .where(and_(match_key.c.source == source, match_key.c.source_record_id == source_record_id))
            .values(golden_id=to_golden_id)
        )

    def mark_distinct(self, golden_id: str, other_id: str, decided_by: str) -> None:
        """Record that two golden records are different customers, never to be linked automatically."""
        a, b = sorted((golden_id, other_id))
        stmt = pg_insert(distinct_pair).values(golden_id_a=a, golden_id_b=b, decided_by=decided_by)
        self.conn.execute(stmt.on_conflict_do_nothing())

    def open_review(
        self,
        *,
        source: str,
        source_record_id: str,
        golden_id: str,
        candidate_golden_id: str,
        probability: float,
        explanation: dict[str, Any],
    ) -> None:
        """Open a match review for a steward, unless the same pair is already open."""
        self._write(
            "INSERT INTO match_review (source, source_record_id, golden_id, candidate_golden_id, probability,"
            " explanation) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (source, source_record_id, golden_id, candidate_golden_id, probability, Jsonb(explanation)),
        )

    def review_for_update(self, review_id: int) -> Any | None:
        """Return a match review's row, locked for this transaction."""
        return self.conn.execute(
            select(match_review).where(match_review.c.id == review_id).with_for_update()
        ).first()

    def close_review(self, review_id: int, status: str) -> None:
        """Close a match review with the steward's outcome."""
        self.conn.execute(
            update(match_review)
            .where(match_review.c.id == review_id)
            .values(status=status, resolved_at=func.now())
        )

    def audit(self, *, actor: str, action: str, target: str, reason: str, before: Any, after: Any) -> None:
        """Record a steward action: who, what, on what, why, and the state before and after."""
        self.conn.execute(
            insert(audit_log).values(
                actor=actor, action=action, target=target, reason=reason, before=before, after=after
            )
        )

    def children_of(self, golden_id: str) -> set[str]:
        """The golden records whose source records name one of this golden record's as their parent."""
        found = self._all(
            "SELECT DISTINCT c.golden_id FROM source_record p JOIN source_record c"
            " ON c.source = p.source AND c.parent_source_record_id = p.source_record_id"
            " WHERE p.golden_id = %s AND NOT p.detached AND NOT c.detached AND c.golden_id IS NOT NULL",
            (golden_id,),
        )
        return {str(r.golden_id) for r in found}

    def supersede_reviews(self, retired_id: str) -> None:
        """Close the open reviews of a golden record a merge retired, a delete deactivated or a steward
        erased: either the merge answered them (both sides are one record now), or they compare a record
        that no longer stands, whose evidence is stale. The re-match sweep scores a survivor again and opens
        a review of its own where one is due."""
        self._write(
            "UPDATE match_review SET status = 'superseded', resolved_at = now()"
            " WHERE status = 'open' AND (golden_id = %(g)s OR candidate_golden_id = %(g)s)",
            {"g": retired_id},
        )

    # -- golden records ---------------------------------------------------------------------------

    def golden_ids_changed_since(self, since: datetime) -> list[str]:
        """Return active golden records (not CASH) whose row changed after `since`, in id order."""
        rows = self.conn.execute(
            select(golden_record.c.golden_id)
            .where(
                and_(
                    golden_record.c.state == "active",
                    golden_record.c.golden_id != WALK_IN_GOLDEN_ID,
                    golden_record.c.updated_at > since,
                )
            )
            .order_by(golden_record.c.golden_id)
        ).all()
        return [r.golden_id for r in rows]

    def change_watermark(self, longest: timedelta) -> datetime:
        """Return the time before which every change to the database is visible now.

        `updated_at` is the writing transaction's start time, so a change not yet visible belongs to a
        transaction still open: the watermark is the start of the oldest one, or now. A transaction
        open longer than `longest` (a stuck session) is not waited for.
        """
        watermark: datetime = self.conn.execute(
            text(
                "SELECT greatest(now() - :longest, least(now(), coalesce("
                " (SELECT min(xact_start) FROM pg_stat_activity"
                "  WHERE datname = current_database() AND pid <> pg_backend_pid()), now())))"
            ),
            {"longest": longest},
        ).scalar_one()
        return watermark

    def next_golden_id(self) -> str:
        """Allocate a new, never reused golden id.

        With `allocate_in_blocks` (an import), the first allocation of a batch takes as many ids as the
        batch has source records not stored yet, in one round trip; those that link to existing golden
        records leave gaps. Otherwise one id is taken as the golden record is created, so that ids keep
        telling which of two golden records is older (the older survives a merge) across workers.
        """
        if not self._golden_ids:
            ahead = self._read_ahead
            wanted = 1
            if ahead is not None and self.allocate_in_blocks:
                wanted = max(1, sum(row is None for row in ahead.records.values()))
            self._golden_ids = [
                f"CUS-{n:07d}"
                for (n,) in self._all(
                    "SELECT nextval('golden_id_seq') FROM generate_series(1, %s) ORDER BY 1", (wanted,)
                )
            ]
        return self._golden_ids.pop(0)

    def create_golden(self, golden_id: str) -> None:
        """Insert an empty golden record at version 0."""
        self._write(
            "INSERT INTO golden_record (golden_id, state, version) VALUES (%s, 'active', 0)", (golden_id,)
        )

    def golden(self, golden_id: str, *, for_update: bool = False) -> StoredGoldenRecord | None:
        """Return a golden record's row."""
        row = self._one(GOLDEN_BY_ID + (" FOR UPDATE" if for_update else ""), (golden_id,))
        return None if row is None else StoredGoldenRecord(*row)

    def golden_to_refresh(self, golden_id: str, alert_kind: str) -> GoldenToRefresh:
        """Lock a golden record and read it, its attached source records, its overrides and its credit
        inputs, in one round trip: what re-running its survivorship and its credit status needs."""
        golden, attached, overrides, credit = self._pipelined(
            [
                (GOLDEN_BY_ID + " FOR UPDATE", (golden_id,)),
                (ATTACHED_RECORDS, (golden_id,)),
                (OVERRIDES, (golden_id,)),
                (CREDIT_INPUTS, {"g": golden_id, "kind": alert_kind}),
            ]
        )
        stored = StoredGoldenRecord(*golden[0]) if golden else None
        if self._read_ahead is not None and stored is not None and stored.state in ("retired", "erased"):
            # this transaction's own retirements and erasures drop the read-ahead: another transaction
            # retired or erased it after the batch read ahead, and the batch matched against the old state
            raise ReadAheadOutdated(f"{golden_id} was {stored.state} after the batch read ahead")
        return GoldenToRefresh(
            stored,
            [StoredSourceRecord(*r) for r in attached],
            overrides,
            _credit_inputs(credit[0]),
        )

    def resolve(self, golden_id: str) -> str:
        """Follow retirement pointers to the surviving golden record."""
        seen: set[str] = set()
        current = golden_id
        while current not in seen:
            seen.add(current)
            row = self._one("SELECT survivor_id FROM golden_record WHERE golden_id = %s", (current,))
            if row is None or row.survivor_id is None:
                return current
            current = row.survivor_id
        return current

    def resolve_many(self, golden_ids: Collection[str]) -> set[str]:
        """Follow retirement pointers of many golden records at once, one query per hop."""
        resolved: set[str] = set()
        pending = set(golden_ids)
        for _ in range(50):  # chains are short; the bound only guards against a cycle
            if not pending:
                break
            rows = self._all(
                "SELECT golden_id, survivor_id FROM golden_record WHERE golden_id = ANY(%s)",
                (sorted(pending),),
            )
            found = {r.golden_id for r in rows}
            resolved |= pending - found
            resolved |= {r.golden_id for r in rows if r.survivor_id is None}
            pending = {r.survivor_id for r in rows if r.survivor_id is not None} - resolved
        return resolved | pending

    def save_golden(
        self,
        golden: StoredGoldenRecord,
        *,
        event_type: str,
        event: dict[str, Any],
        cause: dict[str, Any],
        topic: str,
    ) -> None:
        """Write a golden record's new version, its history row and its outbox event in one statement."""
        if golden.survivor_id is not None:
            self._read_ahead = None  # a retirement: source records read ahead may now resolve elsewhere
        elif self._read_ahead is not None:
            self._read_ahead.candidates.changed.add(golden.golden_id)  # its document says if blacklisted
        document = _json(event)  # encoded once for the history row and the outbox
        self._write(
            "WITH saved AS (UPDATE golden_record SET state = %(state)s, version = %(version)s,"
            " survivor_id = %(survivor)s, customer = %(customer)s, source_refs = %(refs)s,"
            " lineage = %(lineage)s, data_quality = %(quality)s, updated_at = now()"
            " WHERE golden_id = %(golden)s),"
            " versioned AS (INSERT INTO golden_version (golden_id, version, event_type, event, cause)"
            " VALUES (%(golden)s, %(version)s, %(type)s, %(event)s::jsonb, %(cause)s))"
            f" {INSERT_OUTBOX}",
            {
                "state": golden.state,
                "version": golden.version,
                "survivor": golden.survivor_id,
                "customer": None if golden.customer is None else Jsonb(golden.customer),
                "refs": Jsonb(golden.source_refs),
                "lineage": Jsonb(golden.lineage),
                "quality": Jsonb(golden.data_quality),
                "golden": golden.golden_id,
                "type": event_type,
                "event": document,
                "cause": Jsonb(cause),
                "topic": topic,
                "key": golden.golden_id.encode(),
                "value": document,
            },
        )

    def add_decision(
        self,
        *,
        source: str,
        source_record_id: str,
        message_id: str,
        outcome: str,
        golden_id: str,
        explanation: dict[str, Any],
    ) -> None:
        """Store a match decision with its explanation."""
        self._write(
            "INSERT INTO match_decision"
            " (source, source_record_id, message_id, outcome, golden_id, explanation)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (source, source_record_id, message_id, outcome, golden_id, Jsonb(explanation)),
        )

    # -- steward overrides and alerts -------------------------------------------------------------

    def overrides(self, golden_id: str) -> list[Any]:
        """Return the steward overrides of a golden record."""
        return self._all(OVERRIDES, (golden_id,))

    def set_override(self, golden_id: str, attribute: str, value: Any, *, actor: str, reason: str) -> None:
        """Store (or replace) a steward's value for one attribute."""
        stmt = pg_insert(golden_override).values(
            golden_id=golden_id, attribute=attribute, value=value, actor=actor, reason=reason
        )
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["golden_id", "attribute"],
                set_={"value": value, "actor": actor, "reason": reason, "set_at": func.now()},
            )
        )

    def remove_override(self, golden_id: str, attribute: str) -> bool:
        """Remove a steward's value; return whether there was one."""
        result = self.conn.execute(
            golden_override.delete().where(
                and_(golden_override.c.golden_id == golden_id, golden_override.c.attribute == attribute)
            )
        )
        return bool(result.rowcount)

    def move_overrides(self, from_golden_id: str, to_golden_id: str) -> None:
        """Carry a retired record's overrides to its survivor, where the survivor has none of its own."""
        self.conn.execute(
            text(
                """
                INSERT INTO golden_override (golden_id, attribute, value, actor, reason, set_at)
                SELECT :to, attribute, value, actor, reason, set_at
                FROM golden_override WHERE golden_id = :from
                ON CONFLICT (golden_id, attribute) DO NOTHING
                """
            ),
            {"to": to_golden_id, "from": from_golden_id},
        )
        self.conn.execute(golden_override.delete().where(golden_override.c.golden_id == from_golden_id))

    def raise_alert(self, golden_id: str, kind: str, detail: dict[str, Any]) -> None:
        """Raise an alert on a golden record, unless the same one is already open."""
        self._write(
            "INSERT INTO customer_alert (golden_id, kind, detail) SELECT %s, %s, %s"
            " WHERE NOT EXISTS (SELECT 1 FROM customer_alert WHERE golden_id = %s AND kind = %s"
            " AND detail = %s AND resolved_at IS NULL)",
            (golden_id, kind, Jsonb(detail), golden_id, kind, Jsonb(detail)),
        )

    def open_alerts(self, golden_id: str) -> list[Any]:
        """Return the unresolved alerts of a golden record, oldest first."""
        return list(
            self.conn.execute(
                select(customer_alert)
                .where(and_(customer_alert.c.golden_id == golden_id, customer_alert.c.resolved_at.is_(None)))
                .order_by(customer_alert.c.id)
            ).all()
        )

    def resolve_alerts(self, golden_id: str, kind: str, *, resolved_by: str, about: str | None = None) -> int:
        """Resolve the open alerts of one kind (optionally only those about another golden id)."""
        condition = and_(
            customer_alert.c.golden_id == golden_id,
            customer_alert.c.kind == kind,
            customer_alert.c.resolved_at.is_(None),
        )
        if about is not None:
            condition = and_(condition, customer_alert.c.detail["golden_id"].astext == about)
        result = self.conn.execute(
            update(customer_alert).where(condition).values(resolved_at=func.now(), resolved_by=resolved_by)
        )
        return int(result.rowcount or 0)

    # -- AR exposure and credit status ------------------------------------------------------------

    def exposure(self, account_id: str, *, for_update: bool = False) -> Any | None:
        """Return an AR account's exposure row."""
        stmt = select(ar_exposure).where(ar_exposure.c.account_id == account_id)
        return self.conn.execute(stmt.with_for_update() if for_update else stmt).first()

    def save_exposure(self, row: dict[str, Any]) -> None:
        """Insert or replace an AR account's exposure."""
        stmt = pg_insert(ar_exposure).values(**row)
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id"],
                set_={**{k: v for k, v in row.items()}, "updated_at": func.now()},
            )
        )

    def close_exposure(self, account_id: str, as_of: datetime, message_id: str) -> None:
        """Close an AR account: it owes nothing and names no customer, but keeps the time of its close, so
        that a balance older than the close arriving late is stale instead of opening the account again."""
        self._run(
            "INSERT INTO ar_exposure (account_id, outstanding, currency, as_of, message_id)"
            " VALUES (%(a)s, 0, '', %(t)s, %(m)s) ON CONFLICT (account_id) DO UPDATE SET golden_id = NULL,"
            " named_golden_id = NULL, named_source = NULL, named_source_record_id = NULL, outstanding = 0,"
            " overdue = NULL, as_of = excluded.as_of, message_id = excluded.message_id, updated_at = now()",
            {"a": account_id, "t": as_of, "m": message_id},
        )

    def exposures_of(self, golden_id: str) -> list[Any]:
        """Return the exposure rows booked on a golden record."""
        return self._all(
            "SELECT account_id, golden_id, named_golden_id, named_source, named_source_record_id,"
            " outstanding,"
            " overdue, currency, as_of, message_id, updated_at FROM ar_exposure"
            " WHERE golden_id = %s ORDER BY account_id",
            (golden_id,),
        )

    def move_exposures(
        self, from_golden_id: str, to_golden_id: str, accounts: Collection[str] | None = None
    ) -> None:
        """Book exposure on another golden record: all of it, or only the named accounts."""
        condition = ar_exposure.c.golden_id == from_golden_id
        if accounts is not None:
            condition = and_(condition, ar_exposure.c.account_id.in_(list(accounts)))
        self.conn.execute(update(ar_exposure).where(condition).values(golden_id=to_golden_id))

    def credit_status(self, golden_id: str) -> Any | None:
        """Return the last published credit status of a golden record."""
        return self._one(
            "SELECT golden_id, version, status, updated_at FROM credit_status"
            " WHERE golden_id = %s FOR UPDATE",
            (golden_id,),
        )

    def save_credit_status(
        self, golden_id: str, version: int, status: dict[str, Any], *, event: dict[str, Any], topic: str
    ) -> None:
        """Store a golden record's new credit status and queue its event, in one statement."""
        self._write(
            "WITH saved AS (INSERT INTO credit_status (golden_id, version, status)"
            " VALUES (%(golden)s, %(version)s, %(status)s)"
            " ON CONFLICT (golden_id) DO UPDATE SET version = excluded.version, status = excluded.status,"
            f" updated_at = now()) {INSERT_OUTBOX}",
            {
                "golden": golden_id,
                "version": version,
                "status": Jsonb(status),
                "topic": topic,
                "key": golden_id.encode(),
                "value": _json(event),
            },
        )

    def lowest_credit_limit(self, golden_id: str, currency: str, window: timedelta) -> Decimal | None:
        """The lowest limit in this currency a golden record had within the window, counting only its
        versions since the last credit-limit approval (that approval is their new starting point)."""
        row = self._one(LOWEST_CREDIT_LIMIT, {"g": golden_id, "c": currency, "window": window})
        return None if row is None else row.lowest

    def credit_inputs(self, golden_id: str, alert_kind: str) -> CreditInputs:
        """Read what a credit status is computed from in one round trip; the last status row is locked."""
        return _credit_inputs(self._one(CREDIT_INPUTS, {"g": golden_id, "kind": alert_kind}))

    def resolve_alert(self, alert_id: int, golden_id: str, resolved_by: str) -> bool:
        """Resolve one open alert of a golden record; return whether it was open."""
        result = self.conn.execute(
            update(customer_alert)
            .where(
                and_(
                    customer_alert.c.id == alert_id,
                    customer_alert.c.golden_id == golden_id,
                    customer_alert.c.resolved_at.is_(None),
                )
            )
            .values(resolved_at=func.now(), resolved_by=resolved_by)
        )
        return bool(result.rowcount)

    def add_proposal(self, row: dict[str, Any]) -> int:
        """Store a credit-limit proposal waiting for a second person; return its id."""
        new_id: int = self.conn.execute(
            insert(credit_limit_proposal).values(**row).returning(credit_limit_proposal.c.id)
        ).scalar_one()
        return new_id

    def proposal_for_update(self, proposal_id: int) -> Any | None:
        """Return a credit-limit proposal, locked for its decision."""
        return self.conn.execute(
            select(credit_limit_proposal).where(credit_limit_proposal.c.id == proposal_id).with_for_update()
        ).first()

    def decide_proposal(self, proposal_id: int, status: str, decided_by: str) -> None:
        """Record the second person's decision on a proposal."""
        self.conn.execute(
            update(credit_limit_proposal)
            .where(credit_limit_proposal.c.id == proposal_id)
            .values(status=status, decided_by=decided_by, decided_at=func.now())
        )

    # -- outbox and dead letters ------------------------------------------------------------------

    def add_outbox(
        self, topic: str, key: bytes | None, value: dict[str, Any], *, golden_id: str | None = None
    ) -> None:
        """Queue an event for the relay; it is published only if this transaction commits."""
        self._write(
            INSERT_OUTBOX,
            {"topic": topic, "key": key, "value": _json(value), "golden": golden_id},
        )

    def queue_latest_snapshots(self, customer_topic: str) -> int:
        """Queue each golden record's latest customer event for publishing again; return how many."""
        result = self.conn.execute(
            text(
                """
                INSERT INTO outbox (topic, key, value, golden_id)
                SELECT :topic, convert_to(v.golden_id, 'UTF8'), v.event::text, v.golden_id
                FROM golden_version v
                JOIN golden_record g ON g.golden_id = v.golden_id AND g.version = v.version
                ORDER BY v.golden_id
                """
            ),
            {"topic": customer_topic},
        )
        return int(result.rowcount or 0)

    def queue_latest_credit_statuses(self, credit_topic: str) -> int:
        """Queue each golden record's last credit status again, as a new event of the same version (a new
        event_id; as_of when the status was computed); return how many."""
        result = self.conn.execute(
            text(
                """
                INSERT INTO outbox (topic, key, value, golden_id)
                SELECT :topic, convert_to(c.golden_id, 'UTF8'),
                       (c.status || jsonb_build_object(
                           'event_id', gen_random_uuid()::text,
                           'golden_id', c.golden_id,
                           'version', c.version,
                           'as_of', to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                       ))::text,
                       c.golden_id
                FROM credit_status c
                ORDER BY c.golden_id
                """
            ),
            {"topic": credit_topic},
        )
        return int(result.rowcount or 0)

    def has_dead_letter(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes
    ) -> bool:
        """Tell whether this message was dead-lettered already: the same bytes at the same position (a
        redelivery), or the same key and bytes published again while their dead letter is still open."""
        return (
            self._one(
                "SELECT 1 FROM dead_letter WHERE source_topic = %(t)s"
                ' AND partition = %(p)s AND "offset" = %(o)s AND value = %(v)s'
                " UNION ALL SELECT 1 FROM dead_letter WHERE source_topic = %(t)s"
                " AND md5(value) = md5(%(v)s) AND replayed_at IS NULL AND value = %(v)s"
                " AND key IS NOT DISTINCT FROM %(k)s LIMIT 1",
                {"t": topic, "p": partition, "o": offset, "v": value, "k": key},
            )
            is not None
        )

    def dead_letter_for_update(self, letter_id: int) -> Any | None:
        """Return a stored dead letter, locked for its replay."""
        return self.conn.execute(
            select(dead_letter).where(dead_letter.c.id == letter_id).with_for_update()
        ).first()

    def open_dead_letter_ids(
        self, *, source_topic: str | None, error_code: str | None, limit: int
    ) -> list[int]:
        """Return the ids of dead letters not yet replayed, oldest first."""
        stmt = select(dead_letter.c.id).where(dead_letter.c.replayed_at.is_(None))
        if source_topic is not None:
            stmt = stmt.where(dead_letter.c.source_topic == source_topic)
        if error_code is not None:
            stmt = stmt.where(dead_letter.c.error_code == error_code)
        return list(self.conn.execute(stmt.order_by(dead_letter.c.id).limit(limit)).scalars())

    def delete_dead_letter(self, letter_id: int) -> None:
        """Delete a stored dead letter."""
        self.conn.execute(delete(dead_letter).where(dead_letter.c.id == letter_id))

    def mark_replayed(self, letter_id: int, outcome: str, actor: str) -> None:
        """Record that a dead letter was replayed, with what came of it."""
        self.conn.execute(
            update(dead_letter)
            .where(dead_letter.c.id == letter_id)
            .values(replayed_at=func.now(), replay_outcome=outcome, replayed_by=actor)
        )

    def add_dead_letter(self, row: dict[str, Any]) -> None:
        """Store a dead letter so a steward can list and replay it."""
        self._write(
            'INSERT INTO dead_letter (error_code, message, errors, source_topic, partition, "offset", key,'
            " value, message_id, dead_lettered_at) VALUES (%(error_code)s, %(message)s, %(errors)s,"
            " %(source_topic)s, %(partition)s, %(offset)s, %(key)s, %(value)s, %(message_id)s,"
            " %(dead_lettered_at)s)",
            {**row, "errors": Jsonb(row["errors"])},
        )


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[UnitOfWork]:
    """Open a transaction that commits when the block ends and rolls back when it raises."""
    with engine.begin() as conn:
        uow = UnitOfWork(conn)
        try:
            yield uow
            uow.flush_writes()
        except BaseException as error:
            uow.abandon_writes(error)  # before the rollback: the connection must leave pipeline mode
            raise
        uow.flush_counts()
