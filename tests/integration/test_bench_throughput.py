"""`hub bench throughput` and `hub bench limits`, tiny, against the real PostgreSQL and broker."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from hub.bench.raw_limits import measure_kafka, measure_postgres
from hub.bench.synthetic import load_synthetic_golden_records, synthetic_customer
from hub.bench.throughput import MIX, FeedFactory, bench_throughput_on, percentile, render
from hub.bootstrap import create_db_engine
from hub.service.intake import InboundMessage, Rejection, read_message
from hub.settings import Settings
from hub.store.migrate import upgrade
from tests.conftest import DatabaseServer


def quiet(_: str) -> None:
    """Swallow the benchmark's progress lines."""


def test_the_feed_deals_the_mix_in_every_block_of_twenty_and_is_the_same_for_the_same_seed() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    feed = FeedFactory(golden=50, seed=3, occurred_from=now).take(100)

    for block in range(5):
        kinds = Counter(m.kind for m in feed[block * 20 : (block + 1) * 20])
        assert kinds == Counter(MIX), block
    assert [m.value for m in FeedFactory(50, 3, now).take(100)] == [m.value for m in feed]
    assert len({m.message_id for m in feed if m.message_id}) == len([m for m in feed if m.message_id])


def test_only_the_invalid_share_of_the_feed_breaks_the_contract() -> None:
    now = datetime.now(UTC)
    for message in FeedFactory(golden=40, seed=5, occurred_from=now).take(200):
        inbound = InboundMessage(
            f"source.{message.source}.customer.v1", 0, message.seq, message.key, message.value
        )
        command = read_message(
            inbound,
            topic_source=message.source,
            now=now,
            max_clock_skew=timedelta(hours=1),
            max_message_bytes=1_000_000,
        )
        assert isinstance(command, Rejection) == (message.kind == "invalid"), (message.detail, command)


def test_updates_change_what_the_crm_sent_and_duplicates_come_from_the_shop_or_the_till() -> None:
    feed = FeedFactory(golden=30, seed=2, occurred_from=datetime.now(UTC)).take(200)
    for message in feed:
        if message.kind == "update":
            document = json.loads(message.value)
            assert message.source == "crm"
            index = int(document["source_record_id"].rsplit("-", 1)[1])
            assert document["payload"] != synthetic_customer(index, 2).crm_payload(), message.detail
        if message.kind == "duplicate":
            assert message.source in ("pos", "ecommerce")


def test_the_throughput_benchmark_gives_every_message_an_outcome_and_a_latency(
    database_server: DatabaseServer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = database_server.create_database(f"bench_throughput_{uuid.uuid4().hex[:8]}")
    settings = Settings(database_url=url, kafka_bootstrap_servers=kafka_bootstrap, data_dir=tmp_path)

    report = bench_throughput_on(
        settings,
        golden=200,
        messages=60,
        rate=60,
        warmup=5,
        sample=20,
        stall_seconds=60,
        workdir=tmp_path,
        say=quiet,
    )

    table = render(report)
    assert report.ok, table
    assert report.outcome_total == 60
    assert report.outcomes["dead_lettered"] == report.mix["invalid"] == 3
    assert report.outcomes_by_kind["invalid"] == {"dead_lettered": 3}
    assert report.outcomes_by_kind["update"] == {"applied": 36}
    assert report.outcomes_by_kind["duplicate"] == {"applied": 6}
    assert report.without_event == 0
    assert len(report.latencies_ms) == 60
    assert 0 < percentile(report.latencies_ms, 50) <= percentile(report.latencies_ms, 99)
    assert report.publish_seconds >= 0.8  # 60 messages at 60/s through the token bucket
    assert report.messages_per_second > 0
    assert report.worker_peak_rss_bytes > 20 * 2**20
    assert report.golden_records >= 200
    assert report.bytes_per_golden > 1000
    assert report.cpu.worker > 0
    assert report.sample is not None
    assert report.sample.messages == 20
    assert report.sample.statements_per_message >= 1  # an applied change reads its golden record at least
    for figure in ("sustained", "latency p50", "latency p95", "latency p99", "VmHWM", "bytes each"):
        assert figure in table
    assert "BROKEN" not in table
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            defaults = conn.execute(
                text(
                    "SELECT column_default FROM information_schema.columns "
                    "WHERE table_name = 'golden_record' AND column_name IN ('created_at', 'updated_at')"
                )
            ).scalars()
            assert all(default == "now()" for default in defaults)  # the load's defaults were put back
            recent = conn.execute(
                text("SELECT count(*) FROM golden_record WHERE updated_at > now() - interval '1 hour'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert recent < 200  # the loaded records look settled: only what the stream changed is recent


def test_the_raw_limits_are_measured_and_leave_nothing_behind(
    database_server: DatabaseServer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = database_server.create_database(f"bench_limits_{uuid.uuid4().hex[:8]}")
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        load_synthetic_golden_records(engine, 10, seed=1, workers=1)
        kafka = measure_kafka(
            Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:6]}."),
            messages=2000,
            hop_messages=10,
        )
        postgres = measure_postgres(engine, copy_rows=5000, golden_records=50, round_trips=200)
        with engine.connect() as conn:
            golden = conn.execute(
                text("SELECT count(*) FROM golden_record WHERE golden_id <> 'CASH'")
            ).scalar()
            scratch = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench_raw_%'")
            ).scalar()
    finally:
        engine.dispose()

    assert kafka.produce_per_second > 0
    assert kafka.consume_per_second > 0
    assert [hop.fetch_max_wait_ms for hop in kafka.hops] == [10, 1500]
    assert all(0 < hop.p50_ms <= hop.p99_ms for hop in kafka.hops)
    assert postgres.copy_rows_per_second > 0
    assert postgres.golden_records_per_second > 0
    assert postgres.golden_rows > 2 * 50
    assert 0 < postgres.round_trip_p50_ms <= postgres.round_trip_p99_ms
    assert golden == 10  # the golden records' COPY was rolled back
    assert scratch == 0
