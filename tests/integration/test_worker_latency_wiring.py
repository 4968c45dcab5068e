"""What keeps an event's way through the hub short: the consumer's fetch wait and the relay's wake-up."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hub.bootstrap import Hub
from hub.store.uow import unit_of_work
from hub.streams.kafka import create_producer
from hub.streams.relay import OutboxRelay
from hub.streams.worker import create_app
from tests.running import read_topic

pytestmark = pytest.mark.integration


def test_the_workers_consumer_waits_on_an_empty_fetch_only_as_long_as_the_setting_says(hub: Hub) -> None:
    hub.settings.consumer_fetch_max_wait_ms = 37
    app = create_app(hub)

    async def build() -> int:
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(build()) == 37  # Faust's own driver hard-codes 1500


def test_a_woken_relay_publishes_committed_events_without_waiting_out_its_poll_interval(
    hub: Hub, kafka_bootstrap: str
) -> None:
    hub.settings.kafka_bootstrap_servers = kafka_bootstrap
    topic = f"relay-wake-{uuid.uuid4().hex[:8]}"

    def queue(number: int) -> None:
        with unit_of_work(hub.engine) as uow:
            uow.add_outbox(topic, b"k", {"number": number})

    async def run() -> int:
        producer = create_producer(hub.settings)
        await producer.start()
        relay = OutboxRelay(hub.engine, producer, poll_interval=3600)
        task = asyncio.create_task(relay.run())
        try:
            queue(1)
            relay.wake()
            await asyncio.wait_for(_published(relay, 1), timeout=30)
            # the relay now sleeps for an hour unless it is woken
            queue(2)
            relay.wake()
            await asyncio.wait_for(_published(relay, 2), timeout=30)
            return relay.published
        finally:
            relay.stop()
            await task
            await producer.stop()

    assert asyncio.run(run()) == 2
    assert [m["value"]["number"] for m in read_topic(kafka_bootstrap, topic)] == [1, 2]


async def _published(relay: OutboxRelay, count: int) -> None:
    while relay.published < count:
        await asyncio.sleep(0.01)


def test_an_event_larger_than_the_broker_takes_is_passed_over_and_the_events_around_it_are_published_once(
    hub: Hub, kafka_bootstrap: str
) -> None:
    hub.settings.kafka_bootstrap_servers = kafka_bootstrap
    topic = f"relay-size-{uuid.uuid4().hex[:8]}"
    with unit_of_work(hub.engine) as uow:
        uow.add_outbox(topic, b"k", {"number": 1})
        uow.add_outbox(topic, b"k", {"number": 2, "text": "x" * 2_000_000})  # over the producer's 1 MiB
        uow.add_outbox(topic, b"k", {"number": 3})

    async def run() -> tuple[int, int]:
        producer = create_producer(hub.settings)
        await producer.start()
        relay = OutboxRelay(hub.engine, producer)
        try:
            first = await relay.publish_pending()
            return first, await relay.publish_pending()
        finally:
            await producer.stop()

    assert asyncio.run(run()) == (3, 0)  # nothing left behind, nothing sent twice
    assert [m["value"]["number"] for m in read_topic(kafka_bootstrap, topic)] == [1, 3]
