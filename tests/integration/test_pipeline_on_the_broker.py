"""End to end through the real broker: source topics in, canonical and dead-letter topics out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.api.app import create_api
from hub.bootstrap import bootstrap, create_db_engine
from hub.settings import Settings
from hub.streams.kafka import consumer_lag
from tests.integration.helpers import outcome_counts
from tests.messages import crm_organisation, encode, envelope, shop_company
from tests.running import (
    WorkerProcess,
    outbox_drained,
    partitions_of,
    processed_count,
    publish_messages,
    read_topic,
    true_end_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(
    database_server: Any, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Engine, WorkerProcess]]:
    run = uuid.uuid4().hex[:8]
    url = database_server.create_database(f"pipeline_{run}")
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"pipe{run}.",
        consumer_group=f"pipe-{run}",
        data_dir=tmp_path_factory.mktemp("pipeline"),
        broker_session_timeout=6,
    )
    engine = create_db_engine(url)
    worker = WorkerProcess(settings, Path(settings.data_dir) / "worker.log")
    worker.start()
    try:
        yield settings, engine, worker
    finally:
        worker.stop()
        engine.dispose()


def _process(pipeline: tuple[Settings, Engine, WorkerProcess], source: str, documents: list[Any]) -> None:
    settings, engine, worker = pipeline
    start = processed_count(engine)
    messages = [
        (
            d["source_record_id"].encode() if isinstance(d, dict) else None,
            d if isinstance(d, bytes) else encode(d),
        )
        for d in documents
    ]
    publish_messages(settings, source, messages)
    wait_until(
        lambda: processed_count(engine) >= start + len(messages) and outbox_drained(engine),
        timeout=90,
        message=worker.log,
    )


def _events_of(settings: Settings, golden_id: str) -> list[dict[str, Any]]:
    found = read_topic(settings.kafka_bootstrap_servers or "", settings.topic("mdm.customer.v1"))
    return [m["value"] for m in found if m["value"]["golden_id"] == golden_id]


def _golden_of(settings: Settings, ref: str) -> str:
    found = read_topic(settings.kafka_bootstrap_servers or "", settings.topic("mdm.customer.v1"))
    for m in found:
        if {"source": "crm", "source_record_id": ref} in m["value"]["source_refs"]:
            golden_id: str = m["value"]["golden_id"]
            return golden_id
    raise AssertionError(f"no event names {ref}")


def test_a_crm_and_a_shop_message_with_one_vat_number_become_one_golden_record_on_the_topic(
    pipeline: tuple[Settings, Engine, WorkerProcess],
) -> None:
    settings = pipeline[0]
    crm = envelope("crm", "E2E-CRM-1", crm_organisation("Novo Handel A/S", vat=("dk_cvr", "13585628")))
    shop = envelope(
        "ecommerce", "E2E-SHOP-1", shop_company("E2E-SHOP-1", "Novo Handel", "DK 13 58 56 28"), minutes=1
    )

    _process(pipeline, "crm", [crm])
    _process(pipeline, "ecommerce", [shop])

    golden_id = _golden_of(settings, "E2E-CRM-1")
    events = _events_of(settings, golden_id)
    assert [(e["event_type"], e["version"]) for e in events] == [
        ("customer.created", 1),
        ("customer.updated", 2),
    ]
    assert {(r["source"], r["source_record_id"]) for r in events[-1]["source_refs"]} == {
        ("crm", "E2E-CRM-1"),
        ("ecommerce", "E2E-SHOP-1"),
    }
    keys = {
        m["key"]
        for m in read_topic(settings.kafka_bootstrap_servers or "", settings.topic("mdm.customer.v1"))
        if m["value"]["golden_id"] == golden_id
    }
    assert keys == {golden_id.encode()}


def test_a_redelivered_message_and_a_stale_update_publish_nothing_new(
    pipeline: tuple[Settings, Engine, WorkerProcess],
) -> None:
    settings, engine, _ = pipeline
    first = envelope("crm", "E2E-CRM-2", crm_organisation("Fjord Shipping ApS"), minutes=10)
    _process(pipeline, "crm", [first])
    golden_id = _golden_of(settings, "E2E-CRM-2")
    counts = outcome_counts(engine)

    stale = envelope("crm", "E2E-CRM-2", crm_organisation("Fjord Old Name ApS"), minutes=1)
    _process(pipeline, "crm", [first, stale])

    after = outcome_counts(engine)
    assert after.get("duplicate", 0) == counts.get("duplicate", 0) + 1
    assert after.get("stale", 0) == counts.get("stale", 0) + 1
    events = _events_of(settings, golden_id)
    assert len(events) == 1
    assert events[0]["customer"]["legal_name"] == "Fjord Shipping ApS"


def test_bad_messages_land_on_the_dead_letter_topic_and_their_neighbours_are_applied(
    pipeline: tuple[Settings, Engine, WorkerProcess],
) -> None:
    settings = pipeline[0]
    bad: list[Callable[[], bytes]] = [
        lambda: b"\xc3\x28 not utf-8",
        lambda: b"not json at all",
        lambda: encode({"source": "crm"}),
        lambda: encode(envelope("ecommerce", "E2E-WRONG", {"account_id": "x"})),
        lambda: encode(envelope("crm", "E2E-BADPAY", {"party_type": "robot"})),
    ]
    documents: list[Any] = [envelope("crm", "E2E-BEFORE", crm_organisation("Before Ltd"))]
    documents += [b() for b in bad]
    documents.append(envelope("crm", "E2E-AFTER", crm_organisation("After Ltd")))

    _process(pipeline, "crm", documents)

    letters = [
        m["value"]
        for m in read_topic(settings.kafka_bootstrap_servers or "", settings.topic("mdm.deadletter.v1"))
    ]
    # Keyless messages spread over partitions, so the dead letters' order across them is not defined.
    assert sorted(letter["error_code"] for letter in letters) == [
        "invalid_envelope",
        "invalid_payload",
        "not_json",
        "not_utf8",
        "wrong_source",
    ]
    assert all(letter["source_topic"] == settings.topic("source.crm.customer.v1") for letter in letters)
    assert _golden_of(settings, "E2E-BEFORE") and _golden_of(settings, "E2E-AFTER")


async def messages_on(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return sum((await true_end_offsets(consumer, await partitions_of(consumer, topic))).values())
    finally:
        await consumer.stop()


def test_metrics_report_the_consumer_lag_of_every_source_partition(
    pipeline: tuple[Settings, Engine, WorkerProcess],
) -> None:
    settings = pipeline[0]
    _process(pipeline, "crm", [envelope("crm", "E2E-LAG", crm_organisation("Lag Trading Ltd"))])
    wait_until(lambda: sum(asyncio.run(consumer_lag(settings)).values()) == 0, timeout=30)

    hub = bootstrap(settings)
    try:
        with TestClient(create_api(hub)) as client:
            body = client.get("/metrics").text
    finally:
        hub.engine.dispose()
    lines = [line for line in body.splitlines() if line.startswith("hub_consumer_lag{")]
    topics = {settings.topic(t) for t in ("source.crm.customer.v1", "source.pos.customer.v1")}
    assert {line.split('topic="')[1].split('"')[0] for line in lines} >= topics
    assert all(line.endswith(" 0") for line in lines), lines

    # a group that never consumed has everything on the topics still to do
    idle = settings.model_copy(update={"consumer_group": "nobody-reads-this"})
    # (Tansu reports a partition's end as the first offset of its last producer batch: the lag can read short)
    on_crm = asyncio.run(
        messages_on(settings.kafka_bootstrap_servers or "", settings.topic("source.crm.customer.v1"))
    )
    idle_lag = asyncio.run(consumer_lag(idle))
    assert 0 < sum(n for (topic, _), n in idle_lag.items() if topic.endswith("crm.customer.v1")) <= on_crm
