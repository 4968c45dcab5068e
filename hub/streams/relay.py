"""The outbox relay: publishes committed events to Kafka, in outbox order.

Several processes may run a relay, but only the one holding a PostgreSQL advisory lock publishes,
so the events of one golden id are never published out of order. A row is marked published only
after the broker acknowledged it; a crash in between republishes it (at least once: downstream
drops repeats by event_id, and versions per golden id only go up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from sqlalchemy import Connection, Engine, func, select, text, update

from hub.store.tables import outbox

log = logging.getLogger(__name__)

RELAY_LOCK_ID = 727275
BATCH = 500


class OutboxRelay:
    """Moves outbox rows to Kafka while it holds the relay lock."""

    def __init__(self, engine: Engine, producer: AIOKafkaProducer, *, poll_interval: float = 0.05) -> None:
        self.engine = engine
        self.producer = producer
        self.poll_interval = poll_interval
        self._lock_conn: Connection | None = None
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self.published = 0

    def try_lock(self) -> bool:
        """Take the relay lock if no other relay holds it; return whether this relay holds it."""
        if self._lock_conn is None:
            self._lock_conn = self.engine.connect()
        held = self._lock_conn.execute(
            text("SELECT pg_try_advisory_lock(:id)"), {"id": RELAY_LOCK_ID}
        ).scalar()
        self._lock_conn.commit()
        return bool(held)

    def release(self) -> None:
        """Give up the relay lock."""
        if self._lock_conn is not None:
            try:
                self._lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._lock_conn.commit()
            finally:
                self._lock_conn.close()
                self._lock_conn = None

    def _pending(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(BATCH)
                ).all()
            )

    def _mark_published(self, ids: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(published_at=func.now()))

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; return how many were published.

        Rows are marked published up to the first one the broker has not acknowledged, so a failure
        mid-batch republishes only from there. A row larger than the producer may send can never be
        published: it is logged with its id and passed over, rather than stopping every topic behind it.
        """
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        sent: list[tuple[int, asyncio.Future[Any] | None]] = []
        failure: BaseException | None = None
        for row in rows:
            value = row.value.encode()
            try:
                sent.append((row.id, await self.producer.send(row.topic, value=value, key=row.key)))
            except MessageSizeTooLargeError:
                log.error(
                    "outbox row %d (%s, key %r, %d bytes) is larger than the broker takes: passed over,"
                    " not published",
                    row.id,
                    row.topic,
                    row.key,
                    len(value),
                )
                sent.append((row.id, None))
            except KafkaError as error:  # the producer refused it: publish from here next time
                failure = error
                break
        outcomes = await asyncio.gather(*(f for _, f in sent if f is not None), return_exceptions=True)
        done: list[int] = []
        results = iter(outcomes)
        for row_id, future in sent:
            outcome = None if future is None else next(results)
            if isinstance(outcome, BaseException):
                failure = failure or outcome
                break
            done.append(row_id)
        if done:
            await asyncio.to_thread(self._mark_published, done)
            self.published += len(done)
        if failure is not None:
            raise failure
        return len(done)

    async def run(self) -> None:
        """Publish until stopped; wait for the lock while another relay holds it."""
        try:
            while not self._stopping.is_set():
                if not await asyncio.to_thread(self.try_lock):
                    await self._sleep(1.0)
                    continue
                try:
                    while not self._stopping.is_set():
                        if await self.publish_pending() == 0:
                            await self._sleep(self.poll_interval)
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await asyncio.to_thread(self.release)
                    await self._sleep(1.0)
            # Publish what is committed before exiting, so a graceful stop leaves no backlog behind.
            if self._lock_conn is not None:
                while await self.publish_pending():
                    pass
        finally:
            await asyncio.to_thread(self.release)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout=seconds)
        self._woken.clear()

    def wake(self) -> None:
        """Say that events were committed: poll now instead of at the end of the poll interval.

        A wake-up during a poll is kept, so the relay polls once more and loses nothing.
        """
        self._woken.set()

    def stop(self) -> None:
        """Ask the relay to finish the batch in hand, drain what is committed, and return."""
        self._stopping.set()
        self._woken.set()
