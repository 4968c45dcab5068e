"""Publish raw messages to a topic: `hub publish`, the demo feed and the tests all use this."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from hub.settings import Settings
from hub.streams.kafka import create_producer


def key_of(line: bytes) -> bytes | None:
    """Return the Kafka key of an inbound message: its source_record_id, when the line is readable."""
    try:
        document = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    ref = document.get("source_record_id") if isinstance(document, dict) else None
    return ref.encode() if isinstance(ref, str) else None


def read_json_lines(path: Path) -> list[tuple[bytes | None, bytes]]:
    """Read a JSON Lines file into (key, value) pairs; blank lines are skipped, bytes kept as they are."""
    messages = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            messages.append((key_of(line), line))
    return messages


async def publish(settings: Settings, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send messages to a topic in order and wait until the broker acknowledged them all."""
    producer = create_producer(settings)
    try:
        await producer.start()
        futures = [await producer.send(topic, value=value, key=key) for key, value in messages]
        for future in futures:
            await future
        return len(futures)
    finally:
        await producer.stop()
