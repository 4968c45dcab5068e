"""Publish the demo feed to the running hub and wait until every message reached an outcome."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from hub.demo import demo_feed
from hub.runtime.supervisor import figures_now, total_outcomes
from hub.settings import Settings
from hub.store.metrics import HubFigures
from hub.streams.publish import publish


def run_demo(settings: Settings, timeout: float = 180.0) -> tuple[HubFigures, HubFigures]:
    """Publish the feed; return the hub's figures before and after it was processed."""
    feed = demo_feed()
    before = figures_now(settings)
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for message in feed:
        by_topic[settings.source_topics[message.source]].append((message.key, message.value))
    print(f"  demo       publishing {len(feed)} synthetic messages from crm, pos and ecommerce ...")

    async def send_all() -> None:
        for topic, messages in by_topic.items():
            await publish(settings, topic, messages)

    asyncio.run(send_all())
    deadline = time.monotonic() + timeout
    after = figures_now(settings)
    while total_outcomes(after) - total_outcomes(before) < len(feed) or after.outbox_backlog:
        if time.monotonic() > deadline:
            print("  demo       not every message was processed in time; see the worker log")
            break
        time.sleep(0.5)
        after = figures_now(settings)
    return before, after
