"""AR's SQLite database: the customer table, accounts, the ledger, and an outbox of exposure messages.

A posting and the exposure message it causes are written in one transaction (a transactional outbox), so a
broker that is down delays the exposure but never loses it; whoever publishes next sends it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from consumers.ar_sync.customers import ArCustomer, next_customer
from consumers.ar_sync.exposure import exposure_message
from consumers.ar_sync.ledger import (
    Account,
    Balance,
    Invoice,
    Payment,
    Posting,
    account_for_invoice,
    account_for_payment,
    balance,
    due_in_days,
)
from consumers.sqlite import MESSAGE_OUTCOME_TABLE, connect, count_outcome, outcomes, transaction
from contracts.outbound import AddressOut, ContactOut, CustomerEvent

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ar_customer (
        golden_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'deactivated', 'retired', 'erased')),
        updated_at TEXT NOT NULL,
        party_type TEXT,
        customer_status TEXT,
        legal_name TEXT,
        trading_name TEXT,
        first_name TEXT,
        last_name TEXT,
        tax_ids TEXT NOT NULL,
        emails TEXT NOT NULL,
        phones TEXT NOT NULL,
        addresses TEXT NOT NULL,
        contacts TEXT NOT NULL,
        payment_terms TEXT,
        credit_limit TEXT,
        credit_currency TEXT,
        survivor_id TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS ar_account (
        account_id TEXT PRIMARY KEY,
        golden_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        opened_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ar_account_golden_id ON ar_account (golden_id)",
    """CREATE TABLE IF NOT EXISTS ar_posting (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL REFERENCES ar_account (account_id),
        kind TEXT NOT NULL CHECK (kind IN ('invoice', 'payment')),
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        posted_at TEXT NOT NULL,
        due_date TEXT,
        reference TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS exposure_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        message TEXT NOT NULL,
        claimed_until TEXT,
        published_at TEXT
    )""",
    MESSAGE_OUTCOME_TABLE,
)

CLAIM_LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class Posted:
    """A posting booked: the account, its new balance, and the exposure message queued for it."""

    account: Account
    balance: Balance
    message: dict[str, Any]


@dataclass(frozen=True)
class PendingExposure:
    """An exposure message not yet acknowledged by the broker."""

    id: int
    account_id: str
    message: bytes


class ArStore:
    """Read and write AR's database; each call opens its own connection, so any process or thread may call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with closing(connect(path)) as conn, transaction(conn):
            for statement in SCHEMA:
                conn.execute(statement)

    def apply_customer_events(self, events: Sequence[CustomerEvent | str], now: datetime) -> dict[str, int]:
        """Apply one batch of customer events (or why each one is unreadable) in one transaction."""
        counted: dict[str, int] = {}
        with closing(connect(self.path)) as conn, transaction(conn):
            for event in events:
                outcome = "rejected" if isinstance(event, str) else _apply_customer_event(conn, event, now)
                count_outcome(conn, outcome)
                counted[outcome] = counted.get(outcome, 0) + 1
        return counted

    def post_invoice(
        self,
        account_id: str,
        golden_id: str | None,
        amount: Decimal,
        currency: str,
        now: datetime,
        *,
        due_date: date | None = None,
        reference: str | None = None,
    ) -> Posted:
        """Book an invoice (opening the account on its first one) and queue the account's new exposure."""
        with closing(connect(self.path)) as conn, transaction(conn):
            resolved = None if golden_id is None else _resolve(conn, golden_id)
            account = account_for_invoice(_account(conn, account_id), account_id, resolved, currency)
            conn.execute(
                "INSERT INTO ar_account (account_id, golden_id, currency, opened_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account_id) DO NOTHING",
                (account.account_id, account.golden_id, account.currency, now.isoformat()),
            )
            if due_date is None:
                customer = _customer(conn, account.golden_id)
                due_date = now.date() + timedelta(
                    days=due_in_days(customer.payment_terms if customer else None)
                )
            _insert_posting(conn, account, "invoice", amount, now, due_date, reference)
            return _queue_exposure(conn, account, now)

    def post_payment(
        self, account_id: str, amount: Decimal, currency: str, now: datetime, *, reference: str | None = None
    ) -> Posted:
        """Book a payment and queue the account's new exposure."""
        with closing(connect(self.path)) as conn, transaction(conn):
            account = account_for_payment(_account(conn, account_id), account_id, currency)
            _insert_posting(conn, account, "payment", amount, now, None, reference)
            return _queue_exposure(conn, account, now)

    def claim_pending_exposures(self, now: datetime, lease: timedelta = CLAIM_LEASE) -> list[PendingExposure]:
        """Claim the exposure messages not yet published, oldest first, for one publisher.

        The CLI that posted and the running service both publish; the claim keeps them from sending the same
        message twice, and lapses after the lease so that a publisher that died does not hold it forever.
        """
        with closing(connect(self.path)) as conn, transaction(conn):
            rows = conn.execute(
                "SELECT id, account_id, message FROM exposure_outbox WHERE published_at IS NULL "
                "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY id",
                (now.isoformat(),),
            ).fetchall()
            conn.executemany(
                "UPDATE exposure_outbox SET claimed_until = ? WHERE id = ?",
                [((now + lease).isoformat(), row["id"]) for row in rows],
            )
        return [PendingExposure(row["id"], row["account_id"], row["message"].encode()) for row in rows]

    def release(self, ids: Sequence[int]) -> None:
        """Give claimed messages back after a failed send: the next publisher need not wait out the lease."""
        with closing(connect(self.path)) as conn, transaction(conn):
            conn.executemany(
                "UPDATE exposure_outbox SET claimed_until = NULL WHERE id = ?", [(i,) for i in ids]
            )

    def mark_published(self, ids: Sequence[int], at: datetime) -> None:
        """Record that the broker acknowledged these exposure messages."""
        with closing(connect(self.path)) as conn, transaction(conn):
            conn.executemany(
                "UPDATE exposure_outbox SET published_at = ? WHERE id = ?", [(at.isoformat(), i) for i in ids]
            )

    def unpublished_count(self) -> int:
        """Return how many exposure messages wait for the broker."""
        with closing(connect(self.path)) as conn:
            row = conn.execute("SELECT count(*) FROM exposure_outbox WHERE published_at IS NULL").fetchone()
            return int(row[0])

    def customer(self, golden_id: str) -> ArCustomer | None:
        """Return a customer row."""
        with closing(connect(self.path)) as conn:
            return _customer(conn, golden_id)

    def account(self, account_id: str) -> Account | None:
        """Return an account."""
        with closing(connect(self.path)) as conn:
            return _account(conn, account_id)

    def balance(self, account_id: str, today: date) -> Balance:
        """Return an account's balance as of a day."""
        with closing(connect(self.path)) as conn:
            return balance(_postings(conn, account_id), today)

    def outcomes(self) -> dict[str, int]:
        """Return how many consumed customer events were applied, stale or rejected."""
        with closing(connect(self.path)) as conn:
            return outcomes(conn)


def _apply_customer_event(conn: sqlite3.Connection, event: CustomerEvent, now: datetime) -> str:
    updated = next_customer(_customer(conn, event.golden_id), event)
    if updated is None:
        return "stale"
    _save_customer(conn, updated)
    if updated.state == "retired" and updated.survivor_id:
        _move_accounts(conn, updated.golden_id, updated.survivor_id, now)
    return "applied"


def _move_accounts(conn: sqlite3.Connection, retired_id: str, survivor_id: str, now: datetime) -> None:
    # The accounts now belong to the survivor (or to its own survivor, if that merged on meanwhile); their
    # exposure is published again under the survivor's id, so the hub books it there.
    target = _resolve(conn, survivor_id)
    rows = conn.execute("SELECT account_id FROM ar_account WHERE golden_id = ?", (retired_id,)).fetchall()
    for row in rows:
        conn.execute("UPDATE ar_account SET golden_id = ? WHERE account_id = ?", (target, row["account_id"]))
        account = _account(conn, row["account_id"])
        assert account is not None
        _queue_exposure(conn, account, now)


def _resolve(conn: sqlite3.Connection, golden_id: str) -> str:
    """Follow a retired golden id to its survivor, and on through the survivor's own retirement."""
    seen = {golden_id}
    current = golden_id
    while True:
        row = conn.execute(
            "SELECT survivor_id FROM ar_customer WHERE golden_id = ? AND state = 'retired'", (current,)
        ).fetchone()
        if row is None or row["survivor_id"] is None or row["survivor_id"] in seen:
            return current
        current = str(row["survivor_id"])
        seen.add(current)


def _queue_exposure(conn: sqlite3.Connection, account: Account, now: datetime) -> Posted:
    current = balance(_postings(conn, account.account_id), now.date())
    message = exposure_message(account, current, now)
    conn.execute(
        "INSERT INTO exposure_outbox (account_id, message_id, message) VALUES (?, ?, ?)",
        (account.account_id, message["message_id"], json.dumps(message)),
    )
    return Posted(account, current, message)


def _insert_posting(
    conn: sqlite3.Connection,
    account: Account,
    kind: Literal["invoice", "payment"],
    amount: Decimal,
    now: datetime,
    due_date: date | None,
    reference: str | None,
) -> None:
    conn.execute(
        "INSERT INTO ar_posting (account_id, kind, amount, currency, posted_at, due_date, reference) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            account.account_id,
            kind,
            format(amount, "f"),
            account.currency,
            now.isoformat(),
            None if due_date is None else due_date.isoformat(),
            reference,
        ),
    )


def _postings(conn: sqlite3.Connection, account_id: str) -> list[Posting]:
    postings: list[Posting] = []
    for row in conn.execute(
        "SELECT kind, amount, posted_at, due_date FROM ar_posting WHERE account_id = ? ORDER BY id",
        (account_id,),
    ):
        amount = Decimal(row["amount"])
        if row["kind"] == "invoice":
            posted_on = datetime.fromisoformat(row["posted_at"]).date()
            postings.append(Invoice(amount, date.fromisoformat(row["due_date"]), posted_on))
        else:
            postings.append(Payment(amount))
    return postings


def _account(conn: sqlite3.Connection, account_id: str) -> Account | None:
    row = conn.execute(
        "SELECT account_id, golden_id, currency FROM ar_account WHERE account_id = ?", (account_id,)
    ).fetchone()
    return None if row is None else Account(row["account_id"], row["golden_id"], row["currency"])


def _customer(conn: sqlite3.Connection, golden_id: str) -> ArCustomer | None:
    row = conn.execute("SELECT * FROM ar_customer WHERE golden_id = ?", (golden_id,)).fetchone()
    if row is None:
        return None
    return ArCustomer(
        golden_id=row["golden_id"],
        version=row["version"],
        state=row["state"],
        updated_at=datetime.fromisoformat(row["updated_at"]),
        party_type=row["party_type"],
        customer_status=row["customer_status"],
        legal_name=row["legal_name"],
        trading_name=row["trading_name"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        tax_ids=tuple(json.loads(row["tax_ids"])),
        emails=tuple(json.loads(row["emails"])),
        phones=tuple(json.loads(row["phones"])),
        addresses=tuple(AddressOut.model_validate(a) for a in json.loads(row["addresses"])),
        contacts=tuple(ContactOut.model_validate(c) for c in json.loads(row["contacts"])),
        payment_terms=row["payment_terms"],
        credit_limit=None if row["credit_limit"] is None else Decimal(row["credit_limit"]),
        credit_currency=row["credit_currency"],
        survivor_id=row["survivor_id"],
    )


def _save_customer(conn: sqlite3.Connection, customer: ArCustomer) -> None:
    values = {
        "golden_id": customer.golden_id,
        "version": customer.version,
        "state": customer.state,
        "updated_at": customer.updated_at.isoformat(),
        "party_type": customer.party_type,
        "customer_status": customer.customer_status,
        "legal_name": customer.legal_name,
        "trading_name": customer.trading_name,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "tax_ids": json.dumps(list(customer.tax_ids)),
        "emails": json.dumps(list(customer.emails)),
        "phones": json.dumps(list(customer.phones)),
        "addresses": json.dumps([a.model_dump(mode="json") for a in customer.addresses]),
        "contacts": json.dumps([c.model_dump(mode="json") for c in customer.contacts]),
        "payment_terms": customer.payment_terms,
        "credit_limit": None if customer.credit_limit is None else format(customer.credit_limit, "f"),
        "credit_currency": customer.credit_currency,
        "survivor_id": customer.survivor_id,
    }
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "golden_id")
    conn.execute(
        f"INSERT INTO ar_customer ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT (golden_id) DO UPDATE SET {updates}",
        values,
    )
