"""The `hub` command line: run, worker, api, migrate, publish, republish."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.bootstrap import Hub, bootstrap, resolve_settings
from hub.settings import SOURCE_TOPICS, Settings


def _hub(settings: Settings) -> Hub:
    """Wire the hub for a single-part command, starting the embedded PostgreSQL when no URL is set."""
    if settings.database_url is None:
        from hub.runtime.embedded import EmbeddedPostgres

        url = EmbeddedPostgres(settings.data_dir.resolve() / "postgres").start()
        settings = settings.model_copy(update={"database_url": url})
    return bootstrap(settings)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Start everything on one machine."""
    from hub.runtime.supervisor import run

    return run(settings, demo=args.demo)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the stream worker and the outbox relay."""
    from hub.store.migrate import upgrade
    from hub.streams.kafka import ensure_topics
    from hub.streams.worker import run_worker

    settings = resolve_settings(settings)
    hub = _hub(settings)
    upgrade(hub.engine)
    asyncio.run(ensure_topics(settings))
    run_worker(hub, loglevel=settings.log_level)
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the HTTP API."""
    import uvicorn

    from hub.api.app import create_api

    settings = resolve_settings(settings)
    hub = _hub(settings)
    uvicorn.run(create_api(hub), host=settings.api_host, port=settings.api_port, log_level="warning")
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the database migrations."""
    from hub.store.migrate import upgrade

    hub = _hub(resolve_settings(settings))
    upgrade(hub.engine)
    print("database schema is up to date")
    return 0


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    """Publish a JSON Lines file to a topic, one message a line, keyed by source_record_id."""
    from hub.streams.publish import publish, read_json_lines

    settings = resolve_settings(settings)
    if settings.kafka_bootstrap_servers is None:
        print("no broker: start `hub run` first, or set HUB_KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    topic = SOURCE_TOPICS.get(args.topic, args.topic)
    topic = settings.topic(topic) if not topic.startswith(settings.topic_prefix) else topic
    messages = read_json_lines(Path(args.file)) if args.file != "-" else _stdin_lines()
    sent = asyncio.run(publish(settings, topic, messages))
    print(f"published {sent} messages to {topic}")
    return 0


def _stdin_lines() -> list[tuple[bytes | None, bytes]]:
    from hub.streams.publish import key_of

    return [(key_of(line), line) for line in sys.stdin.buffer.read().splitlines() if line.strip()]


def cmd_republish(settings: Settings, args: argparse.Namespace) -> int:
    """Queue the latest snapshot of every golden record, and publish it unless a relay is running."""
    from hub.service.republish import republish_golden_records
    from hub.store.uow import unit_of_work
    from hub.streams.kafka import create_producer
    from hub.streams.relay import OutboxRelay

    settings = resolve_settings(settings)
    hub = _hub(settings)
    with unit_of_work(hub.engine) as uow:
        queued = republish_golden_records(uow, hub.context())
    print(f"queued {queued} golden records")

    async def drain() -> int | None:
        producer = create_producer(settings)
        await producer.start()
        relay = OutboxRelay(hub.engine, producer)
        try:
            if not await asyncio.to_thread(relay.try_lock):
                return None
            total = 0
            while sent := await relay.publish_pending():
                total += sent
            return total
        finally:
            await asyncio.to_thread(relay.release)
            await producer.stop()

    if settings.kafka_bootstrap_servers is not None:
        published = asyncio.run(drain())
        if published is None:
            print("a running relay holds the outbox lock; it publishes them")
        else:
            print(f"published {published} events")
    return 0


def cmd_bench_accuracy(settings: Settings, args: argparse.Namespace) -> int:
    """Stream FEBRL data sets through the pipeline on a temporary database and print their accuracy."""
    from hub.bench.accuracy import DATASETS, bench_accuracy, render

    datasets = list(DATASETS) if "all" in args.dataset else args.dataset
    print(render(bench_accuracy(datasets, settings)))
    return 0


def cmd_bench_estimate(settings: Settings, args: argparse.Namespace) -> int:
    """Estimate m and u per comparison level from labelled FEBRL tuning data."""
    from hub.bench.estimate import estimate, render

    print(render(estimate(args.dataset)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="hub", description="Customer master hub: golden customer records.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="everything on one machine (embedded servers where no URLs are set)")
    run.add_argument("--demo", action="store_true", help="also publish the synthetic demo feed")
    run.set_defaults(func=cmd_run)
    sub.add_parser("worker", help="the stream worker and outbox relay").set_defaults(func=cmd_worker)
    sub.add_parser("api", help="the HTTP API").set_defaults(func=cmd_api)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    publish = sub.add_parser("publish", help="publish a JSON Lines file to a topic")
    publish.add_argument("file", help="JSON Lines file, one message a line ('-' for standard input)")
    publish.add_argument(
        "--topic", required=True, help="topic name, or a source name (crm, pos, ecommerce, ar) for its topic"
    )
    publish.set_defaults(func=cmd_publish)
    sub.add_parser("republish", help="publish every golden record's latest snapshot again").set_defaults(
        func=cmd_republish
    )
    bench = sub.add_parser("bench", help="benchmarks (on temporary embedded servers)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    accuracy = bench_sub.add_parser("accuracy", help="match accuracy on the FEBRL data sets")
    accuracy.add_argument(
        "--dataset",
        action="append",
        choices=["febrl1", "febrl2", "febrl3", "febrl4", "all"],
        required=True,
        help="repeatable; 'all' for the four",
    )
    accuracy.set_defaults(func=cmd_bench_accuracy)
    estimate = bench_sub.add_parser("estimate", help="estimate m and u from labelled FEBRL tuning data")
    estimate.add_argument("--dataset", action="append", choices=["febrl1", "febrl2"], required=True)
    estimate.set_defaults(func=cmd_bench_estimate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hub` console script."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    # `hub run` prints its own one-screen summary; its children log at HUB_LOG_LEVEL into HUB_DATA_DIR/logs.
    level = "WARNING" if args.command == "run" else settings.log_level
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    code: int = args.func(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
