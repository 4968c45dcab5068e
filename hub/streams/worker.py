"""The Faust stream worker: one agent per source topic, each a thin adapter onto the use cases.

Delivery: Faust runs `at_least_once` (the idempotent producer that exactly-once needs is rejected by
Tansu, SPEC 10). An event is acknowledged only after its database transaction committed, and Faust
commits only acknowledged offsets; a crash in between redelivers the message, which then finds its
message id in `processed_message` and is counted a duplicate. So effects are exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from sqlalchemy.exc import DBAPIError

from hub.bootstrap import Hub
from hub.service.intake import InboundMessage, read_message
from hub.service.messages import apply_message
from hub.service.rematch import recently_changed, rematch_golden
from hub.service.source_changes import Outcome
from hub.store.retention import prune
from hub.store.uow import unit_of_work
from hub.streams.kafka import create_producer
from hub.streams.relay import OutboxRelay

log = logging.getLogger(__name__)

CUSTOMER_SOURCES = ("crm", "pos", "ecommerce")
#: every inbound topic the worker consumes: the customer sources and AR exposure
INBOUND_SOURCES = (*CUSTOMER_SOURCES, "ar")
PRUNE_INTERVAL_SECONDS = 3600
SWEEP_INTERVAL_SECONDS = 60


def run_rematch_sweep(hub: Hub, window: timedelta) -> int:
    """Re-match the golden records changed within the window, each in its own short transaction.

    Short transactions keep the sweep from holding locks the stream needs; a deadlock with the
    stream (PostgreSQL aborts one side) only postpones that golden record to the next sweep.
    """
    with unit_of_work(hub.engine) as uow:
        work = recently_changed(uow, window)
    merged = 0
    for golden_id in work:
        try:
            with unit_of_work(hub.engine) as uow:
                merged += len(rematch_golden(uow, golden_id, hub.context()))
        except DBAPIError:
            log.warning("re-match of %s failed; the next sweep tries again", golden_id, exc_info=True)
    return merged


def process_message(hub: Hub, source: str, message: InboundMessage) -> Outcome:
    """Read one message and apply it, or dead-letter it, in one transaction."""
    settings = hub.settings
    ctx = hub.context(datetime.now(UTC))
    command = read_message(
        message,
        topic_source=source,
        now=ctx.now,
        max_clock_skew=settings.max_clock_skew,
        max_message_bytes=settings.max_message_bytes,
    )
    with unit_of_work(hub.engine) as uow:
        return apply_message(uow, message, command, source, ctx)


async def process_with_retry(hub: Hub, source: str, message: InboundMessage) -> Outcome:
    """Apply a message, retrying while the database is unreachable: a message is never skipped."""
    delay = 0.2
    while True:
        try:
            return await asyncio.to_thread(process_message, hub, source, message)
        except DBAPIError as error:
            log.warning(
                "database error on %s[%d]@%d, retrying in %.1fs: %s",
                message.topic,
                message.partition,
                message.offset,
                delay,
                error.orig,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def create_app(hub: Hub) -> faust.App:
    """Build the Faust app: the agents of the three customer topics and the outbox relay."""
    settings = hub.settings
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=None,
        value_serializer="raw",
        key_serializer="raw",
        processing_guarantee="at_least_once",
        web_enabled=False,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.broker_session_timeout / 3),
        broker_commit_interval=0.5,
        producer_acks=-1,
    )
    if settings.kafka_security_protocol != "PLAINTEXT":
        app.conf.broker_credentials = _credentials(hub)

    for source in INBOUND_SOURCES:
        topic = app.topic(settings.source_topics[source], key_type=bytes, value_type=bytes)
        app.agent(topic, name=f"apply-{source}-changes")(_agent(hub, source))

    relay_holder: dict[str, OutboxRelay] = {}

    async def run_outbox_relay() -> None:
        producer = create_producer(settings)
        await producer.start()
        relay = OutboxRelay(hub.engine, producer, poll_interval=settings.relay_poll_interval)
        relay_holder["relay"] = relay
        try:
            await relay.run()
        finally:
            await producer.stop()

    async def stop_relay(sender: Any, *args: Any, **kwargs: Any) -> None:
        if "relay" in relay_holder:
            relay_holder["relay"].stop()

    async def prune_old_rows() -> None:
        while True:
            pruned = await asyncio.to_thread(
                prune,
                hub.engine,
                processed_retention_days=settings.processed_retention_days,
                outbox_retention_days=settings.outbox_retention_days,
            )
            log.info("retention: pruned %s", pruned)
            await asyncio.sleep(PRUNE_INTERVAL_SECONDS)

    async def sweep_for_duplicates() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            merged = await asyncio.to_thread(
                run_rematch_sweep, hub, timedelta(seconds=3 * SWEEP_INTERVAL_SECONDS)
            )
            if merged:
                log.info("re-match sweep merged %d golden records", merged)

    app.task(sweep_for_duplicates)
    app.task(run_outbox_relay)
    app.task(prune_old_rows)
    app.on_before_shutdown.connect(stop_relay)  # type: ignore[arg-type]

    return app


def _agent(hub: Hub, source: str) -> Any:
    async def apply_changes(stream: faust.StreamT[bytes]) -> AsyncIterator[Outcome]:
        async for event in stream.events():
            message = InboundMessage(
                topic=event.message.topic,
                partition=event.message.partition,
                offset=event.message.offset,
                key=event.key,
                value=event.value,
            )
            # The event is acknowledged (its offset becomes committable) only when this returns.
            outcome = await process_with_retry(hub, source, message)
            log.debug("%s[%d]@%d: %s", message.topic, message.partition, message.offset, outcome)
            yield outcome

    apply_changes.__name__ = f"apply_{source}_changes"
    return apply_changes


def _credentials(hub: Hub) -> Any:
    settings = hub.settings
    import ssl

    context = (
        ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_security_protocol in ("SSL", "SASL_SSL")
        else None
    )
    if settings.kafka_sasl_mechanism:
        if settings.kafka_sasl_mechanism.startswith("SCRAM"):
            return faust.SASLCredentials(
                username=settings.kafka_sasl_username,
                password=settings.kafka_sasl_password,
                mechanism=settings.kafka_sasl_mechanism,
                ssl_context=context,
            )
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username, password=settings.kafka_sasl_password, ssl_context=context
        )
    return faust.SSLCredentials(context)


def run_worker(hub: Hub, *, loglevel: str = "INFO") -> None:
    """Run the stream worker and relay until SIGINT or SIGTERM."""
    app = create_app(hub)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
