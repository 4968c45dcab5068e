"""SQLite helpers shared by the reference consumers: durable connections and explicit transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """Open a connection in autocommit mode, so that every transaction is an explicit `transaction()`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    # WAL lets readers (the HTTP server, a CLI) read while the consumer writes.
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL, not WAL's usual NORMAL: Kafka offsets are committed right after our commit, so a transaction
    # lost to a power cut would be an event lost for good.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block in one write transaction: committed when it ends, rolled back when it raises."""
    # IMMEDIATE takes the write lock up front, so two writers (the service and a CLI posting) queue up
    # instead of failing half-way with "database is locked".
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def count_outcome(conn: sqlite3.Connection, outcome: str) -> None:
    """Count what became of one consumed message, in the transaction that applied it."""
    conn.execute(
        "INSERT INTO message_outcome (outcome, count) VALUES (?, 1) "
        "ON CONFLICT (outcome) DO UPDATE SET count = count + 1",
        (outcome,),
    )


def outcomes(conn: sqlite3.Connection) -> dict[str, int]:
    """Return how many consumed messages ended in each outcome."""
    return {
        row["outcome"]: row["count"] for row in conn.execute("SELECT outcome, count FROM message_outcome")
    }


MESSAGE_OUTCOME_TABLE = (
    "CREATE TABLE IF NOT EXISTS message_outcome (outcome TEXT PRIMARY KEY, count INTEGER NOT NULL)"
)
