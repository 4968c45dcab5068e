"""The Faust stream worker: one agent per source topic, each a thin adapter onto the use cases.

Delivery: Faust runs `at_least_once` (the idempotent producer that exactly-once needs is rejected by
Tansu, SPEC 10). An event is acknowledged only after its database transaction committed, and Faust
commits only acknowledged offsets; a crash in between redelivers the message, which then finds its
message id in `processed_message` and is counted a duplicate. So effects are exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from hub.bootstrap import Hub
from hub.service.intake import (
    ApplySourceChange,
    FieldError,
    InboundMessage,
    RecordExposure,
    Rejection,
    read_with_settings,
)
from hub.service.messages import apply_message
from hub.service.rematch import recently_changed, rematch_golden
from hub.service.source_changes import Outcome, dead_letter_message, read_ahead
from hub.settings import Settings
from hub.store.retention import prune
from hub.store.statistics import PlannerStatistics
from hub.store.uow import unit_of_work
from hub.streams.fetching import HubApp
from hub.streams.kafka import create_producer
from hub.streams.relay import OutboxRelay

log = logging.getLogger(__name__)

CUSTOMER_SOURCES = ("crm", "pos", "ecommerce")
#: every inbound topic the worker consumes: the customer sources and AR exposure
INBOUND_SOURCES = (*CUSTOMER_SOURCES, "ar")
PRUNE_INTERVAL_SECONDS = 3600
SWEEP_INTERVAL_SECONDS = 60
SWEEP_LOCK_ID = 727276


@dataclass(frozen=True)
class SweepResult:
    """What one re-match sweep did, and where the next one starts."""

    swept: int
    merged: int
    watermark: datetime


def run_rematch_sweep(hub: Hub, since: datetime) -> SweepResult:
    """Re-match the golden records changed after `since`, each in its own short transaction.

    The next sweep starts at the returned watermark, so each change is re-matched about once: not
    before its transaction committed, and not again by every later sweep. Short transactions keep
    the sweep from holding locks the stream needs; a deadlock with the stream (PostgreSQL aborts
    one side) only leaves that golden record to the stream's next change of it.
    """
    with hub.engine.connect() as held:
        # one sweep at a time however many workers run; a worker that finds one running skips its turn
        if not held.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": SWEEP_LOCK_ID}).scalar():
            return SweepResult(0, 0, since)
        held.commit()  # the lock is the session's: no transaction stays open (and counted by watermarks)
        try:
            with unit_of_work(hub.engine) as uow:
                watermark = uow.change_watermark(longest=timedelta(seconds=5 * SWEEP_INTERVAL_SECONDS))
                work = recently_changed(uow, since)
            merged = 0
            for golden_id in work:
                try:
                    with unit_of_work(hub.engine) as uow:
                        merged += len(rematch_golden(uow, golden_id, hub.context()))
                except DBAPIError:
                    log.warning("re-match of %s failed; the next sweep tries again", golden_id, exc_info=True)
            return SweepResult(len(work), merged, watermark)
        finally:
            held.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": SWEEP_LOCK_ID})
            held.commit()


def process_message(hub: Hub, source: str, message: InboundMessage) -> Outcome:
    """Read one message and apply it, or dead-letter it, in one transaction."""
    return process_batch(hub, source, [message])[0]


def process_batch(hub: Hub, source: str, messages: Sequence[InboundMessage]) -> list[Outcome]:
    """Apply a batch of messages in one transaction, in order.

    One commit per batch instead of per message is where the throughput comes from. The batch is
    first applied whole, its writes riding with the next read (UnitOfWork.deferring). If a message fails
    with anything but a lost database connection or a deadlock, the batch is rolled back and applied
    again with a savepoint per message: the poisonous message alone is rolled back and dead-lettered,
    the rest of the batch goes on.
    """
    try:
        return _apply_batch(hub, source, messages, isolate=False)
    except (OperationalError, InterfaceError):
        raise  # the database is gone or the transaction deadlocked: the whole batch is retried
    except Exception:
        log.warning(
            "a message of a batch of %d failed; applying them one by one", len(messages), exc_info=True
        )
        return _apply_batch(hub, source, messages, isolate=True)


def _apply_batch(
    hub: Hub, source: str, messages: Sequence[InboundMessage], *, isolate: bool
) -> list[Outcome]:
    settings = hub.settings
    ctx = hub.context(datetime.now(UTC))
    outcomes: list[Outcome] = []
    commands = [_read(message, source, ctx.now, settings) for message in messages]
    with unit_of_work(hub.engine) as uow:
        uow.deferring = True
        if not isolate:
            read_ahead(uow, commands)
        for message, command in zip(messages, commands, strict=True):
            if not isolate:
                outcomes.append(apply_message(uow, message, command, source, ctx))
                uow.send_writes()  # PostgreSQL writes this message while the next one is worked out
                continue
            try:
                with uow.savepoint():
                    outcome = apply_message(uow, message, command, source, ctx)
            except (OperationalError, InterfaceError):
                raise
            except Exception as error:
                log.exception(
                    "%s[%d]@%d could not be applied", message.topic, message.partition, message.offset
                )
                outcome = dead_letter_message(uow, message, _poisonous(command, error), source, ctx)
            outcomes.append(outcome)
    return outcomes


def _read(
    message: InboundMessage, source: str, now: datetime, settings: Settings
) -> ApplySourceChange | RecordExposure | Rejection:
    """Read a message; one the reading itself fails on is dead-lettered, never left to stop its topic."""
    try:
        return read_with_settings(message, topic_source=source, now=now, settings=settings)
    except Exception as error:
        log.exception("%s[%d]@%d could not be read", message.topic, message.partition, message.offset)
        return _poisonous(None, error)


def _poisonous(command: object, error: Exception) -> Rejection:
    message_id = getattr(command, "message_id", None)
    return Rejection(
        "invalid_payload",
        f"the hub failed to apply this message ({type(error).__name__}); it was set aside for a steward",
        (FieldError("$", f"{type(error).__name__}: {error}"[:500]),),
        message_id if isinstance(message_id, str) else None,
    )


async def process_with_retry(hub: Hub, source: str, messages: Sequence[InboundMessage]) -> list[Outcome]:
    """Apply a batch, retrying while the database is unreachable: a message is never skipped.

    The batch runs to its end even when the worker is told to stop meanwhile: its offsets are
    acknowledged on the way out, so they must not be acknowledged for work that was not committed.
    """
    delay = 0.2
    while True:
        work = asyncio.ensure_future(asyncio.to_thread(process_batch, hub, source, messages))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            log.info("stopping: finishing the batch in hand (%d messages)", len(messages))
            with contextlib.suppress(Exception):
                await work
            log.info("stopping: batch in hand committed")
            raise
        except DBAPIError as error:
            first = messages[0]
            log.warning(
                "database error on %s[%d]@%d (+%d), retrying in %.1fs: %s",
                first.topic,
                first.partition,
                first.offset,
                len(messages) - 1,
                delay,
                error.orig,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def create_app(hub: Hub) -> faust.App:
    """Build the Faust app: the agents of the three customer topics and the outbox relay."""
    settings = hub.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust keeps its state below it
    app = HubApp(
        settings.consumer_group,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
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
        # On shutdown do not wait for buffered events to be acknowledged: a batch not yet taken is
        # simply redelivered; the batch in hand finishes (process_with_retry) and is committed.
        stream_wait_empty=False,
        producer_acks=-1,
    )
    if settings.kafka_security_protocol != "PLAINTEXT":
        app.conf.broker_credentials = _credentials(hub)

    relay_holder: dict[str, OutboxRelay] = {}

    def wake_relay() -> None:
        if "relay" in relay_holder:
            relay_holder["relay"].wake()

    growth = PlannerStatistics(hub.engine, settings.batch_size)
    for source in INBOUND_SOURCES:
        topic = app.topic(settings.source_topics[source], key_type=bytes, value_type=bytes)
        app.agent(topic, name=f"apply-{source}-changes")(_agent(hub, source, wake_relay, growth))

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
        # the first sweep also covers what a previous worker changed shortly before it stopped
        since = datetime.now(UTC) - timedelta(seconds=3 * SWEEP_INTERVAL_SECONDS)
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            result = await asyncio.to_thread(run_rematch_sweep, hub, since)
            since = result.watermark
            if result.merged:
                log.info("re-match sweep: %d changed, %d merged", result.swept, result.merged)

    app.task(sweep_for_duplicates)
    app.task(run_outbox_relay)
    app.task(prune_old_rows)
    app.on_before_shutdown.connect(stop_relay)  # type: ignore[arg-type]

    return app


def _agent(hub: Hub, source: str, committed: Callable[[], None], growth: PlannerStatistics) -> Any:
    size = hub.settings.batch_size
    wait = hub.settings.batch_wait_ms / 1000

    async def apply_changes(stream: faust.StreamT[bytes]) -> AsyncIterator[list[Outcome]]:
        # A batch's events are acknowledged (their offsets become committable) when the next batch is
        # asked for, which is after its transaction committed.
        batches = stream.take_events(size, within=wait)  # type: ignore[attr-defined]
        async for events in batches:
            messages = [
                InboundMessage(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.key,
                    value=e.value,
                )
                for e in events
            ]
            outcomes = await process_with_retry(hub, source, messages)
            committed()  # the batch's events are in the outbox: the relay publishes them now
            if applied := outcomes.count("applied"):
                await asyncio.to_thread(growth.applied, applied)
            log.debug("%s: %d messages applied", source, len(messages))
            yield outcomes

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
    """Run the stream worker and relay until SIGINT or SIGTERM.

    On SIGTERM the worker stops consuming, finishes the batch in hand, commits its offsets, lets the
    relay publish what is committed, and exits 0; if that takes longer than the grace period
    (HUB_SHUTDOWN_GRACE_SECONDS) it exits 1 anyway, and the next start redelivers what was not
    committed (each message is still applied once).
    """
    app = create_app(hub)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    grace = hub.settings.shutdown_grace_seconds

    async def start_watchdog(sender: Any, *args: Any, **kwargs: Any) -> None:
        timer = threading.Timer(grace, _give_up, args=(grace,))
        timer.daemon = True
        timer.start()

    app.on_before_shutdown.connect(start_watchdog)  # type: ignore[arg-type]
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        code = exit_.code
    else:
        code = 0
    # The agents finished their last batches after the relay task stopped: publish those events too.
    try:
        published = asyncio.run(drain_outbox(hub))
        log.info("outbox drained on the way out: %d events published", published)
    except Exception:
        log.exception("could not drain the outbox on the way out; the next relay publishes it")
    raise SystemExit(code)


async def drain_outbox(hub: Hub) -> int:
    """Publish every committed outbox event now, unless another relay holds the lock (it will)."""
    producer = create_producer(hub.settings)
    await producer.start()
    relay = OutboxRelay(hub.engine, producer)
    try:
        if not await asyncio.to_thread(relay.try_lock):
            return 0
        while await relay.publish_pending():
            pass
        return relay.published
    finally:
        await asyncio.to_thread(relay.release)
        await producer.stop()


def _give_up(grace: float) -> None:
    log.error("shutdown took longer than %.0fs; exiting, uncommitted messages will be redelivered", grace)
    os._exit(1)
