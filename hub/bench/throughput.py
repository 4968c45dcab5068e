"""`hub bench throughput`: the running hub's sustained rate and end-to-end latency on a realistic feed.

The benchmark loads N synthetic golden records with COPY (`hub.bench.synthetic`), starts a real
`hub worker` process (the Faust stream worker and the outbox relay, as an operator runs it), and
publishes M source messages through the broker:

- 60 % updates of known customers in the CRM (moved, new phone, new credit limit, new contact or e-mail);
- 25 % new customers, from the CRM, the shop or a till;
- 10 % cross-source duplicates: a shop account or a POS loyalty customer of a known CRM customer, with
  a typo in the name;
- 5 % contract violations (a credit limit written `1,000.00`, a timestamp without a time zone, a POS
  record without its store, a date of birth that is no date, a truncated message), which the hub must
  dead-letter.

The kinds are dealt in blocks of 20 (12 / 5 / 2 / 1, shuffled), so even a small run has the mix.
Messages are published as fast as the producer goes, or at `--rate` messages/s through a token
bucket. A consumer in this process timestamps every event that arrives on `mdm.customer.v1` and
`mdm.deadletter.v1`; after the run each event is tied to the message that caused it (the customer
event's golden id and version to `golden_version.cause.message_id`; a dead letter by the original
bytes it carries), so a message's latency is from the moment it was handed to the producer to the
arrival of its first event. Sustained throughput is M over first publish to the last message's event.

Outcomes are counted in the database (`message_outcome`, and per message in `processed_message` and
`dead_letter`), so a broken run cannot print good figures: the run fails when fewer than M outcomes
arrive (no new one for `timeout` seconds), and the report says BROKEN when a message had no event or
a kind did not get the outcome it should. It also reports the worker's peak RSS (VmHWM), database bytes
per golden record, the CPU time of each party (worker, PostgreSQL, broker, this process, and the rest
of the machine: other people's work skews a run, and the report says how much), and what the worker's
PostgreSQL sessions were doing, sampled from pg_stat_activity (executing a statement, waiting for a
lock, or idle in a transaction because the worker has not sent the next statement yet).

Where the time goes: `--py-spy FILE` profiles the worker process with py-spy (wall clock, or with
`--py-spy-gil` only the thread holding the GIL); `--sample N` then applies N more messages of the
same mix in this process through the worker's own `process_batch`, counting SQL statements per
message and the time spent in them; `--limits` measures the raw limits of the broker, the client and
PostgreSQL on the same servers (`hub.bench.raw_limits`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Engine, event, make_url, text

from hub.bench import raw_limits
from hub.bench.api import typo
from hub.bench.synthetic import (
    OCCURRED_AT,
    SyntheticCustomer,
    load_synthetic_golden_records,
    synthetic_customer,
)
from hub.bootstrap import bootstrap, create_db_engine
from hub.service.source_changes import CANDIDATE_LIMIT
from hub.settings import CUSTOMER_TOPIC, DEADLETTER_TOPIC, Settings
from hub.store.migrate import upgrade
from hub.store.uow import statement_observers
from hub.streams.kafka import client_options, create_producer, ensure_topics

Kind = Literal["update", "new", "duplicate", "invalid"]
KINDS: tuple[Kind, ...] = ("update", "new", "duplicate", "invalid")
#: How many of each kind a block of `BLOCK` messages holds: 60 / 25 / 10 / 5 per cent.
MIX: dict[Kind, int] = {"update": 12, "new": 5, "duplicate": 2, "invalid": 1}
BLOCK = sum(MIX.values())
OUTCOMES = ("applied", "duplicate", "stale", "dead_lettered")
#: The outcome every kind should get.
EXPECTED_OUTCOME: dict[str, str] = {
    "update": "applied",
    "new": "applied",
    "duplicate": "applied",
    "invalid": "dead_lettered",
}

#: The issue's targets (issue "5 of 6"), for the reader of the report.
TARGET_MESSAGES_PER_SECOND = 2000.0
TARGET_P99_MS = 500.0
TARGET_P99_AT_RATE = 500.0
TARGET_RSS_BYTES = 1 << 30

#: How long the worker may take to join its group and apply the warm-up messages.
WORKER_START_SECONDS = 180.0
POLL_SECONDS = 0.25
SESSION_SAMPLE_SECONDS = 0.1


class BenchmarkRefused(raw_limits.BenchmarkRefused):
    """The benchmark will not run where it was pointed (a database that already holds customers)."""


class BenchmarkFailed(RuntimeError):
    """The hub did not give every message an outcome in time, or its worker died."""


# -- the feed ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchMessage:
    """One inbound message of the benchmark feed: what it is, where it goes, and its bytes."""

    seq: int
    kind: Kind
    detail: str
    source: str
    key: bytes | None
    value: bytes
    message_id: str | None

    @property
    def digest(self) -> bytes:
        """Return the SHA-1 of the bytes, by which a dead letter (it carries them) is tied to the message."""
        return hashlib.sha1(self.value).digest()


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value)
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c in " .-")).strip()


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.rpartition(" ")
    return (first, last) if first else (name, name)


def _address(customer: SyntheticCustomer, kind: str | None = None) -> dict[str, Any]:
    a = customer.address
    return {
        "kind": kind,
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "state": a.state,
        "postal_code": a.postal_code,
        "country": a.country,
    }


class FeedFactory:
    """Deals the benchmark feed, message by message; the same arguments give the same feed.

    Updates take their new values (an address, a phone, a contact) from "donor" customers of another
    data set in the same country, each donor used once, so every update really changes its golden
    record (an update that changes nothing publishes no event, and would have no latency).
    """

    def __init__(self, golden: int, seed: int, occurred_from: datetime) -> None:
        if golden < 1:
            raise ValueError("the feed needs at least one golden record to update")
        self.golden = golden
        self.seed = seed
        self.occurred_from = occurred_from
        self._seq = 0
        self._news = 0
        self._donor_seed = seed + 7919
        self._next_donor = 0
        self._donors: dict[str, deque[SyntheticCustomer]] = defaultdict(deque)
        self._block: list[Kind] = []

    def take(self, n: int) -> list[BenchMessage]:
        """Return the next `n` messages."""
        return [self.next() for _ in range(n)]

    def next(self) -> BenchMessage:
        """Return the next message."""
        seq = self._seq
        self._seq += 1
        if seq % BLOCK == 0:
            block: list[Kind] = [kind for kind, n in MIX.items() for _ in range(n)]
            random.Random(f"mix:{self.seed}:{seq // BLOCK}").shuffle(block)
            self._block = block
        kind = self._block[seq % BLOCK]
        rng = random.Random(f"message:{self.seed}:{seq}")
        if kind == "update":
            return self._update(seq, rng)
        if kind == "new":
            return self._new(seq, rng)
        if kind == "duplicate":
            return self._duplicate(seq, rng)
        return self._invalid(seq, rng)

    # -- envelopes

    def _message_id(self, seq: int) -> str:
        return f"bench-{self.seed}-{seq:08d}"

    def _occurred_at(self, seq: int) -> str:
        # One microsecond apart: a later message of a source record is always the newer change.
        return (self.occurred_from + timedelta(microseconds=seq)).isoformat()

    def _envelope(
        self, seq: int, kind: Kind, detail: str, source: str, ref: str, payload: dict[str, Any] | None
    ) -> BenchMessage:
        document = {
            "message_id": self._message_id(seq),
            "source": source,
            "source_record_id": ref,
            "change": "upsert",
            "occurred_at": self._occurred_at(seq),
            "payload": payload,
        }
        value = json.dumps(document, ensure_ascii=False).encode()
        return BenchMessage(seq, kind, detail, source, ref.encode(), value, self._message_id(seq))

    def _known(self, rng: random.Random) -> SyntheticCustomer:
        return synthetic_customer(rng.randrange(self.golden), self.seed)

    def _donor(self, country: str) -> SyntheticCustomer:
        while not self._donors[country]:
            donor = synthetic_customer(self._next_donor, self._donor_seed)
            self._next_donor += 1
            self._donors[donor.country].append(donor)
        return self._donors[country].popleft()

    # -- the kinds

    def _update(self, seq: int, rng: random.Random) -> BenchMessage:
        customer = self._known(rng)
        payload = customer.crm_payload()
        change = rng.choices(("moved", "phone", "credit", "contact"), weights=(40, 25, 20, 15))[0]
        if change == "credit" and payload.get("credit") is None:
            change = "moved"
        if change == "contact" and not payload.get("contacts"):
            change = "email"
        donor = self._donor(customer.country)
        if change == "moved":
            payload["addresses"] = [_address(donor, payload["addresses"][0]["kind"])]
        elif change == "phone":
            payload["phones"] = [donor.phone_local]
        elif change == "credit":
            credit = dict(payload["credit"])
            credit["limit"] = f"{Decimal(credit['limit']) + 500 * (seq % 1000 + 1):.2f}"
            payload["credit"] = credit
        elif change == "contact":
            name = donor.contact.name if donor.contact is not None else donor.display_name
            domain = customer.email.rsplit("@", 1)[1]
            local = _ascii(name).lower().replace(" ", ".") or f"buyer{seq}"
            contact = dict(payload["contacts"][0])
            contact.update(name=name, email=f"{local}@{domain}", phone=donor.phone, title=rng.choice(_TITLES))
            payload["contacts"] = [contact]
        else:
            local, domain = customer.email.rsplit("@", 1)
            payload["emails"] = [f"{local}.{seq:x}@{domain}"]
        return self._envelope(seq, "update", change, "crm", customer.source_record_id, payload)

    def _new(self, seq: int, rng: random.Random) -> BenchMessage:
        customer = synthetic_customer(self.golden + self._news, self.seed)
        self._news += 1
        roll = rng.random()
        if roll < 0.6:
            return self._envelope(seq, "new", "crm", "crm", customer.source_record_id, customer.crm_payload())
        if roll < 0.85 or customer.party_type == "organization":
            ref = f"SHOP{self.seed}-{seq:08d}"
            return self._envelope(
                seq, "new", "ecommerce", "ecommerce", ref, _shop_account(customer, ref, rng, misspelt=False)
            )
        ref = f"POS{self.seed}-{seq:08d}"
        return self._envelope(
            seq, "new", "pos", "pos", ref, _loyalty_customer(customer, ref, rng, misspelt=False)
        )

    def _duplicate(self, seq: int, rng: random.Random) -> BenchMessage:
        customer = self._known(rng)
        if customer.party_type == "person" and rng.random() < 0.5:
            ref = f"POS{self.seed}-{seq:08d}"
            payload = _loyalty_customer(customer, ref, rng, misspelt=True)
            return self._envelope(seq, "duplicate", "pos", "pos", ref, payload)
        ref = f"SHOP{self.seed}-{seq:08d}"
        payload = _shop_account(customer, ref, rng, misspelt=True)
        return self._envelope(seq, "duplicate", "ecommerce", "ecommerce", ref, payload)

    def _invalid(self, seq: int, rng: random.Random) -> BenchMessage:
        customer = self._known(rng)
        ref = customer.source_record_id
        payload = customer.crm_payload()
        violation = rng.choice(("credit_limit", "no_time_zone", "no_store", "date_of_birth", "truncated"))
        if violation == "credit_limit":
            payload["credit"] = {"limit": "1,000.00", "currency": "USD"}
        elif violation == "date_of_birth":
            payload |= {"party_type": "person", "first_name": "Test", "last_name": "Person"}
            payload["date_of_birth"] = "31/02/1980"
        elif violation == "no_store":
            pos_ref = f"POS{self.seed}-{seq:08d}"
            pos = _loyalty_customer(customer, pos_ref, rng, misspelt=False)
            del pos["store_id"]
            return self._envelope(seq, "invalid", violation, "pos", pos_ref, pos)
        message = self._envelope(seq, "invalid", violation, "crm", ref, payload)
        if violation == "no_time_zone":
            document = json.loads(message.value)
            document["occurred_at"] = document["occurred_at"][:19]
            value = json.dumps(document, ensure_ascii=False).encode()
            return BenchMessage(seq, "invalid", violation, "crm", message.key, value, message.message_id)
        if violation == "truncated":
            return BenchMessage(seq, "invalid", violation, "crm", message.key, message.value[:-25], None)
        return message


_TITLES = ("Purchasing Manager", "Finance Director", "Owner", "Accounts Payable", "Operations Manager")


def _shop_account(
    customer: SyntheticCustomer, ref: str, rng: random.Random, *, misspelt: bool
) -> dict[str, Any]:
    """Return the shop's account of a customer; `misspelt`: the name typed with one typo."""
    payload: dict[str, Any] = {
        "account_id": ref,
        "email": customer.email,
        "email_verified": rng.random() < 0.8,
        "phone": customer.phone_local,
        "billing_address": _address(customer),
        "marketing_opt_in": rng.random() < 0.4,
    }
    if customer.party_type == "person":
        last = customer.last_name or ""
        payload |= {
            "first_name": customer.first_name,
            "last_name": typo(last, rng) if misspelt else last,
        }
        return payload
    buyer = customer.contact.name if customer.contact is not None else "Purchasing Desk"
    payload["first_name"], payload["last_name"] = _split_name(buyer)
    name = customer.legal_name or ""
    company: dict[str, Any] = {"name": typo(name, rng) if misspelt else name}
    if customer.tax_ids:
        company["vat_number"] = customer.tax_ids[0].value
    payload["company"] = company
    return payload


def _loyalty_customer(
    customer: SyntheticCustomer, ref: str, rng: random.Random, *, misspelt: bool
) -> dict[str, Any]:
    """Return a till's loyalty record of a customer; `misspelt`: the name typed with one typo."""
    name = customer.display_name
    return {
        "store_id": f"S{rng.randint(1, 40):03d}",
        "loyalty_card": f"LC-{ref}",
        "name": typo(name, rng) if misspelt else name,
        "mobile": customer.phone_local,
        "email": customer.email if rng.random() < 0.7 else None,
        "postcode": customer.address.postal_code,
        "country": customer.country,
    }


# -- measuring -----------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) of the values; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]


def _process_cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU time and that of its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _server_cpu_seconds(pgdata: Path | None) -> float | None:
    """Return the CPU time of the PostgreSQL server of `pgdata` and its backends; None if unknown."""
    if pgdata is None:
        return None
    try:
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total = _process_cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:
            total += _process_cpu_seconds(int(entry.name))
    return total


def _machine_busy_seconds() -> float:
    """Return the CPU seconds all CPUs of the machine spent busy since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def _broker_cpu_seconds() -> float | None:
    """Return the CPU time of the embedded broker this process started (Tansu); None if there is none."""
    found = None
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, _, tail = (entry / "stat").read_text().rpartition(")")
        except OSError:
            continue
        if head.partition("(")[2].startswith("tansu") and tail.split()[1] == me:
            found = (found or 0.0) + _process_cpu_seconds(int(entry.name))
    return found


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds used by each party of the run, and by the whole machine (all its CPUs together)."""

    worker: float
    database: float | None
    broker: float | None
    bench: float
    machine: float

    @classmethod
    def read(cls, worker_pids: Sequence[int], pgdata: Path | None) -> CpuClock:
        """Read the clocks now."""
        return cls(
            worker=sum(_process_cpu_seconds(pid) for pid in worker_pids),
            database=_server_cpu_seconds(pgdata),
            broker=_broker_cpu_seconds(),
            bench=time.process_time(),
            machine=_machine_busy_seconds(),
        )

    def since(self, start: CpuClock) -> CpuClock:
        """Return the CPU seconds used between `start` and this reading."""

        def minus(a: float | None, b: float | None) -> float | None:
            return a - b if a is not None and b is not None else None

        return CpuClock(
            worker=self.worker - start.worker,
            database=minus(self.database, start.database),
            broker=minus(self.broker, start.broker),
            bench=self.bench - start.bench,
            machine=self.machine - start.machine,
        )

    @property
    def others(self) -> float:
        """Return what the rest of the machine used: other processes, the kernel, other benchmarks."""
        return self.machine - self.worker - (self.database or 0) - (self.broker or 0) - self.bench


def _memory(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM of a process in bytes, from /proc/<pid>/status."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) * 1024
    return found


#: The benchmark's own database sessions call themselves this, so that they can be told from the worker's.
APPLICATION_NAME = "hub-bench-throughput"


@dataclass
class SessionStates:
    """What the worker's busy PostgreSQL sessions were doing, sampled from pg_stat_activity."""

    samples: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def average(self, state: str) -> float:
        """Return how many sessions were in `state` on average."""
        return self.counts[state] / self.samples if self.samples else 0.0


def _session_state(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    if state == "idle in transaction":
        return "in a transaction, waiting for the worker's next statement"
    if wait_type is None:
        return "executing a statement"
    if wait_type == "Lock":
        return f"waiting for a lock ({wait_event})"
    return f"waiting on {wait_type}:{wait_event}"


@dataclass
class StatementSample:
    """SQL statements and their time while the worker's `process_batch` applied a sample in this process."""

    messages: int
    batches: int
    wall_seconds: float
    cpu_seconds: float
    statements: int
    statement_seconds: float
    transactions: int
    database_cpu_seconds: float | None
    by_statement: list[tuple[str, int, float]] = field(default_factory=list)
    #: round trips per message, by kind of message (each kind applied in batches of its own).
    by_kind: dict[str, float] = field(default_factory=dict)
    outcomes_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def statements_per_message(self) -> float:
        """Return SQL statements (savepoints included) per message."""
        return raw_limits.per_second(self.statements, self.messages)


@dataclass
class ThroughputReport:
    """What `hub bench throughput` measured."""

    database: str
    broker: str
    golden_loaded: int
    load_seconds: float
    messages: int
    mix: dict[str, int]
    rate: float | None
    batch_size: int
    workers: int
    publish_seconds: float
    elapsed_seconds: float
    outcomes: dict[str, int]
    outcomes_by_kind: dict[str, dict[str, int]]
    duplicate_decisions: dict[str, int]
    #: Candidate golden records scored per message that reached the matcher (from match_decision).
    candidates: list[int]
    latencies_ms: list[float]
    latencies_by_kind: dict[str, list[float]]
    without_event: int
    worker_peak_rss_bytes: int
    worker_rss_bytes: int
    cpu: CpuClock
    cpu_seconds: float
    cores: int
    database_bytes_after_load: int
    database_bytes: int
    golden_records: int
    golden_after_load: int
    problems: list[str] = field(default_factory=list)
    worker_log_tail: str = ""
    sessions: SessionStates = field(default_factory=SessionStates)
    sample: StatementSample | None = None
    profile: list[str] = field(default_factory=list)
    profile_mode: str = ""
    limits: raw_limits.RawLimits | None = None

    @property
    def messages_per_second(self) -> float:
        """Return M over the time from the first publish to the last message's first event."""
        return raw_limits.per_second(self.messages, self.elapsed_seconds)

    @property
    def outcome_total(self) -> int:
        """Return how many outcomes the measured messages got."""
        return sum(self.outcomes.values())

    @property
    def ok(self) -> bool:
        """Tell whether the run measured what it claims: every message an outcome and an event."""
        return not self.problems

    @property
    def bytes_per_golden(self) -> float:
        """Return database bytes per golden record after the run."""
        return self.database_bytes / self.golden_records if self.golden_records else float("nan")

    @property
    def bytes_per_golden_after_load(self) -> float:
        """Return database bytes per golden record right after the COPY load, before the stream."""
        return self.database_bytes_after_load / self.golden_after_load if self.golden_after_load else math.nan


# -- the run -------------------------------------------------------------------------------------------------


def _sample_sessions(engine: Engine, sessions: SessionStates) -> None:
    """Count what the worker's busy sessions are doing right now (not ours, and not idle ones)."""
    with engine.connect() as conn:
        busy = conn.execute(
            text(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend' "
                "AND application_name <> :me AND state <> 'idle'"
            ),
            {"me": APPLICATION_NAME},
        ).all()
    sessions.samples += 1
    for state, wait_type, wait_event in busy:
        sessions.counts[_session_state(state, wait_type, wait_event)] += 1


async def _keep_sampling_sessions(engine: Engine, sessions: SessionStates, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(_sample_sessions, engine, sessions)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SESSION_SAMPLE_SECONDS)


def _count_outcomes(engine: Engine) -> dict[str, int]:
    """Return the outcome counters of the whole hub."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT outcome, coalesce(sum(count), 0) FROM message_outcome GROUP BY outcome")
        ).all()
    counts = dict.fromkeys(OUTCOMES, 0)
    counts.update({str(outcome): int(n) for outcome, n in found})
    return counts


def _events_queued(engine: Engine, topics: Sequence[str]) -> tuple[int, int]:
    """Return (outbox rows on the topics, rows not yet published on any topic)."""
    with engine.connect() as conn:
        queued, unpublished = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE topic = ANY(:topics)), "
                "count(*) FILTER (WHERE published_at IS NULL) FROM outbox"
            ),
            {"topics": list(topics)},
        ).one()
    return int(queued), int(unpublished)


@contextlib.contextmanager
def _loaded_as_settled(engine: Engine) -> Iterator[None]:
    """Make the golden records loaded in the block look as old as their source records.

    The loader leaves `created_at` and `updated_at` to their default, now(), and the worker's re-match
    sweep re-scores every golden record changed within the last three minutes: its first pass would
    re-match the whole preload while the stream runs, which a settled hub never does. Changing the
    defaults for the load costs nothing; updating a million rows afterwards would bloat the table.
    """
    settled = OCCURRED_AT.isoformat()
    with engine.begin() as conn:
        for column in ("created_at", "updated_at"):
            conn.exec_driver_sql(f"ALTER TABLE golden_record ALTER COLUMN {column} SET DEFAULT '{settled}'")
    try:
        yield
    finally:
        with engine.begin() as conn:
            for column in ("created_at", "updated_at"):
                conn.exec_driver_sql(f"ALTER TABLE golden_record ALTER COLUMN {column} SET DEFAULT now()")


def _database_size(engine: Engine) -> tuple[int, int]:
    """Return (pg_database_size, active golden records)."""
    with engine.connect() as conn:
        size, golden = conn.execute(
            text(
                "SELECT pg_database_size(current_database()), "
                "(SELECT count(*) FROM golden_record WHERE golden_id <> 'CASH' AND state = 'active')"
            )
        ).one()
    return int(size), int(golden)


class TokenBucket:
    """Hands out `rate` tokens a second, at most `burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.perf_counter()

    async def take(self) -> None:
        """Wait for one token."""
        while True:
            now = time.perf_counter()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class _Arrivals:
    """First arrival (perf_counter) of each customer event and dead letter seen."""

    customer: dict[tuple[str, int], float] = field(default_factory=dict)
    dead: dict[bytes, float] = field(default_factory=dict)
    received: int = 0


@dataclass
class _Published:
    sent_at: list[float]
    first: float
    last: float
    cpu_before: CpuClock
    cpu_read_at: float


class _Worker:
    """The `python -m hub worker` processes of the benchmark (one consumer group), each logging to a file."""

    def __init__(self, settings: Settings, workdir: Path, count: int = 1) -> None:
        self.log_paths = [workdir / f"worker-{n}.log" for n in range(1, count + 1)]
        env = dict(os.environ)
        env.update(
            {
                "HUB_DATABASE_URL": settings.database_url or "",
                "HUB_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
                "HUB_TOPIC_PREFIX": settings.topic_prefix,
                "HUB_CONSUMER_GROUP": settings.consumer_group,
                "HUB_DATA_DIR": str(settings.data_dir),
                "HUB_BROKER_SESSION_TIMEOUT": str(settings.broker_session_timeout),
                "HUB_BATCH_SIZE": str(settings.batch_size),
                "HUB_LOG_LEVEL": "INFO",
            }
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        for n, log_path in enumerate(self.log_paths, start=1):
            # each worker keeps its Faust state apart; they share the database, topics and group
            env["HUB_DATA_DIR"] = str(Path(settings.data_dir) / f"worker-{n}")
            with log_path.open("ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "hub", "worker"],
                        env=dict(env),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    @property
    def pid(self) -> int:
        """Return the first worker's process id (the one py-spy profiles)."""
        return self.processes[0].pid

    @property
    def pids(self) -> list[int]:
        """Return every worker's process id."""
        return [p.pid for p in self.processes]

    def check_alive(self) -> None:
        """Raise BenchmarkFailed when a worker has exited."""
        for process in self.processes:
            if process.poll() is not None:
                raise BenchmarkFailed(f"a worker exited with code {process.returncode}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        """Return the end of the workers' logs."""
        tails = []
        for log_path in self.log_paths:
            with contextlib.suppress(OSError):
                tails.append(log_path.read_text(errors="replace")[-chars:])
        return "\n".join(tails)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _consume_events(
    consumer: AIOKafkaConsumer, customer_topic: str, arrivals: _Arrivals, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=100, max_records=5000)
        now = time.perf_counter()
        for tp, records in batch.items():
            for record in records:
                arrivals.received += 1
                if record.value is None:  # a tombstone (an erasure): no event of this run
                    continue
                document = json.loads(record.value)
                if tp.topic == customer_topic:
                    arrivals.customer.setdefault((document["golden_id"], int(document["version"])), now)
                else:
                    digest = hashlib.sha1(base64.b64decode(document["value_b64"])).digest()
                    arrivals.dead.setdefault(digest, now)


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    await consumer.topics()  # loads the cluster's metadata
    found = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise BenchmarkFailed(f"the broker does not know the topic {topic}")
        found += [TopicPartition(topic, p) for p in sorted(partitions)]
    return found


async def _publish(
    producer: Any, settings: Settings, messages: Sequence[BenchMessage], rate: float | None
) -> list[float]:
    """Hand the messages to the producer (paced by a token bucket at `rate`); return each one's time."""
    topics = settings.source_topics
    bucket = TokenBucket(rate, max(1.0, rate / 50)) if rate else None
    sent_at: list[float] = []
    futures = []
    for i, message in enumerate(messages):
        if bucket is not None:
            await bucket.take()
        elif i % 200 == 0:
            await asyncio.sleep(0)  # let the event consumer timestamp what arrives meanwhile
        sent_at.append(time.perf_counter())
        futures.append(await producer.send(topics[message.source], value=message.value, key=message.key))
    await asyncio.gather(*futures)
    return sent_at


async def _wait_for_outcomes(
    engine: Engine,
    worker: _Worker,
    wanted: int,
    *,
    stall_seconds: float,
    what: str,
    say: Callable[[str], None],
) -> dict[str, int]:
    """Poll `message_outcome` until `wanted` outcomes are counted; fail after `stall_seconds` without one."""
    last_total, last_change = -1, time.monotonic()
    next_say = time.monotonic() + 30
    while True:
        counts = await asyncio.to_thread(_count_outcomes, engine)
        total = sum(counts.values())
        if total >= wanted:
            return counts
        worker.check_alive()
        now = time.monotonic()
        if total != last_total:
            last_total, last_change = total, now
        elif now - last_change > stall_seconds:
            raise BenchmarkFailed(
                f"{what}: {total:,} of {wanted:,} outcomes, none new for {stall_seconds:.0f} s\n"
                f"{worker.log_tail()}"
            )
        if now >= next_say:
            next_say = now + 30
            say(f"  {what}: {total:,} of {wanted:,} outcomes")
        await asyncio.sleep(POLL_SECONDS)


async def _drive(
    settings: Settings,
    engine: Engine,
    worker: _Worker,
    warmup: Sequence[BenchMessage],
    measured: Sequence[BenchMessage],
    *,
    rate: float | None,
    stall_seconds: float,
    pgdata: Path | None,
    on_warm: Callable[[], None],
    say: Callable[[str], None],
) -> tuple[_Published, dict[str, int], _Arrivals, SessionStates]:
    """Warm the worker up, publish the measured messages, and wait for their outcomes and events."""
    customer_topic = settings.topic(CUSTOMER_TOPIC)
    event_topics = [customer_topic, settings.topic(DEADLETTER_TOPIC)]
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    producer = create_producer(settings)
    await producer.start()
    arrivals = _Arrivals()
    stop, sampled = asyncio.Event(), asyncio.Event()
    sessions = SessionStates()
    task: asyncio.Task[None] | None = None
    sampler: asyncio.Task[None] | None = None
    try:
        partitions = await _partitions(consumer, event_topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        task = asyncio.create_task(_consume_events(consumer, customer_topic, arrivals, stop))

        say(f"warming up: {len(warmup)} messages (the worker joins its consumer group first) ...")
        started = time.monotonic()
        initial = sum((await asyncio.to_thread(_count_outcomes, engine)).values())
        await _publish(producer, settings, warmup, None)
        before = await _wait_for_outcomes(
            engine, worker, initial + len(warmup), stall_seconds=WORKER_START_SECONDS, what="warm-up", say=say
        )
        say(f"  the worker applied the warm-up {time.monotonic() - started:.1f} s after it was published")
        on_warm()

        cpu_before = await asyncio.to_thread(CpuClock.read, worker.pids, pgdata)
        cpu_read_at = time.perf_counter()
        sampler = asyncio.create_task(_keep_sampling_sessions(engine, sessions, sampled))
        pace = f"at {rate:,.0f} messages/s" if rate else "as fast as the producer goes"
        say(f"publishing {len(measured):,} messages {pace} ...")
        sent_at = await _publish(producer, settings, measured, rate)
        say(f"  published in {sent_at[-1] - sent_at[0]:.1f} s; waiting for their outcomes ...")
        wanted = sum(before.values()) + len(measured)
        after = await _wait_for_outcomes(
            engine, worker, wanted, stall_seconds=stall_seconds, what="measured run", say=say
        )
        sampled.set()
        # Then for their events: the relay publishes what the worker committed.
        last_change, last_seen = time.monotonic(), -1
        while True:
            queued, unpublished = await asyncio.to_thread(_events_queued, engine, event_topics)
            if unpublished == 0 and arrivals.received >= queued:
                break
            worker.check_alive()
            if arrivals.received != last_seen:
                last_seen, last_change = arrivals.received, time.monotonic()
            elif time.monotonic() - last_change > stall_seconds:
                raise BenchmarkFailed(
                    f"{arrivals.received:,} of {queued:,} events arrived ({unpublished:,} unpublished), "
                    f"none new for {stall_seconds:.0f} s\n{worker.log_tail()}"
                )
            await asyncio.sleep(POLL_SECONDS)
        outcomes = {o: after[o] - before[o] for o in OUTCOMES}
        published = _Published(sent_at, sent_at[0], sent_at[-1], cpu_before, cpu_read_at)
        return published, outcomes, arrivals, sessions
    finally:
        stop.set()
        sampled.set()
        if sampler is not None:
            with contextlib.suppress(Exception):
                await sampler
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        await producer.stop()
        await consumer.stop()


@dataclass(frozen=True)
class _Correlated:
    first_event: dict[int, float]  # seq -> first arrival (perf_counter)
    outcomes_by_kind: dict[str, dict[str, int]]
    duplicate_decisions: dict[str, int]
    candidates: list[int]  # candidate golden records scored, per matched message


def _correlate(engine: Engine, measured: Sequence[BenchMessage], arrivals: _Arrivals) -> _Correlated:
    """Tie events to messages and messages to their outcomes and match decisions."""
    by_id = {m.message_id: m for m in measured if m.message_id is not None}
    first: dict[int, float] = {}
    with engine.connect() as conn:
        caused = conn.execute(
            text(
                "SELECT golden_id, version, cause->>'message_id' FROM golden_version "
                "WHERE cause->>'message_id' LIKE 'bench-%'"
            )
        ).all()
        processed: dict[str, str] = {
            str(message_id): str(outcome)
            for message_id, outcome in conn.execute(
                text("SELECT message_id, outcome FROM processed_message WHERE message_id LIKE 'bench-%'")
            ).all()
        }
        dead_values = [bytes(v) for (v,) in conn.execute(text("SELECT value FROM dead_letter")).all()]
        decisions = conn.execute(
            text(
                "SELECT message_id, outcome, jsonb_array_length(explanation->'candidates') "
                "FROM match_decision WHERE message_id LIKE 'bench-%'"
            )
        ).all()
    for golden_id, version, message_id in caused:
        message = by_id.get(message_id)
        arrived = arrivals.customer.get((golden_id, int(version)))
        if message is not None and arrived is not None:
            first[message.seq] = min(arrived, first.get(message.seq, math.inf))
    by_digest = {m.digest: m for m in measured}
    for digest, arrived in arrivals.dead.items():
        message = by_digest.get(digest)
        if message is not None:
            first[message.seq] = min(arrived, first.get(message.seq, math.inf))
    dead = {hashlib.sha1(v).digest() for v in dead_values}
    by_kind: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for message in measured:
        if message.message_id in processed:
            outcome = str(processed[message.message_id])
        elif message.digest in dead:
            outcome = "dead_lettered"
        else:
            outcome = "none"
        by_kind[message.kind][outcome] += 1
    duplicates = {m.message_id for m in measured if m.kind == "duplicate"}
    decided = Counter(str(outcome) for message_id, outcome, _ in decisions if message_id in duplicates)
    candidates = [int(n or 0) for message_id, _, n in decisions if message_id in by_id]
    return _Correlated(first, {kind: dict(c) for kind, c in by_kind.items()}, dict(decided), candidates)


def _find_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


#: Samples a second py-spy takes of every thread of the worker.
PY_SPY_RATE = 100


def _start_py_spy(pid: int, output: Path, seconds: float, *, gil: bool) -> subprocess.Popen[bytes] | None:
    """Start py-spy on the worker, per thread, as collapsed stacks: wall clock (idle frames too), or
    with `gil` only the samples of the thread holding the GIL (where the worker's Python CPU goes).

    `--nonblocking` reads the worker's memory without pausing it, so the profile costs it nothing.
    """
    binary = _find_py_spy()
    if binary is None:
        return None
    sampled = "--gil" if gil else "--idle"
    command = [
        binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(PY_SPY_RATE),
        "--format", "raw", sampled, "--threads", "--nonblocking", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass(frozen=True)
class _Stack:
    thread: str
    frames: list[tuple[str, str]]  # (function, file), outermost first
    samples: int


_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_LIBRARY_MARKERS = ("site-packages/", "lib/python3.11/", "lib/python3.12/", "lib/python3.13/")


def _short_file(path: str) -> str:
    for marker in _LIBRARY_MARKERS:
        if marker in path:
            return path.split(marker, 1)[1]
    for package in ("hub/", "contracts/"):
        if f"/{package}" in path:
            return package + path.split(f"/{package}", 1)[1]
    return path


def read_collapsed(path: Path) -> list[_Stack]:
    """Read a py-spy `raw` profile recorded with `--threads` (collapsed stacks, thread frame first)."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        thread = "?"
        if parts and parts[0].startswith("thread ("):
            thread = parts.pop(0).partition(": ")[2] or "?"
        frames = []
        for part in parts:
            match = _FRAME.match(part.strip())
            frames.append((match["function"], _short_file(match["file"])) if match else (part.strip(), ""))
        stacks.append(_Stack(thread, frames, int(count)))
    return stacks


def _package(file: str) -> str:
    return file.split("/", 1)[0].removesuffix(".py") if "/" in file else file.removesuffix(".py")


def _apply_category(stack: _Stack) -> str:
    """Say what a sample inside `process_batch` was doing, by its innermost frame."""
    package = _package(stack.frames[-1][1])
    if package == "psycopg":
        return "in psycopg: sending a statement and waiting for PostgreSQL's answer"
    if package == "sqlalchemy":
        return "SQLAlchemy: compiling statements, caching, rows"
    if package in ("pydantic", "pydantic_core"):
        return "pydantic: contracts and events"
    if package in ("hub", "contracts"):
        return "the hub's own Python (domain, service, store)"
    return f"{package} (other library)"


def _is_idle_loop(stack: _Stack) -> bool:
    return bool(stack.frames) and stack.frames[-1][0].endswith("select")


def summarise_profile(path: Path, rate: float = 100.0, *, gil: bool = False, top: int = 12) -> list[str]:
    """Summarise a py-spy profile of the worker: which thread did what, and where applying batches goes.

    A wall-clock profile (idle frames included) counts every thread at every sample, so a thread
    blocked in psycopg shows its psycopg frame whether it waits for PostgreSQL or for the GIL; shares
    are of the wall time, per thread (the worker applies up to three batches at once, one per source).
    A `gil` profile counts only the thread holding the GIL: shares are of the worker's Python CPU.
    A stack's innermost Python frame says what the thread was doing.
    """
    stacks = read_collapsed(path)
    if not stacks:
        return ["  (no samples)"]
    per_thread: Counter[str] = Counter()
    for stack in stacks:
        per_thread[stack.thread] += stack.samples
    whole = sum(per_thread.values()) if gil else max(per_thread.values())

    def share(samples: int) -> str:
        amount = f"{samples:6,}" if gil else f"{samples / rate:6.1f}"
        return f"{amount}  ({samples / whole:4.0%})"

    applying = [st for st in stacks if any(f == "process_batch" for f, _ in st.frames)]
    applied = sum(st.samples for st in applying) or 1
    relay = sum(
        st.samples
        for st in stacks
        if not any(f == "process_batch" for f, _ in st.frames) and any("relay" in f for _, f in st.frames)
    )
    sweep = sum(st.samples for st in stacks if any(f == "run_rematch_sweep" for f, _ in st.frames))
    # In --nonblocking mode py-spy sometimes reads only the innermost frames of a thread's stack.
    others = [
        st
        for st in stacks
        if st.thread != "MainThread"
        and not any(f in ("process_batch", "run_rematch_sweep") or "relay" in file for f, file in st.frames)
    ]
    waiting = sum(st.samples for st in others if st.frames and st.frames[-1][0] == "_worker")
    partial = sum(st.samples for st in others) - waiting
    loop = [st for st in stacks if st.thread == "MainThread"]
    loop_idle = sum(st.samples for st in loop if _is_idle_loop(st))
    loop_busy: Counter[str] = Counter()
    for st in loop:
        if st.frames and not _is_idle_loop(st):
            loop_busy[_package(st.frames[-1][1])] += st.samples
    busy = sum(loop_busy.values()) or 1
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    for st in applying:
        categories[_apply_category(st)] += st.samples
        for name in {f"{f} ({file})" for f, file in st.frames if _package(file) in ("hub", "contracts")}:
            inclusive[name] += st.samples
        innermost["{} ({})".format(*st.frames[-1])] += st.samples
    header = (
        f"  {whole:,} samples of the thread holding the GIL; samples (share of the worker's Python CPU):"
        if gil
        else f"  {whole:,} samples per thread ({whole / rate:.0f} s at {rate:.0f} Hz), {len(per_thread)} "
        "threads; thread-seconds (share of the wall time; threads add up):"
    )
    return [
        header,
        f"    applying batches (process_batch, executor threads)  {share(applied)}",
        *(f"      {n / applied:6.1%}  {name}" for name, n in categories.most_common(8)),
        f"    outbox relay (executor threads)                     {share(relay)}",
        f"    re-match sweep (run_rematch_sweep, every 60 s)      {share(sweep)}",
        f"    other threads, or stacks read only in part          {share(partial)}",
        *([] if gil else [f"    executor threads waiting for work                   {share(waiting)}"]),
        f"    event loop thread, busy                             {share(sum(loop_busy.values()))}: "
        + ", ".join(f"{name} {n / busy:.0%}" for name, n in loop_busy.most_common(5)),
        *([] if gil else [f"    event loop thread, idle in select                   {share(loop_idle)}"]),
        "  the hub's functions by inclusive share of applying batches:",
        *(f"    {n / applied:6.1%}  {name}" for name, n in inclusive.most_common(top)),
        "  innermost frames by share of applying batches:",
        *(f"    {n / applied:6.1%}  {name}" for name, n in innermost.most_common(top)),
    ]


class _StatementCounter:
    """Counts the SQL statements an engine sends, by shape, and the time spent inside each execute."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self.commits = 0
        self._began = 0.0

    @property
    def total(self) -> int:
        """Return how many statements were sent."""
        return sum(self.counts.values())

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """Note when a statement is handed to psycopg."""
        self._began = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """Count a statement SQLAlchemy sent."""
        self.observe(statement, time.perf_counter() - self._began)

    def observe(self, statement: str, seconds: float) -> None:
        """Count the statement under its shape: parameters, IN lists and savepoint names folded."""
        shape = re.sub(r"\s+", " ", statement).strip()
        shape = re.sub(r"\$?%\(\w+\)s|\$\d+|%s", "?", shape)
        shape = re.sub(r"(\(?\?(, \?)*\)?, )+\(?\?(, \?)*\)?", "?, ...", shape)
        shape = re.sub(r"SAVEPOINT \w+", "SAVEPOINT sp", shape)[:100]
        self.counts[shape] += 1
        self.seconds[shape] += seconds

    def commit(self, conn: Any) -> None:
        """Count a commit."""
        self.commits += 1

    @contextlib.contextmanager
    def listening(self, engine: Engine) -> Iterator[None]:
        """Count while the block runs."""
        hooks = (("before_cursor_execute", self.before), ("after_cursor_execute", self.after))
        for name, hook in (*hooks, ("commit", self.commit)):
            event.listen(engine, name, hook)
        statement_observers.append(self.observe)  # the unit of work's own psycopg statements
        try:
            yield
        finally:
            statement_observers.remove(self.observe)
            for name, hook in (*hooks, ("commit", self.commit)):
                event.remove(engine, name, hook)


def _sample_statements(
    settings: Settings,
    factory: FeedFactory,
    count: int,
    pgdata: Path | None,
    say: Callable[[str], None],
) -> StatementSample:
    """Apply `count` more messages of the feed in this process with the worker's `process_batch`.

    Messages go in batches of one kind and one source (the worker's batches are of one source), so the
    statements can be counted per kind of message.
    """
    from hub.service.intake import InboundMessage
    from hub.streams.worker import process_batch

    hub = bootstrap(settings)
    groups: dict[tuple[str, str], list[InboundMessage]] = defaultdict(list)
    for offset, m in enumerate(factory.take(count)):
        # Offsets far above the run's keep the sample's dead letters apart from the broker's.
        delivered = InboundMessage(settings.source_topics[m.source], 0, 10**12 + offset, m.key, m.value)
        groups[(m.kind, m.source)].append(delivered)
    counter = _StatementCounter()
    per_kind: Counter[str] = Counter()
    messages_of_kind: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    say(f"statement sample: applying {count} more messages in this process with process_batch ...")
    cpu_before, database_before = time.process_time(), _server_cpu_seconds(pgdata)
    started = time.perf_counter()
    batches = 0
    try:
        with counter.listening(hub.engine):
            for (kind, source), inbound in groups.items():
                for i in range(0, len(inbound), settings.batch_size):
                    sent = counter.total
                    for outcome in process_batch(hub, source, inbound[i : i + settings.batch_size]):
                        outcomes[kind][outcome] += 1
                    per_kind[kind] += counter.total - sent
                    batches += 1
                messages_of_kind[kind] += len(inbound)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        database_after = _server_cpu_seconds(pgdata)
    finally:
        hub.engine.dispose()
    return StatementSample(
        messages=count,
        batches=batches,
        wall_seconds=wall,
        cpu_seconds=cpu,
        statements=counter.total,
        statement_seconds=sum(counter.seconds.values()),
        transactions=counter.commits,
        database_cpu_seconds=(
            database_after - database_before
            if database_after is not None and database_before is not None
            else None
        ),
        by_statement=[(shape, n, counter.seconds[shape]) for shape, n in counter.counts.most_common(40)],
        by_kind={kind: per_kind[kind] / n for kind, n in messages_of_kind.items()},
        outcomes_by_kind={kind: dict(c) for kind, c in outcomes.items()},
    )


def _problems(
    messages: int, outcomes: dict[str, int], missing: int, by_kind: dict[str, dict[str, int]]
) -> list[str]:
    """Say what makes a run's figures meaningless: lost outcomes, missing events, wrong outcomes."""
    problems = []
    if sum(outcomes.values()) < messages:
        problems.append(f"only {sum(outcomes.values()):,} of {messages:,} messages reached an outcome")
    if missing:
        problems.append(f"{missing:,} messages have no event on {CUSTOMER_TOPIC} or {DEADLETTER_TOPIC}")
    return problems + _wrong_outcomes(by_kind)


def _wrong_outcomes(by_kind: dict[str, dict[str, int]]) -> list[str]:
    """Say which kinds of message did not get the outcome they should."""
    problems = []
    for kind, counts in by_kind.items():
        wrong = sum(n for outcome, n in counts.items() if outcome != EXPECTED_OUTCOME[kind])
        if wrong:
            problems.append(f"{wrong:,} {kind} messages did not end {EXPECTED_OUTCOME[kind]}: {counts}")
    return problems


def bench_throughput_on(
    settings: Settings,
    *,
    golden: int,
    messages: int,
    rate: float | None = None,
    seed: int = 1,
    warmup: int = 20,
    stall_seconds: float = 120.0,
    workers: int = 1,
    sample: int = 0,
    limits: dict[str, int] | None = None,
    py_spy: Path | None = None,
    py_spy_seconds: float = 30.0,
    py_spy_gil: bool = False,
    pgdata: Path | None = None,
    workdir: Path,
    database_label: str = "given",
    broker_label: str = "given",
    say: Callable[[str], None] = print,
) -> ThroughputReport:
    """Run the benchmark on the servers of `settings` (both addresses set; the database empty)."""
    if messages < 1 or warmup < 1:
        raise ValueError("the benchmark needs at least one warm-up and one measured message")
    run = secrets.token_hex(3)
    settings = settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix}bench-{run}.",
            "consumer_group": f"hub-bench-{run}",
            "data_dir": workdir,
        }
    )
    url = make_url(settings.database_url or "").update_query_dict({"application_name": APPLICATION_NAME})
    engine = create_db_engine(url.render_as_string(hide_password=False))
    worker: _Worker | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        upgrade(engine)
        try:
            raw_limits.refuse_unless_empty(engine)
        except raw_limits.BenchmarkRefused as refused:
            raise BenchmarkRefused(str(refused)) from None
        say(f"loading {golden:,} synthetic golden records with COPY ...")
        with _loaded_as_settled(engine):
            load = load_synthetic_golden_records(engine, golden, seed)
        size_after_load, golden_after_load = _database_size(engine)
        say(f"  loaded in {load.seconds:.1f} s ({load.records_per_second:,.0f} records/s)")

        factory = FeedFactory(golden, seed, datetime.now(UTC))
        started = time.perf_counter()
        warm = factory.take(warmup)
        factory.take(-warmup % BLOCK)  # so the measured messages start a block: the mix is exact
        measured = factory.take(messages)
        say(f"generated {warmup + messages:,} messages in {time.perf_counter() - started:.1f} s")

        asyncio.run(ensure_topics(settings))
        worker = _Worker(settings, workdir, workers)

        def start_profiler() -> None:
            nonlocal spy
            if py_spy is not None and worker is not None:
                spy = _start_py_spy(worker.pid, py_spy, py_spy_seconds, gil=py_spy_gil)
                say(f"profiling the worker for {py_spy_seconds:.0f} s into {py_spy}" if spy else "no py-spy")

        published, outcomes, arrivals, sessions = asyncio.run(
            _drive(
                settings,
                engine,
                worker,
                warm,
                measured,
                rate=rate,
                stall_seconds=stall_seconds,
                pgdata=pgdata,
                on_warm=start_profiler,
                say=say,
            )
        )
        cpu = CpuClock.read(worker.pids, pgdata).since(published.cpu_before)
        cpu_seconds = time.perf_counter() - published.cpu_read_at
        memories = [_memory(pid) for pid in worker.pids]
        memory = max(memories, key=lambda m: m.get("VmHWM", 0))
        log_tail = worker.log_tail()
        worker.stop(settings.shutdown_grace_seconds + 10)
        worker = None
        profile: list[str] = []
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(py_spy_seconds + 30)
            if py_spy is not None and py_spy.exists():
                profile = summarise_profile(py_spy, PY_SPY_RATE, gil=py_spy_gil)

        correlated = _correlate(engine, measured, arrivals)
        first, by_kind = correlated.first_event, correlated.outcomes_by_kind
        start = measured[0].seq
        latencies = {seq: (arrived - published.sent_at[seq - start]) * 1000 for seq, arrived in first.items()}
        by_kind_latency: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for m in measured:
            if m.seq in latencies:
                by_kind_latency[m.kind].append(latencies[m.seq])
        last_event = max(first.values(), default=published.first)
        size, golden_now = _database_size(engine)

        missing = messages - len(first)
        problems = _problems(messages, outcomes, missing, by_kind)
        report = ThroughputReport(
            database=database_label,
            broker=broker_label,
            golden_loaded=golden,
            load_seconds=load.seconds,
            messages=messages,
            mix=dict(Counter(m.kind for m in measured)),
            rate=rate,
            batch_size=settings.batch_size,
            workers=workers,
            publish_seconds=published.last - published.first,
            elapsed_seconds=last_event - published.first,
            outcomes=outcomes,
            outcomes_by_kind=by_kind,
            duplicate_decisions=correlated.duplicate_decisions,
            candidates=correlated.candidates,
            latencies_ms=list(latencies.values()),
            latencies_by_kind=by_kind_latency,
            without_event=missing,
            worker_peak_rss_bytes=memory.get("VmHWM", 0),
            worker_rss_bytes=memory.get("VmRSS", 0),
            cpu=cpu,
            cpu_seconds=cpu_seconds,
            cores=os.cpu_count() or 1,
            database_bytes_after_load=size_after_load,
            database_bytes=size,
            golden_records=golden_now,
            golden_after_load=golden_after_load,
            problems=problems,
            worker_log_tail=log_tail if problems else "",
            profile=profile,
            profile_mode="GIL holders only: the worker's Python CPU"
            if py_spy_gil
            else "wall clock, idle too",
            sessions=sessions,
        )
        if sample:
            report.sample = _sample_statements(settings, factory, sample, pgdata, say)
            wrong = _wrong_outcomes(report.sample.outcomes_by_kind)
            report.problems += [f"statement sample: {problem}" for problem in wrong]
        if limits:
            report.limits = raw_limits.measure_limits(settings, engine, say=say, **limits)
        return report
    finally:
        if spy is not None and spy.poll() is None:
            spy.terminate()
        if worker is not None:
            worker.stop(10)
        engine.dispose()


@contextlib.contextmanager
def _servers(
    settings: Settings, workdir: Path, say: Callable[[str], None]
) -> Iterator[tuple[Settings, Path | None]]:
    with raw_limits.bench_servers(settings, workdir, say) as servers:
        pgdata = workdir / "postgres" if settings.database_url is None else None
        yield servers, pgdata


def bench_throughput(
    settings: Settings,
    *,
    golden: int,
    messages: int,
    rate: float | None = None,
    seed: int = 1,
    warmup: int = 20,
    stall_seconds: float = 120.0,
    workers: int = 1,
    sample: int = 0,
    limits: dict[str, int] | None = None,
    py_spy: Path | None = None,
    py_spy_seconds: float = 30.0,
    py_spy_gil: bool = False,
    say: Callable[[str], None] = print,
) -> ThroughputReport:
    """Run the benchmark on temporary embedded servers, or on the servers HUB_ variables name."""
    with (
        tempfile.TemporaryDirectory(prefix="hub-bench-throughput-") as tmp,
        _servers(settings, Path(tmp), say) as (servers, pgdata),
    ):
        return bench_throughput_on(
            servers,
            golden=golden,
            messages=messages,
            rate=rate,
            seed=seed,
            warmup=warmup,
            stall_seconds=stall_seconds,
            sample=sample,
            workers=workers,
            limits=limits,
            py_spy=py_spy,
            py_spy_seconds=py_spy_seconds,
            py_spy_gil=py_spy_gil,
            pgdata=pgdata,
            workdir=Path(tmp),
            database_label="HUB_DATABASE_URL" if settings.database_url else "embedded (temporary)",
            broker_label="HUB_KAFKA_BOOTSTRAP_SERVERS"
            if settings.kafka_bootstrap_servers
            else "Tansu (temporary)",
            say=say,
        )


# -- the report ----------------------------------------------------------------------------------------------


def _worker_processes(n: int) -> str:
    return "one `hub worker`" if n == 1 else f"{n} `hub worker` processes (one consumer group)"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _share(seconds: float | None, wall: float) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds:,.1f} s ({seconds / wall:.0%})"


def _latency_target(report: ThroughputReport, p99: float) -> str:
    if not report.rate:
        return "use --rate"
    if report.rate < TARGET_P99_AT_RATE:
        return f"not tested: offered {report.rate:,.0f} msg/s"
    return _met(p99 < TARGET_P99_MS)


def render(report: ThroughputReport) -> str:
    """Render the report: rate, latency, outcomes, memory, storage, and what they say about the targets."""
    r = report
    pace = f"offered at {r.rate:,.0f} msg/s (token bucket)" if r.rate else "published as fast as possible"
    p50, p95, p99 = (percentile(r.latencies_ms, p) for p in (50, 95, 99))
    mix = ", ".join(f"{kind} {r.mix.get(kind, 0):,}" for kind in KINDS)
    offered = r.messages / r.publish_seconds if r.publish_seconds else math.inf
    by_kind = ", ".join(
        f"{kind} {percentile(r.latencies_by_kind[kind], 50):,.0f} / "
        f"{percentile(r.latencies_by_kind[kind], 99):,.0f}"
        for kind in KINDS
    )
    outcome_by_kind = "; ".join(
        f"{kind}: " + ", ".join(f"{o} {n:,}" for o, n in sorted(r.outcomes_by_kind[kind].items()))
        for kind in KINDS
    )
    decided = ", ".join(f"{o} {n:,}" for o, n in sorted(r.duplicate_decisions.items())) or "none"
    rss_ok = 0 < r.worker_peak_rss_bytes < TARGET_RSS_BYTES
    throughput_ok = r.messages_per_second >= TARGET_MESSAGES_PER_SECOND
    cpu, wall = r.cpu, r.cpu_seconds or 1.0
    candidates = statistics.fmean(r.candidates) if r.candidates else 0.0
    lines = [
        f"Throughput of the running hub: {r.messages:,} messages ({mix}), {pace}",
        f"onto {r.golden_loaded:,} golden records (COPY, {r.load_seconds:.1f} s); "
        f"{_worker_processes(r.workers)} with "
        f"HUB_BATCH_SIZE {r.batch_size}; {r.database} PostgreSQL, {r.broker} broker; {r.cores} cores",
        "",
        f"  published in                 {r.publish_seconds:>9.1f} s    ({offered:,.0f} msg/s offered)",
        f"  first publish to last event  {r.elapsed_seconds:>9.1f} s",
        f"  sustained                    {r.messages_per_second:>9,.1f} msg/s "
        f"(target {TARGET_MESSAGES_PER_SECOND:,.0f}: {_met(throughput_ok)})",
        f"  latency p50                  {p50:>9,.0f} ms",
        f"  latency p95                  {p95:>9,.0f} ms",
        f"  latency p99                  {p99:>9,.0f} ms    (target < {TARGET_P99_MS:.0f} ms at "
        f"{TARGET_P99_AT_RATE:.0f} msg/s: {_latency_target(r, p99)})",
        f"  latency max                  {max(r.latencies_ms, default=math.nan):>9,.0f} ms",
        f"  latency p50 / p99 by kind    {by_kind} ms",
        "",
        "  outcomes (message_outcome)   "
        + ", ".join(f"{o} {r.outcomes.get(o, 0):,}" for o in OUTCOMES)
        + f" = {r.outcome_total:,} of {r.messages:,}",
        f"  outcome by kind              {outcome_by_kind}",
        f"  cross-source duplicates      {decided} (match decisions; link: joined the known customer)",
        f"  messages without an event    {r.without_event:,}",
        f"  candidates scored            {candidates:.1f} per message on average, p95 "
        f"{percentile(r.candidates, 95):.0f}, max {max(r.candidates, default=0)} "
        f"(golden records sharing a blocking key, at most {CANDIDATE_LIMIT})",
        "",
        f"  worker peak RSS (VmHWM)      {r.worker_peak_rss_bytes / 2**20:>9,.0f} MiB  "
        f"(at the end {r.worker_rss_bytes / 2**20:,.0f} MiB; target < 1,024 MiB: {_met(rss_ok)})",
        f"  database                     {r.database_bytes / 2**20:>9,.0f} MiB  for {r.golden_records:,} "
        f"active golden records: {r.bytes_per_golden:,.0f} bytes each "
        f"(after the COPY load {r.bytes_per_golden_after_load:,.0f})",
        f"  CPU over {wall:.0f} s (share of one core): worker {_share(cpu.worker, wall)}, PostgreSQL "
        f"{_share(cpu.database, wall)}, broker {_share(cpu.broker, wall)}, this benchmark "
        f"{_share(cpu.bench, wall)}, everything else on the machine {_share(cpu.others, wall)}; "
        f"machine busy {cpu.machine / wall:.2f} of {r.cores} cores",
    ]
    if r.sessions.samples:
        lines += [
            f"  the worker's PostgreSQL sessions, sampled {r.sessions.samples:,} times during the run "
            "(average number of sessions):",
            *(
                f"    {r.sessions.average(state):5.2f}  {state}"
                for state, _ in r.sessions.counts.most_common()
            ),
        ]
    if r.sample is not None:
        lines += ["", *_render_sample(r.sample)]
    if r.profile:
        lines += ["", f"py-spy profile of the worker ({r.profile_mode}):", *r.profile]
    if r.limits is not None:
        lines += ["", "raw limits on the same servers:", *raw_limits.render(r.limits)]
    if r.problems:
        lines += ["", "BROKEN: these figures do not measure the hub:", *(f"  {p}" for p in r.problems)]
        if r.worker_log_tail:
            lines += ["worker log (end):", r.worker_log_tail]
    return "\n".join(lines)


def _render_sample(s: StatementSample) -> list[str]:
    in_sql = s.statement_seconds / s.wall_seconds
    database = (
        f", PostgreSQL's {s.database_cpu_seconds / s.wall_seconds:.0%}"
        if s.database_cpu_seconds is not None
        else ""
    )
    return [
        f"statement sample: {s.messages} more messages through process_batch in this process "
        f"({s.batches} batches, {s.messages / s.wall_seconds:,.1f} msg/s)",
        f"  {s.statements_per_message:.1f} round trips per message (a pipeline of statements counts once; "
        "savepoints included) and "
        f"{s.transactions / s.messages:.2f} commits; by kind: "
        + ", ".join(f"{kind} {s.by_kind[kind]:.1f}" for kind in KINDS if kind in s.by_kind),
        f"  of the wall time: {in_sql:.0%} inside execute (round trip and PostgreSQL), "
        f"{1 - in_sql:.0%} Python around it; CPU: this process {s.cpu_seconds / s.wall_seconds:.0%}"
        + database,
        "  round trips per message (count, share of the time in execute; ' ; ' joins pipelined statements):",
        *(
            f"    {n / s.messages:5.2f}  {t / max(s.statement_seconds, 1e-9):5.1%}  {shape}"
            for shape, n, t in s.by_statement
        ),
    ]
