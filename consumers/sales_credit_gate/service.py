"""The running gate: a consumer that keeps the projection current, and the HTTP server, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from typing import Any

import uvicorn
from aiokafka.errors import KafkaError

from consumers.broker import apply_then_commit, group_consumer, wait_or_stop
from consumers.sales_credit_gate.gate import CreditGate
from consumers.sales_credit_gate.http import create_app
from consumers.sales_credit_gate.projection import Fact, Rejected, read_credit_status, read_customer_event
from consumers.sales_credit_gate.settings import GateSettings
from consumers.sales_credit_gate.store import ProjectionStore

log = logging.getLogger("consumers.sales_credit_gate")


class _Server(uvicorn.Server):
    # The service owns SIGINT/SIGTERM: it stops the consumer and the server together.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ProjectionConsumer:
    """Keep the projection in step with the credit-status and customer topics."""

    def __init__(self, settings: GateSettings, store: ProjectionStore) -> None:
        self.settings = settings
        self.store = store

    def read(self, record: Any) -> Fact:
        """Turn one consumed record into what the gate learns from it."""
        if record.topic == self.settings.credit_status_topic:
            fact = read_credit_status(record.value)
        else:
            fact = read_customer_event(record.value)
        if isinstance(fact, Rejected):
            log.warning("rejected %s[%d]@%d: %s", record.topic, record.partition, record.offset, fact.why)
        return fact

    def apply(self, records: list[Any]) -> None:
        """Apply one batch in one SQLite transaction."""
        counted = self.store.apply([self.read(record) for record in records])
        log.info("applied a batch of %d: %s", len(records), counted)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until stopped; while the broker is unreachable, retry and let the HTTP side answer."""
        settings = self.settings
        while not stop.is_set():
            consumer = group_consumer(
                [settings.credit_status_topic, settings.customer_topic],
                bootstrap_servers=settings.bootstrap_servers,
                group_id=settings.group_id,
                session_timeout_ms=settings.session_timeout_ms,
            )
            try:
                await consumer.start()
                log.info("consuming from %s as group %s", settings.bootstrap_servers, settings.group_id)
                await apply_then_commit(consumer, self.apply, stop)
            except KafkaError as error:
                log.warning(
                    "broker %s unreachable (%s); answering from the projection",
                    settings.bootstrap_servers,
                    error,
                )
            finally:
                await consumer.stop()
            await wait_or_stop(stop, settings.retry_seconds)


async def serve(settings: GateSettings, stop: asyncio.Event) -> None:
    """Run the consumer and the HTTP server until `stop` is set (or one of them fails)."""
    store = ProjectionStore(settings.database)
    server = _Server(
        uvicorn.Config(
            create_app(CreditGate(store)),
            host=settings.http_host,
            port=settings.http_port,
            lifespan="off",
            log_config=None,
        )
    )
    consuming = asyncio.create_task(ProjectionConsumer(settings, store).run(stop), name="consumer")
    serving = asyncio.create_task(server.serve(), name="http")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    log.info(
        "sales credit gate on http://%s:%d, state in %s",
        settings.http_host,
        settings.http_port,
        settings.state_dir,
    )
    try:
        await asyncio.wait({consuming, serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.gather(consuming, serving, stopping, return_exceptions=True)
    for task in (consuming, serving):
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
