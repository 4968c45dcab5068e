"""AR sync at work: the customer-table consumer, the exposure publisher, and the posting commands."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from consumers.ar_sync.customers import read_customer_event
from consumers.ar_sync.ledger import parse_amount, parse_currency
from consumers.ar_sync.settings import ArSettings
from consumers.ar_sync.store import ArStore, Posted
from consumers.broker import apply_then_commit, group_consumer, plain_producer, wait_or_stop

log = logging.getLogger("consumers.ar_sync")


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


async def publish_pending(store: ArStore, producer: AIOKafkaProducer, topic: str) -> int:
    """Publish the queued exposure messages in order; mark them published once the broker acknowledged them.

    A crash after the send and before the mark publishes a message twice, with the same message_id, which
    the hub recognises as a duplicate (SPEC 4).
    """
    pending = store.claim_pending_exposures(utc_now())
    if not pending:
        return 0
    try:
        futures = [
            await producer.send(topic, value=item.message, key=item.account_id.encode()) for item in pending
        ]
        for future in futures:
            await future
    except BaseException:
        store.release([item.id for item in pending])
        raise
    store.mark_published([item.id for item in pending], utc_now())
    return len(pending)


class CustomerSync:
    """Keep the AR customer table in step with `mdm.customer.v1`, and publish the exposure it queues."""

    def __init__(self, settings: ArSettings, store: ArStore) -> None:
        self.settings = settings
        self.store = store

    def apply(self, records: list[Any]) -> None:
        """Apply one batch of customer events in one SQLite transaction."""
        events = [read_customer_event(record.value) for record in records]
        for record, event in zip(records, events, strict=True):
            if isinstance(event, str):
                log.warning("rejected %s[%d]@%d: %s", record.topic, record.partition, record.offset, event)
        counted = self.store.apply_customer_events(events, utc_now())
        log.info("applied a batch of %d customer events: %s", len(records), counted)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and publish until stopped; retry while the broker is unreachable."""
        settings = self.settings
        while not stop.is_set():
            producer = plain_producer(settings.bootstrap_servers)
            consumer = group_consumer(
                [settings.customer_topic],
                bootstrap_servers=settings.bootstrap_servers,
                group_id=settings.group_id,
                session_timeout_ms=settings.session_timeout_ms,
            )
            try:
                await self._sync(consumer, producer, stop)
            except KafkaError as error:
                log.warning("broker %s unreachable (%s); retrying", settings.bootstrap_servers, error)
            finally:
                await consumer.stop()
                await producer.stop()
            await wait_or_stop(stop, settings.retry_seconds)

    async def _sync(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        async def publish() -> None:
            published = await publish_pending(self.store, producer, self.settings.exposure_topic)
            if published:
                log.info("published %d exposure messages", published)

        await producer.start()
        await consumer.start()
        log.info(
            "syncing customers from %s as group %s", self.settings.bootstrap_servers, self.settings.group_id
        )
        # Exposure queued while the broker was away (or by a retirement just before a crash) goes out first.
        await publish()
        await apply_then_commit(consumer, self.apply, stop, after_batch=publish)


@dataclass(frozen=True)
class PostingOutcome:
    """What a posting command did: the booking, and whether its exposure reached the broker yet."""

    posted: Posted
    published: bool


def post_invoice(
    settings: ArSettings,
    *,
    account: str,
    amount: str,
    currency: str,
    golden_id: str | None = None,
    due_date: date | None = None,
    reference: str | None = None,
    now: datetime | None = None,
) -> PostingOutcome:
    """Book an invoice on an AR account and publish the account's new exposure.

    Raises LedgerError (with a `code`) for a posting the ledger refuses.
    """
    store = ArStore(settings.database)
    posted = store.post_invoice(
        account.strip(),
        None if golden_id is None else golden_id.strip(),
        parse_amount(amount),
        parse_currency(currency),
        now or utc_now(),
        due_date=due_date,
        reference=reference,
    )
    return PostingOutcome(posted, _publish_now(settings, store))


def post_payment(
    settings: ArSettings,
    *,
    account: str,
    amount: str,
    currency: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> PostingOutcome:
    """Book a payment on an AR account and publish the account's new exposure.

    Raises LedgerError (with a `code`) for a posting the ledger refuses.
    """
    store = ArStore(settings.database)
    posted = store.post_payment(
        account.strip(), parse_amount(amount), parse_currency(currency), now or utc_now(), reference=reference
    )
    return PostingOutcome(posted, _publish_now(settings, store))


def _publish_now(settings: ArSettings, store: ArStore) -> bool:
    # The posting is already committed with its exposure queued; a broker that is down only delays it.
    async def publish() -> None:
        producer = plain_producer(settings.bootstrap_servers)
        try:
            await producer.start()
            await publish_pending(store, producer, settings.exposure_topic)
        finally:
            await producer.stop()

    try:
        asyncio.run(publish())
    except KafkaError as error:
        log.warning("exposure queued, not yet published (%s)", error)
        return False
    return True


def amount_text(value: Decimal) -> str:
    """Format money for people and machines alike: a plain decimal string."""
    return format(value, "f")
