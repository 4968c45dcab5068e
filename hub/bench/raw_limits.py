"""`hub bench limits`: what the broker, the client and PostgreSQL manage on their own, on this machine.

The hub's own figures (`hub bench throughput`, `hub bench import`) only mean something next to the
ceilings of the parts underneath them, measured on the same servers in the same run:

- aiokafka producing alone (the hub's producer options: acks=all, linger 5 ms) and consuming alone,
  in messages/s, through the same broker; and the latency of one message from producer to consumer
  at a low rate, with a 10 ms fetch wait and with the 1500 ms Faust gives its workers' consumer (Tansu
  holds an empty fetch, so the wait shows up as latency);
- PostgreSQL COPY alone, in rows/s: narrow rows into a plain table with a primary key, and synthetic
  golden records into the hub's own tables with all their indexes (one golden record, one source
  record and about nine match keys each; in a transaction that is rolled back, so nothing stays);
- one connection's round trips to PostgreSQL (`SELECT 1`), the floor under every SQL statement the
  worker sends one at a time; and a primary-key lookup of a golden record, with psycopg and the SQL
  text, and through SQLAlchemy Core with the statement built each time, as the hub's store does (the
  client's own cost per statement).

Scratch topics and tables are named `bench-raw-<random>` / `bench_raw_<random>` and removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Engine, select, text

from hub.bench.synthetic import allocate_golden_ids, copy_chunk
from hub.bootstrap import create_db_engine
from hub.runtime.embedded import EmbeddedBroker, EmbeddedPostgres
from hub.settings import Settings
from hub.store.migrate import upgrade
from hub.store.tables import golden_record
from hub.store.uow import WALK_IN_GOLDEN_ID
from hub.streams.kafka import client_options, create_producer


def per_second(count: int, seconds: float) -> float:
    """A rate, or 0 when nothing was timed."""
    return count / seconds if seconds else 0.0


class BenchmarkRefused(RuntimeError):
    """The benchmark will not run where it was pointed (a database that already holds customers)."""


@dataclass(frozen=True)
class HopLatency:
    """How long one message takes from the producer to a consumer, at a low rate, by fetch_max_wait_ms."""

    fetch_max_wait_ms: int
    p50_ms: float
    p99_ms: float
    messages: int


@dataclass(frozen=True)
class KafkaLimits:
    """Produce and consume rates of aiokafka alone through one broker."""

    messages: int
    message_bytes: int
    partitions: int
    produce_seconds: float
    consume_seconds: float
    hops: tuple[HopLatency, ...] = ()

    @property
    def produce_per_second(self) -> float:
        """Return messages produced (and acknowledged) per second."""
        return per_second(self.messages, self.produce_seconds)

    @property
    def consume_per_second(self) -> float:
        """Return messages consumed per second."""
        return per_second(self.messages, self.consume_seconds)


@dataclass(frozen=True)
class PostgresLimits:
    """COPY rates and the round-trip time of one connection."""

    copy_rows: int
    copy_seconds: float
    golden_records: int
    golden_rows: int
    golden_seconds: float
    round_trips: int
    round_trip_seconds: float
    round_trip_p50_ms: float
    round_trip_p99_ms: float
    lookup_seconds: float
    core_lookup_seconds: float

    @property
    def copy_rows_per_second(self) -> float:
        """Return narrow rows written per second with COPY."""
        return per_second(self.copy_rows, self.copy_seconds)

    @property
    def golden_records_per_second(self) -> float:
        """Return golden records (with their source record and match keys) written per second with COPY."""
        return per_second(self.golden_records, self.golden_seconds)

    @property
    def golden_rows_per_second(self) -> float:
        """Return rows of the hub's tables written per second with COPY."""
        return per_second(self.golden_rows, self.golden_seconds)

    @property
    def round_trips_per_second(self) -> float:
        """Return sequential `SELECT 1` round trips per second on one connection."""
        return per_second(self.round_trips, self.round_trip_seconds)

    @property
    def lookups_per_second(self) -> float:
        """Return primary-key lookups per second with psycopg and the SQL text."""
        return per_second(self.round_trips, self.lookup_seconds)

    @property
    def core_lookups_per_second(self) -> float:
        """Return the same lookups per second through SQLAlchemy Core."""
        return per_second(self.round_trips, self.core_lookup_seconds)


@dataclass(frozen=True)
class RawLimits:
    """Everything `hub bench limits` measured."""

    kafka: KafkaLimits
    postgres: PostgresLimits


# -- Kafka -------------------------------------------------------------------------------------------------


async def _kafka_limits(
    settings: Settings, messages: int, message_bytes: int, hop_messages: int
) -> KafkaLimits:
    topics = [f"{settings.topic_prefix}bench-raw-{secrets.token_hex(4)}" for _ in range(1 + len(FETCH_WAITS))]
    partitions = settings.topic_partitions
    options = client_options(settings)
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(t, num_partitions=partitions, replication_factor=settings.topic_replication_factor)
                for t in topics
            ]
        )
        produce_seconds = await _produce(settings, topics[0], messages, message_bytes)
        consume_seconds = await _consume(options, topics[0], partitions, messages)
        hops = [
            await _hop_latency(settings, topic, partitions, wait, hop_messages)
            for topic, wait in zip(topics[1:], FETCH_WAITS, strict=True)
        ]
    finally:
        with contextlib.suppress(Exception):  # a broker that cannot delete topics keeps its scratch topics
            await admin.delete_topics(topics)
        await admin.close()
    return KafkaLimits(messages, message_bytes, partitions, produce_seconds, consume_seconds, tuple(hops))


#: The consumer's fetch_max_wait_ms values whose one-message latency is measured: a short wait, and the
#: 1500 ms Faust passes to aiokafka for its workers' consumer (faust.transport.drivers.aiokafka).
FETCH_WAITS = (10, 1500)
HOP_RATE = 20.0


async def _hop_latency(
    settings: Settings, topic: str, partitions: int, fetch_max_wait_ms: int, messages: int
) -> HopLatency:
    """Publish `messages` one by one at HOP_RATE a second; time each from send to a consumer's hands."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, fetch_max_wait_ms=fetch_max_wait_ms
    )
    producer = create_producer(settings)
    await consumer.start()
    await producer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        sent: dict[int, float] = {}
        timings: list[float] = []

        async def receive() -> None:
            while len(timings) < messages:
                batch = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                timings.extend(now - sent[int(r.value)] for records in batch.values() for r in records)

        receiving = asyncio.create_task(receive())
        for i in range(messages):
            sent[i] = time.perf_counter()
            await producer.send(topic, value=str(i).encode(), key=f"CRM-{i:06d}".encode())
            await asyncio.sleep(1 / HOP_RATE)
        await asyncio.wait_for(receiving, timeout=30 + fetch_max_wait_ms / 1000)
    finally:
        await producer.stop()
        await consumer.stop()
    timings.sort()
    return HopLatency(
        fetch_max_wait_ms, _nearest_rank(timings, 50) * 1000, _nearest_rank(timings, 99) * 1000, messages
    )


async def _produce(settings: Settings, topic: str, messages: int, message_bytes: int) -> float:
    """Send `messages` keyed messages and wait for every acknowledgement; return the seconds it took."""
    producer = create_producer(settings)
    await producer.start()
    try:
        keys = [f"CRM-{i:06d}".encode() for i in range(1000)]
        body = b"x" * message_bytes
        started = time.perf_counter()
        futures = [await producer.send(topic, value=body, key=keys[i % 1000]) for i in range(messages)]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _consume(options: dict[str, Any], topic: str, partitions: int, messages: int) -> float:
    """Read the topic from the beginning until `messages` arrived; return the seconds it took.

    Counts messages rather than comparing positions with end offsets: Tansu reports a partition's end
    as the base offset of its last producer batch + 1, short of the real end (SPEC 10).
    """
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        received = 0
        started = time.perf_counter()
        deadline = started + max(60.0, messages / 1000)
        while received < messages:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"consumed {received:,} of {messages:,} messages before the deadline")
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            received += sum(len(records) for records in batch.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def measure_kafka(
    settings: Settings, *, messages: int, message_bytes: int = 100, hop_messages: int = 100
) -> KafkaLimits:
    """Measure aiokafka producing, then consuming, `messages` small messages through the broker; then
    the latency of single messages at a low rate, with a short and with Faust's fetch wait."""
    return asyncio.run(_kafka_limits(settings, messages, message_bytes, hop_messages))


# -- PostgreSQL --------------------------------------------------------------------------------------------


def _narrow_rows(rows: int) -> bytes:
    return "".join(
        f"{i}\tCRM-{i:08d}\tcustomer number {i} of the copy benchmark\t{i % 100_000}.25\n"
        for i in range(rows)
    ).encode()


def measure_postgres(
    engine: Engine, *, copy_rows: int, golden_records: int, round_trips: int, seed: int = 1
) -> PostgresLimits:
    """Measure COPY of narrow rows and of golden records, and sequential round trips, on one connection."""
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        table = f"bench_raw_{secrets.token_hex(4)}"
        data = _narrow_rows(copy_rows)
        with driver.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {table} (id bigint PRIMARY KEY, ref text NOT NULL, note text, amount numeric)"
            )
        driver.commit()
        try:
            started = time.perf_counter()
            with driver.cursor() as cur, cur.copy(f"COPY {table} (id, ref, note, amount) FROM STDIN") as copy:
                copy.write(data)
            driver.commit()
            copy_seconds = time.perf_counter() - started
        finally:
            with driver.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
            driver.commit()

        golden_rows, golden_seconds = _copy_golden_records(engine, driver, golden_records, seed)

        driver.autocommit = True
        timings: list[float] = []
        with driver.cursor() as cur:
            for _ in range(round_trips):
                begun = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetchone()
                timings.append(time.perf_counter() - begun)
        driver.autocommit = False
        lookup_seconds = _raw_lookups(driver, round_trips)
    finally:
        raw.close()
    core_seconds = _core_lookups(engine, round_trips)
    timings.sort()
    return PostgresLimits(
        copy_rows=copy_rows,
        copy_seconds=copy_seconds,
        golden_records=golden_records,
        golden_rows=golden_rows,
        golden_seconds=golden_seconds,
        round_trips=round_trips,
        round_trip_seconds=sum(timings),
        round_trip_p50_ms=_nearest_rank(timings, 50) * 1000,
        round_trip_p99_ms=_nearest_rank(timings, 99) * 1000,
        lookup_seconds=lookup_seconds,
        core_lookup_seconds=core_seconds,
    )


_LOOKUP = "SELECT golden_id, state, version, customer FROM golden_record WHERE golden_id = %s"


def _raw_lookups(driver: Any, n: int) -> float:
    """Time `n` primary-key lookups of a golden record with psycopg and the SQL text, in a transaction."""
    started = time.perf_counter()
    with driver.cursor() as cur:
        for _ in range(n):
            cur.execute(_LOOKUP, (WALK_IN_GOLDEN_ID,))
            cur.fetchone()
    driver.rollback()
    return time.perf_counter() - started


def _core_lookups(engine: Engine, n: int) -> float:
    """Time the same lookups through SQLAlchemy Core, building each statement as the hub's store does."""
    g = golden_record.c
    started = time.perf_counter()
    with engine.connect() as conn:
        for _ in range(n):
            conn.execute(
                select(g.golden_id, g.state, g.version, g.customer).where(g.golden_id == WALK_IN_GOLDEN_ID)
            ).first()
        conn.rollback()
    return time.perf_counter() - started


def _copy_golden_records(engine: Engine, driver: Any, n: int, seed: int) -> tuple[int, float]:
    """COPY `n` synthetic golden records into the hub's tables in a transaction, then roll it back.

    The rows are rendered first (the hub's normalisation is not what is measured); a data set of its
    own (another seed) keeps their source record ids clear of any golden records already loaded.
    """
    if n <= 0:
        return 0, 0.0
    golden_ids = allocate_golden_ids(engine, n)
    chunk = copy_chunk(seed + 7_777, 0, golden_ids)
    started = time.perf_counter()
    try:
        with driver.cursor() as cur:
            for table, columns, data in (
                ("golden_record", "golden_id, state, version, customer, source_refs, lineage, data_quality",
                 chunk.golden),
                ("source_record", "source, source_record_id, golden_id, detached, last_occurred_at, "
                 "last_message_id, record, payload, issues", chunk.source),
                ("match_key", "kind, value, source, source_record_id, golden_id", chunk.match_key),
            ):  # fmt: skip
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(data)
        seconds = time.perf_counter() - started
    finally:
        driver.rollback()
    return 2 * n + chunk.match_keys, seconds


def _nearest_rank(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]


# -- the whole run -----------------------------------------------------------------------------------------


def measure_limits(
    settings: Settings,
    engine: Engine,
    *,
    messages: int,
    message_bytes: int,
    copy_rows: int,
    golden_records: int,
    round_trips: int,
    say: Callable[[str], None] = print,
) -> RawLimits:
    """Measure the broker and client, then PostgreSQL, one after the other (never both at once)."""
    say(f"raw limits: producing and consuming {messages:,} messages of {message_bytes} bytes ...")
    kafka = measure_kafka(settings, messages=messages, message_bytes=message_bytes)
    say(f"raw limits: COPY of {copy_rows:,} rows and {golden_records:,} golden records, then round trips")
    postgres = measure_postgres(
        engine, copy_rows=copy_rows, golden_records=golden_records, round_trips=round_trips
    )
    return RawLimits(kafka, postgres)


@contextlib.contextmanager
def bench_servers(settings: Settings, workdir: Path, say: Callable[[str], None]) -> Iterator[Settings]:
    """Yield settings with both server addresses: the configured ones, or temporary embedded servers."""
    with contextlib.ExitStack() as stack:
        updates: dict[str, Any] = {}
        if settings.database_url is None:
            server = EmbeddedPostgres(workdir / "postgres")
            updates["database_url"] = server.start()
            stack.callback(server.stop)
            say(f"started a temporary embedded PostgreSQL in {workdir}")
        if settings.kafka_bootstrap_servers is None:
            broker = EmbeddedBroker(log_path=workdir / "tansu.log")
            updates["kafka_bootstrap_servers"] = broker.start()
            stack.callback(broker.stop)
            say(f"started a temporary embedded broker (Tansu) on {updates['kafka_bootstrap_servers']}")
        yield settings.model_copy(update=updates)


def refuse_unless_empty(engine: Engine) -> None:
    """Refuse a database that holds golden records (SPEC 2: a benchmark never writes into a live hub)."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT golden_id FROM golden_record WHERE golden_id <> 'CASH' LIMIT 1")
        ).first()
    if found is not None:
        raise BenchmarkRefused(
            "the database at HUB_DATABASE_URL already holds golden records; the benchmark writes synthetic "
            "customers, so point it at an empty database (or unset HUB_DATABASE_URL for a temporary one)"
        )


def bench_limits(
    settings: Settings,
    *,
    messages: int,
    message_bytes: int = 100,
    copy_rows: int,
    golden_records: int,
    round_trips: int,
    say: Callable[[str], None] = print,
) -> RawLimits:
    """Measure the raw limits on temporary embedded servers, or on the configured ones."""
    with (
        tempfile.TemporaryDirectory(prefix="hub-bench-limits-") as tmp,
        bench_servers(settings, Path(tmp), say) as servers,
    ):
        engine = create_db_engine(servers.database_url or "")
        try:
            upgrade(engine)
            refuse_unless_empty(engine)
            return measure_limits(
                servers,
                engine,
                messages=messages,
                message_bytes=message_bytes,
                copy_rows=copy_rows,
                golden_records=golden_records,
                round_trips=round_trips,
                say=say,
            )
        finally:
            engine.dispose()


def render(limits: RawLimits) -> list[str]:
    """Render the raw limits as report lines."""
    k, p = limits.kafka, limits.postgres
    return [
        f"  aiokafka produce alone      {k.produce_per_second:>12,.0f} msg/s   "
        f"({k.messages:,} messages of {k.message_bytes} bytes, {k.partitions} partitions, "
        "acks=all, linger 5 ms)",
        f"  aiokafka consume alone      {k.consume_per_second:>12,.0f} msg/s",
        *(
            f"  one message, fetch wait {h.fetch_max_wait_ms:>4} ms  p50 {h.p50_ms:>7,.0f} ms, "
            f"p99 {h.p99_ms:,.0f} ms   (producer to consumer, {h.messages} messages at {HOP_RATE:.0f}/s)"
            for h in k.hops
        ),
        f"  PostgreSQL COPY, narrow     {p.copy_rows_per_second:>12,.0f} rows/s  "
        f"({p.copy_rows:,} rows, 4 columns, primary key)",
        f"  PostgreSQL COPY, golden     {p.golden_records_per_second:>12,.0f} records/s "
        f"({p.golden_rows_per_second:,.0f} rows/s into golden_record, source_record, match_key; "
        f"{p.golden_records:,} records)",
        f"  PostgreSQL round trips      {p.round_trips_per_second:>12,.0f} /s      "
        f"(SELECT 1 on one connection: p50 {p.round_trip_p50_ms:.3f} ms, p99 {p.round_trip_p99_ms:.3f} ms)",
        f"  primary-key lookup, psycopg {p.lookups_per_second:>12,.0f} /s      (SQL text, one connection, "
        f"{1000 / max(p.lookups_per_second, 1e-9):.3f} ms each)",
        f"  same, SQLAlchemy Core       {p.core_lookups_per_second:>12,.0f} /s      (statement built each "
        f"time as the hub's store does: {1000 / max(p.core_lookups_per_second, 1e-9):.3f} ms each)",
    ]
