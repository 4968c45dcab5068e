"""The gate's projection in SQLite: the latest credit status per golden id, and retired ids' survivors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from consumers.sales_credit_gate.projection import (
    CustomerRetired,
    Fact,
    NotRelevant,
    Rejected,
    StatusReported,
    supersedes,
)
from consumers.sqlite import MESSAGE_OUTCOME_TABLE, connect, count_outcome, outcomes, transaction
from contracts.outbound import CreditStatusEvent

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS credit_status (
        golden_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        event TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS retirement (
        golden_id TEXT PRIMARY KEY,
        survivor_id TEXT NOT NULL
    )""",
    MESSAGE_OUTCOME_TABLE,
)


class ProjectionStore:
    """Read and write the projection; every reader opens its own connection, so any thread may read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with closing(connect(path)) as conn, transaction(conn):
            for statement in SCHEMA:
                conn.execute(statement)

    @contextmanager
    def reading(self) -> Iterator[ProjectionReader]:
        """Open a reader of the projection."""
        with closing(connect(self.path)) as conn:
            yield ProjectionReader(conn)

    def apply(self, facts: Sequence[Fact]) -> dict[str, int]:
        """Apply the facts of one consumed batch in one transaction; return the outcome of each, counted."""
        counted: dict[str, int] = {}
        with closing(connect(self.path)) as conn, transaction(conn):
            for fact in facts:
                outcome = _apply(conn, fact)
                count_outcome(conn, outcome)
                counted[outcome] = counted.get(outcome, 0) + 1
        return counted


class ProjectionReader:
    """Look up statuses and survivors over one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def status(self, golden_id: str) -> CreditStatusEvent | None:
        """Return the latest credit status of a golden id, if the gate has seen one."""
        row = self.conn.execute(
            "SELECT event FROM credit_status WHERE golden_id = ?", (golden_id,)
        ).fetchone()
        return None if row is None else CreditStatusEvent.model_validate_json(row["event"])

    def survivor_of(self, golden_id: str) -> str | None:
        """Return the id a retired golden id merged into, if it is retired."""
        row = self.conn.execute(
            "SELECT survivor_id FROM retirement WHERE golden_id = ?", (golden_id,)
        ).fetchone()
        return None if row is None else str(row["survivor_id"])

    def count_statuses(self) -> int:
        """Return how many customers the projection holds a status for."""
        return int(self.conn.execute("SELECT count(*) FROM credit_status").fetchone()[0])

    def outcomes(self) -> dict[str, int]:
        """Return how many consumed messages were applied, stale, not relevant or rejected."""
        return outcomes(self.conn)


def _apply(conn: sqlite3.Connection, fact: Fact) -> str:
    if isinstance(fact, StatusReported):
        return _report_status(conn, fact.status)
    if isinstance(fact, CustomerRetired):
        return _retire(conn, fact.golden_id, fact.survivor_id)
    if isinstance(fact, NotRelevant):
        return "not_relevant"
    assert isinstance(fact, Rejected)
    return "rejected"


def _report_status(conn: sqlite3.Connection, status: CreditStatusEvent) -> str:
    row = conn.execute(
        "SELECT version FROM credit_status WHERE golden_id = ?", (status.golden_id,)
    ).fetchone()
    if not supersedes(status.version, None if row is None else int(row["version"])):
        return "stale"
    conn.execute(
        "INSERT INTO credit_status (golden_id, version, event) VALUES (?, ?, ?) "
        "ON CONFLICT (golden_id) DO UPDATE SET version = excluded.version, event = excluded.event",
        (status.golden_id, status.version, status.model_dump_json()),
    )
    if status.survivor_id:
        _retire(conn, status.golden_id, status.survivor_id)
    return "applied"


def _retire(conn: sqlite3.Connection, golden_id: str, survivor_id: str) -> str:
    # A retirement is final (golden ids are never reused), so the link needs no version of its own.
    row = conn.execute("SELECT survivor_id FROM retirement WHERE golden_id = ?", (golden_id,)).fetchone()
    if row is not None and row["survivor_id"] == survivor_id:
        return "stale"
    conn.execute(
        "INSERT INTO retirement (golden_id, survivor_id) VALUES (?, ?) "
        "ON CONFLICT (golden_id) DO UPDATE SET survivor_id = excluded.survivor_id",
        (golden_id, survivor_id),
    )
    return "applied"
