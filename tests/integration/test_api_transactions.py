"""A steward's change is one transaction: run again after a deadlock, and a failure is a problem document."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.api import deps
from hub.api.app import create_api
from hub.api.deps import in_transaction
from hub.bootstrap import Hub
from hub.store.uow import UnitOfWork

pytestmark = pytest.mark.integration


def test_a_change_broken_off_for_a_deadlock_runs_again_and_both_changes_land(hub: Hub) -> None:
    both_hold_their_first_lock = threading.Barrier(2, timeout=10)
    attempts = {"ab": 0, "ba": 0}

    def locking(order: str) -> Any:
        def work(uow: UnitOfWork) -> str:
            attempts[order] += 1
            first, second = (1, 2) if order == "ab" else (2, 1)
            uow.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 4200 + first})
            if attempts[order] == 1:
                both_hold_their_first_lock.wait()  # now each waits for the other: PostgreSQL breaks one off
            uow.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 4200 + second})
            return order

        return work

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda o=o: results.append(in_transaction(hub, locking(o)))) for o in attempts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["ab", "ba"]
    assert sorted(attempts.values()) == [1, 2]  # one of them was broken off once and ran again


def test_a_request_the_hub_fails_on_is_a_problem_document_not_plain_text(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ArithmeticError("a bug")

    monkeypatch.setattr(deps, "unit_of_work", broken)
    wired = replace(hub, settings=hub.settings.model_copy(update={"api_tokens": "ana:s-token=steward"}))
    with TestClient(create_api(wired), raise_server_exceptions=False) as client:
        response = client.post(
            "/customers/CUS-0000001/merge",
            json={"other_ids": ["CUS-0000002"], "reason": "r", "version": 1},
            headers={"Authorization": "Bearer s-token"},
        )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "internal_error"
