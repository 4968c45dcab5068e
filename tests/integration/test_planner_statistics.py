"""The stream keeps the planner's statistics current while it grows an empty hub."""

from __future__ import annotations

import pytest

from hub.bootstrap import Hub
from hub.store.statistics import PlannerStatistics
from tests.integration.helpers import rows

pytestmark = pytest.mark.integration


def analyses(hub: Hub) -> int:
    [row] = rows(hub.engine, "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'golden_record'")
    return int(row.analyze_count)


def test_a_worker_on_an_empty_hub_analyses_the_growing_tables_after_a_batch_then_at_each_doubling(
    hub: Hub,
) -> None:
    statistics = PlannerStatistics(
        hub.engine, hub.settings.batch_size
    )  # 100; the hub holds no golden records

    statistics.applied(60)
    assert analyses(hub) == 0
    statistics.applied(40)  # 100 applied: one batch
    assert analyses(hub) == 1
    statistics.applied(99)
    assert analyses(hub) == 1
    statistics.applied(1)  # 200 applied: doubled
    assert analyses(hub) == 2
