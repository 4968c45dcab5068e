"""A Faust transport whose consumer does not hold an empty fetch for 1.5 s.

Faust hard-codes `fetch_max_wait_ms=1500` for its workers' aiokafka consumer, and Tansu holds an
empty fetch that long, so a message arriving on a quiet partition waits up to 1.5 s before the
worker sees it (measured: p99 753 ms against 14 ms with a 10 ms wait, BENCHMARKS.md). The wait is
the latency floor of the whole hub, so it is a setting: `HUB_CONSUMER_FETCH_MAX_WAIT_MS`.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT


def transport_with_fetch_wait(fetch_max_wait_ms: int) -> type[faust_aiokafka.Transport]:
    """Return Faust's aiokafka transport with the worker consumer's fetch wait set."""

    class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            # read once, when the consumer starts and builds its fetcher
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_aiokafka.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport


class HubApp(faust.App):
    """A Faust app whose workers' consumer waits at most `fetch_max_wait_ms` for an empty fetch."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self._transport_class = transport_with_fetch_wait(fetch_max_wait_ms)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return self._transport_class(self.conf.broker_consumer, self)
