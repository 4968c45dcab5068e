"""Which statements scan whole tables while `hub import` loads an empty hub? A one-off probe.

Run from the repository root:
    .venv/bin/python docs/analysis/sequential_scans_of_an_import.py [ROWS] [--no-analyse]

It starts a temporary embedded PostgreSQL, writes ROWS (default 1,500) synthetic CRM records as `hub bench
import` does, imports them with `hub.service.bulk_import.import_file` in batches of 500, and has PostgreSQL's
auto_explain report every plan (foreign-key checks included) to the client; it counts the statements whose
plan holds a sequential scan, and prints the import's time. `--no-analyse` turns off the analyses the import
makes as it grows the tables (hub.store.statistics), to show what they prevent. BENCHMARKS.md ("Planner
statistics of a growing hub") quotes its output.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from hub.bench.import_bench import write_bench_file
from hub.bootstrap import bootstrap, create_db_engine
from hub.runtime.embedded import EmbeddedPostgres
from hub.service import bulk_import
from hub.service.bulk_import import import_file
from hub.settings import Settings
from hub.store.migrate import upgrade


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = int(args[0]) if args else 1500
    if "--no-analyse" in sys.argv:
        bulk_import.analyse_growing_tables = lambda engine: None  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="hub-seq-scans-") as tmp:
        work = Path(tmp)
        server = EmbeddedPostgres(work / "pgdata")
        url = server.start()
        try:
            engine = create_db_engine(url)
            upgrade(engine)
            engine.dispose()
            hub = bootstrap(Settings(database_url=url, data_dir=work))
            scans: Counter[tuple[str, str]] = Counter()

            def on_notice(diagnostic: Any) -> None:
                plan = diagnostic.message_primary or ""
                query = re.search(r"Query Text: (.*)", plan)
                for table in set(re.findall(r"Seq Scan on (\w+)", plan)):
                    scans[(table, query.group(1)[:110] if query else "?")] += 1

            @event.listens_for(hub.engine, "connect")
            def explain_everything(dbapi_connection: Any, record: Any) -> None:
                dbapi_connection.add_notice_handler(on_notice)
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("LOAD 'auto_explain'")
                    cursor.execute("SET auto_explain.log_min_duration = 0")
                    cursor.execute("SET auto_explain.log_nested_statements = on")
                    cursor.execute("SET auto_explain.log_level = notice")
                dbapi_connection.commit()

            path = work / "crm.csv"
            write_bench_file(path, rows, 7, "csv")
            started = time.monotonic()
            report = import_file(hub, path, "crm", batch_size=500)
            seconds = time.monotonic() - started
            print(f"{report.rows:,} rows in {seconds:.1f} s ({report.rows / seconds:,.0f} rows/s)")
            print("statements planned with a sequential scan (count, table, statement):")
            for (table, query), count in scans.most_common(12):
                print(f"  {count:7,}  {table:18}  {query}")
            hub.engine.dispose()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
