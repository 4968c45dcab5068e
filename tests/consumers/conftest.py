"""A real broker with topics of the test's own (a unique prefix), and helpers to run a consumer process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hub.settings import Settings
from hub.streams.kafka import ensure_topics
from hub.streams.publish import publish
from tests.running import partitions_of


@dataclass
class Broker:
    """The session's broker, seen through one test's topic prefix."""

    bootstrap: str
    prefix: str

    @property
    def settings(self) -> Settings:
        return Settings(kafka_bootstrap_servers=self.bootstrap, topic_prefix=self.prefix, topic_partitions=3)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def publish(self, name: str, documents: list[dict[str, Any]]) -> None:
        """Publish JSON documents in order, keyed like the hub keys them: by golden id or source record id."""
        messages = [
            ((doc.get("golden_id") or doc["source_record_id"]).encode(), json.dumps(doc).encode())
            for doc in documents
        ]
        asyncio.run(publish(self.settings, self.topic(name), messages))

    def read(self, name: str, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Read a topic from the beginning until it yielded `expected` messages (and then a little longer).

        Not until the end offsets: this Tansu reports the base offset of a partition's last producer batch
        plus one as its end, which is short of the real end when that batch holds several messages.
        """

        async def read() -> list[dict[str, Any]]:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await consumer.start()
            try:
                partitions = await partitions_of(consumer, self.topic(name))
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
                found: list[dict[str, Any]] = []
                deadline = time.monotonic() + timeout
                settle_until = None
                while time.monotonic() < (settle_until or deadline):
                    batch = await consumer.getmany(timeout_ms=100)
                    for tp, records in batch.items():
                        found.extend(
                            {
                                "key": r.key,
                                "partition": tp.partition,
                                "offset": r.offset,
                                "value": json.loads(r.value),
                            }
                            for r in records
                        )
                    if settle_until is None and len(found) >= expected:
                        settle_until = time.monotonic() + 0.3  # time for a surplus message to show up
                return sorted(found, key=lambda m: (m["partition"], m["offset"]))
            finally:
                await consumer.stop()

        return asyncio.run(read())

    def committed_everything(self, group: str, name: str, expected: int) -> bool:
        """Tell whether a group committed, on each partition of a topic, the offset after its last message."""
        ends: dict[int, int] = {}
        for message in self.read(name, expected):
            ends[message["partition"]] = max(ends.get(message["partition"], 0), message["offset"] + 1)

        async def committed() -> dict[int, int]:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                partitions = [TopicPartition(self.topic(name), p) for p in ends]
                offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
                return {tp.partition: meta.offset for tp, meta in offsets.items()}
            finally:
                await admin.close()

        done = asyncio.run(committed())
        return all(done.get(partition, -1) >= end for partition, end in ends.items())


@pytest.fixture
def broker(kafka_bootstrap: str) -> Broker:
    """Create this test's topics (compacted where the hub compacts them) on the session's broker."""
    created = Broker(kafka_bootstrap, f"c{uuid.uuid4().hex[:8]}.")
    asyncio.run(ensure_topics(created.settings))
    return created


@dataclass
class ConsumerProcess:
    """A reference consumer run as its own process, as an operator would run it."""

    module: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args, *extra],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def consumer_process(tmp_path: Path) -> Iterator[Callable[..., ConsumerProcess]]:
    """Return a factory of consumer processes; every one still running is stopped after the test."""
    started: list[ConsumerProcess] = []

    def make(module: str, args: list[str], env: dict[str, str]) -> ConsumerProcess:
        log_path = tmp_path / f"{module.rsplit('.', 1)[-1]}-{len(started)}.log"
        made = ConsumerProcess(module, args, env, log_path)
        started.append(made)
        return made

    yield make
    for made in started:
        if made.process is not None and made.process.poll() is None:
            made.stop()
