"""When a load has grown the tables enough to analyse them again: at its start size, then at each doubling."""

from __future__ import annotations

from hub.store.statistics import GrowthWatch


def test_a_load_is_analysed_at_its_first_threshold_then_at_every_doubling_of_what_it_applied() -> None:
    watch = GrowthWatch(first=100)

    due = [n for n in range(1, 21) if watch.grown(50)]  # 50 rows a batch: 50, 100, ..., 1,000 applied

    assert due == [2, 4, 8, 16]  # at 100, 200, 400 and 800 rows


def test_batches_that_apply_nothing_never_call_for_an_analysis() -> None:
    watch = GrowthWatch(first=0)

    assert not any(watch.grown(0) for _ in range(10))
    assert watch.grown(1)
