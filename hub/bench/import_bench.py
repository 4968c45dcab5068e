"""`hub bench import`: the rate of `hub import` on a file of N realistic CRM records.

The file is written from `hub.bench.synthetic` customers (organisations with valid tax ids, contacts and
credit terms; persons with dates of birth and personal ids) in the CSV convention of `hub.importing`, or as
JSON Lines. To look like a real first load it also holds, every `DUPLICATE_EVERY` records, the same customer
a second time under another CRM id (the hub links it to the first: a match, a second source reference and
a new version), and every `INVALID_EVERY` records a row that breaks the contract (a credit limit written
`1,000.00`), which goes to the rejects file.

The import runs in this process through `hub.service.bulk_import.import_file`, exactly as `hub import`
does, on a temporary embedded PostgreSQL, or on HUB_DATABASE_URL when it is set and holds no golden
records yet (SPEC 2: a benchmark never writes into a live hub). Besides records/s it reports how the CPU
time splits between this process (intake: pydantic, python-stdnum, phonenumbers; SQLAlchemy and psycopg)
and the PostgreSQL server, and with `--profile` the functions that take the time.
"""

from __future__ import annotations

import cProfile
import csv
import io
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub.bench.synthetic import synthetic_customer
from hub.bootstrap import bootstrap, create_db_engine
from hub.importing import ENVELOPE_COLUMNS, flatten
from hub.runtime.embedded import EmbeddedPostgres
from hub.service.bulk_import import ImportReport, import_file
from hub.settings import Settings
from hub.store.migrate import upgrade

#: Records/s the import should reach on the reference machine (2 cores, embedded PostgreSQL).
TARGET_RECORDS_PER_SECOND = 5000.0
DUPLICATE_EVERY = 50
INVALID_EVERY = 500


class BenchmarkRefused(RuntimeError):
    """The benchmark will not run where it was pointed (a database that already holds customers)."""


@dataclass
class ImportBenchReport:
    """What the benchmark measured."""

    records: int
    batch_size: int
    file_format: str
    file_bytes: int
    generate_seconds: float
    database: str
    import_report: ImportReport
    golden_records: int
    importer_cpu_seconds: float
    database_cpu_seconds: float | None
    profile_top: list[str] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        """Return the import rate."""
        return self.import_report.rows_per_second

    @property
    def meets_target(self) -> bool:
        """Tell whether the rate reaches the target."""
        return self.records_per_second >= TARGET_RECORDS_PER_SECOND


# -- the file -------------------------------------------------------------------------------------------


def bench_rows(records: int, seed: int) -> Iterator[dict[str, Any]]:
    """Yield the envelopes of the benchmark file: customers, some twice, some broken."""
    for index in range(records):
        customer = synthetic_customer(index, seed)
        message: dict[str, Any] = customer.crm_message()
        message.pop("message_id")  # the import gives each row its stable id, as for most real exports
        if index % INVALID_EVERY == INVALID_EVERY - 1:
            message["payload"]["credit"] = {"limit": "1,000.00", "currency": "USD"}
        elif index % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 and index > DUPLICATE_EVERY:
            # The same customer as an earlier record, keyed twice in the CRM.
            twin = synthetic_customer(index - DUPLICATE_EVERY // 2, seed)
            message = twin.crm_message()
            message.pop("message_id")
            message["source_record_id"] = f"{twin.source_record_id}-DUP"
        yield message


#: The payload columns of the CSV, in order: every field the synthetic CRM payloads use.
CSV_PAYLOAD_COLUMNS = (
    "party_type",
    "status",
    "customer_type",
    "legal_name",
    "trading_name",
    "legal_form",
    "first_name",
    "last_name",
    "date_of_birth",
    "tax_ids.0.scheme",
    "tax_ids.0.value",
    "emails.0",
    "phones.0",
    "addresses.0.kind",
    "addresses.0.line1",
    "addresses.0.line2",
    "addresses.0.city",
    "addresses.0.state",
    "addresses.0.postal_code",
    "addresses.0.country",
    "contacts.0.name",
    "contacts.0.title",
    "contacts.0.email",
    "contacts.0.phone",
    "contacts.0.primary",
    "credit.limit",
    "credit.currency",
    "credit.check_limit",
    "credit.payment_terms",
    "credit.rating",
    "correspondence_mode",
    "language",
)


def write_bench_file(path: Path, records: int, seed: int, file_format: str) -> None:
    """Write the benchmark file in CSV (flattened payloads) or JSON Lines."""
    envelope = [c for c in ENVELOPE_COLUMNS if c not in ("message_id", "source")]
    header = [*envelope, *CSV_PAYLOAD_COLUMNS]
    known = set(header)
    with path.open("w", newline="", encoding="utf-8") as handle:
        if file_format == "jsonl":
            for message in bench_rows(records, seed):
                handle.write(json.dumps(message, ensure_ascii=False) + "\n")
            return
        writer = csv.writer(handle)
        writer.writerow(header)
        for message in bench_rows(records, seed):
            cells = flatten(message["payload"])
            cells.update({c: message[c] for c in envelope})
            unknown = set(cells) - known
            if unknown:
                raise ValueError(f"the synthetic payload has fields the bench CSV lacks: {sorted(unknown)}")
            writer.writerow([cells.get(c, "") for c in header])


# -- the database -----------------------------------------------------------------------------------------


def _refuse_unless_empty(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT golden_id FROM golden_record WHERE golden_id <> 'CASH' LIMIT 1")
            ).first()
    finally:
        engine.dispose()
    if found is not None:
        raise BenchmarkRefused(
            "the database at HUB_DATABASE_URL already holds golden records; the benchmark imports synthetic "
            "customers, so point it at an empty database (or unset HUB_DATABASE_URL for a temporary one)"
        )


def _process_cpu_seconds(pid: int) -> float:
    """Return a process's user and system CPU time, from /proc (Linux); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[11:15] are utime, stime, cutime, cstime: the children's share covers exited backends.
    return sum(int(v) for v in fields[11:15]) / ticks


def _server_cpu_seconds(pgdata: Path) -> float | None:
    """Return the CPU time of the PostgreSQL server of `pgdata` and its live and exited children."""
    try:
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total = _process_cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:
            total += _process_cpu_seconds(int(entry.name))
    return total


# -- the run ----------------------------------------------------------------------------------------------


def bench_import_on(
    database_url: str,
    settings: Settings,
    *,
    records: int,
    batch_size: int,
    seed: int,
    file_format: str,
    workdir: Path,
    profile: Path | None = None,
    max_seconds: float | None = None,
    pgdata: Path | None = None,
    database_label: str = "given",
    say: Callable[[str], None] = print,
) -> ImportBenchReport:
    """Write the file, import it into an empty database and measure the rate."""
    _refuse_unless_empty(database_url)
    path = workdir / f"bench-crm-{records}.{file_format}"
    say(f"writing {records:,} synthetic CRM records to {path} ...")
    started = time.monotonic()
    write_bench_file(path, records, seed, file_format)
    generate_seconds = time.monotonic() - started
    say(f"  {path.stat().st_size / 1e6:,.1f} MB in {generate_seconds:.1f} s")

    hub = bootstrap(settings.model_copy(update={"database_url": database_url, "data_dir": workdir}))
    next_report = [0.0]
    run_started = time.monotonic()

    def progress(line: int, rows: int) -> None:
        seconds = time.monotonic() - run_started
        if seconds >= next_report[0]:
            next_report[0] = seconds + 30
            say(f"  {rows:,} rows in {seconds:.0f} s ({rows / seconds:,.0f} rows/s)")

    profiler = cProfile.Profile() if profile is not None else None
    cpu_before = time.process_time()
    server_before = _server_cpu_seconds(pgdata) if pgdata is not None else None
    try:
        say(f"importing with batches of {batch_size:,} rows ...")
        if profiler is not None:
            profiler.enable()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        report = import_file(
            hub,
            path,
            "crm",
            batch_size=batch_size,
            progress=progress,
            should_stop=None if deadline is None else lambda: time.monotonic() >= deadline,
        )
        if profiler is not None:
            profiler.disable()
        importer_cpu = time.process_time() - cpu_before
        # Before the pool closes: a backend that exited is counted only once the postmaster reaped it.
        server_after = _server_cpu_seconds(pgdata) if pgdata is not None else None
        with hub.engine.connect() as conn:
            golden = conn.execute(
                text("SELECT count(*) FROM golden_record WHERE golden_id <> 'CASH' AND state = 'active'")
            ).scalar_one()
    finally:
        hub.engine.dispose()
    server_cpu = (
        server_after - server_before if server_after is not None and server_before is not None else None
    )
    top: list[str] = []
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
        top = _profile_top(profiler)
    return ImportBenchReport(
        records=records,
        batch_size=batch_size,
        file_format=file_format,
        file_bytes=path.stat().st_size,
        generate_seconds=generate_seconds,
        database=database_label,
        import_report=report,
        golden_records=int(golden),
        importer_cpu_seconds=importer_cpu,
        database_cpu_seconds=server_cpu,
        profile_top=top,
    )


def _profile_top(profiler: cProfile.Profile, n: int = 30) -> list[str]:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(n)
    stats.sort_stats("cumulative").print_stats(n)
    return out.getvalue().splitlines()


def bench_import(
    settings: Settings,
    *,
    records: int,
    batch_size: int,
    seed: int = 1,
    file_format: str = "csv",
    profile: Path | None = None,
    max_seconds: float | None = None,
    say: Callable[[str], None] = print,
) -> ImportBenchReport:
    """Run the benchmark on a temporary embedded PostgreSQL, or on HUB_DATABASE_URL when it is set."""
    with tempfile.TemporaryDirectory(prefix="hub-bench-import-") as tmp:
        workdir = Path(tmp)
        options: dict[str, Any] = {
            "records": records,
            "batch_size": batch_size,
            "seed": seed,
            "file_format": file_format,
            "workdir": workdir,
            "profile": profile,
            "max_seconds": max_seconds,
            "say": say,
        }
        if settings.database_url is not None:
            return bench_import_on(
                settings.database_url, settings, database_label="HUB_DATABASE_URL", **options
            )
        pgdata = workdir / "postgres"
        server = EmbeddedPostgres(pgdata)
        url = server.start()
        say(f"started a temporary embedded PostgreSQL in {tmp}")
        try:
            engine = create_db_engine(url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            return bench_import_on(
                url, settings, database_label="embedded (temporary)", pgdata=pgdata, **options
            )
        finally:
            server.stop()


def render(report: ImportBenchReport) -> str:
    """Render what the benchmark measured."""
    r = report.import_report
    c = r.counts
    wall = r.elapsed or 1.0
    lines = [
        f"Import of {report.records:,} synthetic CRM records ({report.file_format}, "
        f"{report.file_bytes / 1e6:,.1f} MB, written in {report.generate_seconds:.1f} s) into the "
        f"{report.database} database, batches of {report.batch_size:,} rows",
        "",
        *(
            []
            if r.complete
            else [
                f"  stopped by --max-seconds after {r.rows:,} of {report.records:,} records: "
                "the figures below are those of the rows imported",
            ]
        ),
        f"  rows            {r.rows:>12,}",
        f"  applied         {c['applied']:>12,}",
        f"  duplicate       {c['duplicate']:>12,}",
        f"  stale           {c['stale']:>12,}",
        f"  rejected        {c['rejected']:>12,}",
        f"  failed          {c['failed']:>12,}",
        f"  golden records  {report.golden_records:>12,}",
        f"  elapsed         {r.elapsed:>12.1f} s",
        f"  records/s       {report.records_per_second:>12,.0f}   (target {TARGET_RECORDS_PER_SECOND:,.0f}: "
        f"{'met' if report.meets_target else 'NOT met'})",
        f"  importer CPU    {report.importer_cpu_seconds:>12.1f} s   "
        f"({report.importer_cpu_seconds / wall:.0%} of a core)",
    ]
    if report.database_cpu_seconds is not None:
        lines.append(
            f"  PostgreSQL CPU  {report.database_cpu_seconds:>12.1f} s   "
            f"({report.database_cpu_seconds / wall:.0%} of a core)"
        )
    if report.profile_top:
        lines += ["", "profile (cProfile; the importer process only):", *report.profile_top]
    return "\n".join(lines)
