"""AR exposure racing the change it depends on, in two real PostgreSQL transactions side by side.

One transaction is held open just before it commits (another session holds a lock its last statement
needs); the other runs meanwhile. Whatever the order, the balance must end on the customer it names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.service.stewardship import merge_by_hand
from hub.store.uow import unit_of_work
from tests.integration.helpers import deliver, rows
from tests.integration.test_credit_status import customer, exposure, statuses
from tests.messages import crm_organisation, envelope
from tests.running import wait_until

pytestmark = pytest.mark.integration


@contextmanager
def held_before_commit(hub: Hub, lock_sql: str) -> Iterator[None]:
    """Hold, in a session of its own, a lock the held transaction's last statement needs."""
    with hub.engine.connect() as conn:
        conn.exec_driver_sql(lock_sql)
        yield
        conn.commit()


def waiting_sessions(hub: Hub) -> int:
    found = rows(
        hub.engine,
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    return int(found[0].n)


def run_side_by_side(hub: Hub, first: Callable[[], Any], second: Callable[[], Any], lock_sql: str) -> None:
    """Run `first` until it waits on the held lock, then `second` until it ends or waits too, then let go."""
    errors: list[Exception] = []

    def guarded(work: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except Exception as error:  # noqa: BLE001 - reported by the test thread
                errors.append(error)

        return run

    with held_before_commit(hub, lock_sql):
        held = threading.Thread(target=guarded(first))
        held.start()
        wait_until(lambda: waiting_sessions(hub) == 1, timeout=20)
        other = threading.Thread(target=guarded(second))
        other.start()
        wait_until(lambda: not other.is_alive() or waiting_sessions(hub) == 2, timeout=20)
    held.join(30)
    other.join(30)
    assert not errors, errors


def outcome_row_lock(source: str) -> str:
    return f"SELECT * FROM message_outcome WHERE source = '{source}' AND outcome = 'applied' FOR UPDATE"


def booked_on(hub: Hub, account: str) -> str | None:
    (row,) = rows(hub.engine, "SELECT golden_id FROM ar_exposure WHERE account_id = :a", a=account)
    return None if row.golden_id is None else str(row.golden_id)


@pytest.mark.parametrize("held", ["the customer change", "the exposure"])
def test_exposure_naming_a_source_record_stored_at_the_same_moment_is_booked_on_its_customer(
    hub: Hub, held: str
) -> None:
    customer(hub, "C-WARM", 0)  # the outcome rows the held transaction's last statement updates
    exposure(hub, "AR-WARM", "1.00", ref="C-WARM")
    payload = crm_organisation("Raffles Office Supplies Pte Ltd")
    payload["credit"] = {"limit": "10000.00", "currency": "MYR", "check_limit": True}

    def change() -> None:
        deliver(hub, "crm", envelope("crm", "C-RACE", payload))

    def balance() -> None:
        exposure(hub, "AR-RACE", "15000.00", ref="C-RACE")

    if held == "the customer change":
        run_side_by_side(hub, change, balance, outcome_row_lock("crm"))
    else:
        run_side_by_side(hub, balance, change, outcome_row_lock("ar"))

    (golden,) = rows(hub.engine, "SELECT golden_id FROM source_record WHERE source_record_id = 'C-RACE'")
    assert booked_on(hub, "AR-RACE") == golden.golden_id
    last = statuses(hub, golden.golden_id)[-1]
    assert (last["outstanding"], last["available"]) == ("15000.00", "-5000.00")
    assert "over_limit" in last["hold_reasons"]


@pytest.mark.parametrize("held", ["the merge", "the exposure"])
def test_exposure_naming_a_golden_record_merged_at_the_same_moment_ends_on_the_survivor(
    hub: Hub, held: str
) -> None:
    survivor = customer(hub, "C-P", 1)
    retiring = customer(hub, "C-Q", 2)
    exposure(hub, "AR-WARM", "1.00", golden_id=survivor)

    def merge() -> None:
        with unit_of_work(hub.engine) as uow:
            version = uow.golden(survivor)
            assert version is not None
            merge_by_hand(
                uow,
                survivor,
                [retiring],
                expected_version=version.version,
                reason="one company",
                actor="ana",
                ctx=hub.context(),
            )

    def balance() -> None:
        exposure(hub, "AR-MERGE", "150000.00", golden_id=retiring, minutes=1)

    if held == "the merge":
        run_side_by_side(hub, merge, balance, "LOCK TABLE audit_log IN EXCLUSIVE MODE")
    else:
        run_side_by_side(hub, balance, merge, outcome_row_lock("ar"))

    assert booked_on(hub, "AR-MERGE") == survivor
    last = statuses(hub, survivor)[-1]
    assert (last["outstanding"], last["hold_reasons"]) == ("150001.00", ["over_limit"])
