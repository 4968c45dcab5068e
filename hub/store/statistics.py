"""Planner statistics of the tables a load grows, kept current while it grows.

PostgreSQL caches plans: the foreign-key checks of every insert that names a golden record, and the
statements psycopg prepares after five runs. Planned while the tables are nearly empty, they scan the
whole table, and they stay cached until the table is analysed again, which autovacuum does only after
its first nap (a minute) and then by 10 % steps. Measured on an import of 1,500 rows into an empty hub:
17,000 sequential scans of `golden_record` by foreign-key checks alone (BENCHMARKS.md).
Analysing refreshes the statistics and invalidates those plans.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

#: The tables a load of source records grows, and that the per-record statements look up by key.
GROWING_TABLES = ("golden_record", "source_record", "match_key", "processed_message", "credit_status")


def analyse_growing_tables(engine: Engine) -> None:
    """Refresh the planner statistics of the tables a load grows (and so the plans cached on them)."""
    with engine.begin() as conn:
        conn.execute(text(f"ANALYZE {', '.join(GROWING_TABLES)}"))


def estimated_golden_records(engine: Engine) -> int:
    """Return the planner's estimate of the golden records stored (0 for a table never analysed)."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'golden_record'::regclass")
        ).scalar_one()
    return int(found)


class GrowthWatch:
    """Tells when a load has grown the tables enough since the last analysis to analyse them again.

    The first analysis comes once the load applied `first` rows (the tables' size when it started, or
    one batch for an empty hub), then at every doubling of what it applied: plans stay close to the
    tables' sizes at a logarithmic cost, about ten analyses for a million records into an empty hub.
    """

    def __init__(self, first: int) -> None:
        self.applied = 0
        self.next_at = max(first, 1)

    def grown(self, applied: int) -> bool:
        """Count `applied` more rows; return whether the tables should be analysed now."""
        self.applied += applied
        if self.applied < self.next_at:
            return False
        self.next_at = 2 * self.applied
        return True


class PlannerStatistics:
    """Analyses the tables a load grows as `GrowthWatch` says, for the import and the stream worker alike.

    The first threshold is the hub's size when the load applies its first rows (one batch for an empty
    hub), read then and not before: a worker may start while the database is still down. A failed
    analysis is logged and left to autovacuum; it never fails the load.
    """

    def __init__(self, engine: Engine, batch_size: int) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self._watch: GrowthWatch | None = None
        self._lock = threading.Lock()  # the worker's agents report from their own threads

    def applied(self, applied: int) -> None:
        """Count rows applied and committed; analyse the growing tables when they have grown enough."""
        try:
            with self._lock:
                if self._watch is None:
                    first = max(self.batch_size, estimated_golden_records(self.engine))
                    self._watch = GrowthWatch(first=first)
                due = self._watch.grown(applied)
            if due:
                analyse_growing_tables(self.engine)
        except DBAPIError:
            log.warning("could not refresh the planner statistics; autovacuum will", exc_info=True)
