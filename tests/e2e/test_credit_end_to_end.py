"""Credit status end to end: the hub worker and both reference consumers on the real broker and database.

AR posts invoices and payments through `consumers.ar_sync`, the hub turns its exposure into credit-status
events, and the sales credit gate answers from its own projection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.dk import cvr

from hub.api.app import create_api
from hub.bootstrap import Hub, create_db_engine
from hub.runtime.embedded import free_port
from hub.settings import Settings
from tests.consumers.conftest import ConsumerProcess
from tests.integration.helpers import rows
from tests.messages import crm_organisation, encode, envelope
from tests.running import WorkerProcess, publish_messages, wait_until

pytestmark = pytest.mark.integration

TOKENS = "ana:s-token=steward,ops:a-token=admin"
ADMIN = {"Authorization": "Bearer a-token"}
STEWARD = {"Authorization": "Bearer s-token"}
VALID_CVRS = [f"{n:08d}" for n in range(20000000, 20001000) if cvr.is_valid(f"{n:08d}")]


class Stack:
    """The running hub worker, the credit gate, AR sync, and the steward API in process."""

    def __init__(self, hub: Hub, settings: Settings, tmp_path: Path) -> None:
        self.hub = replace(hub, settings=settings)
        self.settings = settings
        self.tmp_path = tmp_path
        self.engine = create_db_engine(settings.database_url or "")
        self.gate_port = free_port()
        prefix = settings.topic_prefix
        self.ar_env = {
            "AR_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
            "AR_TOPIC_PREFIX": prefix,
            "AR_GROUP_ID": f"ar-{prefix}",
            "AR_SESSION_TIMEOUT_MS": "3000",
            "AR_STATE_DIR": str(tmp_path / "ar"),
        }
        gate_env = {
            "GATE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
            "GATE_TOPIC_PREFIX": prefix,
            "GATE_GROUP_ID": f"gate-{prefix}",
            "GATE_SESSION_TIMEOUT_MS": "3000",
            "GATE_STATE_DIR": str(tmp_path / "gate"),
            "GATE_HTTP_PORT": str(self.gate_port),
        }
        self.worker = WorkerProcess(settings, tmp_path / "worker.log")
        self.gate = ConsumerProcess("consumers.sales_credit_gate", [], gate_env, tmp_path / "gate.log")
        self.ar_sync = ConsumerProcess("consumers.ar_sync", ["run"], self.ar_env, tmp_path / "ar.log")
        self.api = TestClient(
            create_api(replace(self.hub, settings=settings.model_copy(update={"api_tokens": TOKENS})))
        )

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.tmp_path.glob("*.log"))

    def customer(self, ref: str, n: int, *, limit: str = "100000.00", **extra: Any) -> str:
        payload = crm_organisation(f"Gate Customer {ref} Sdn Bhd", vat=("dk_cvr", VALID_CVRS[n]), **extra)
        payload["credit"] = {"limit": limit, "currency": "MYR", "check_limit": True, "payment_terms": "NET30"}
        publish_messages(self.settings, "crm", [(ref.encode(), encode(envelope("crm", ref, payload)))])

        def golden_id() -> str | None:
            found = rows(
                self.engine,
                "SELECT golden_id FROM source_record WHERE source = 'crm' AND source_record_id = :ref",
                ref=ref,
            )
            return found[0].golden_id if found else None

        wait_until(lambda: golden_id() is not None, timeout=60, message=self.logs)
        return str(golden_id())

    def ar(self, *argv: str) -> dict[str, Any]:
        """Post an invoice or payment through the AR sync CLI, as an AR clerk would."""
        done = subprocess.run(
            [sys.executable, "-m", "consumers.ar_sync", *argv],
            env={**os.environ, **self.ar_env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def may_sell(self, golden_id: str, amount: str, currency: str = "MYR") -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.gate_port}/may-sell?customer={golden_id}&amount={amount}&currency={currency}"
        with urllib.request.urlopen(url, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def gate_says(
        self, golden_id: str, amount: str, predicate: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Wait until the gate's answer satisfies the predicate; return it."""
        answers: list[dict[str, Any]] = []

        def check() -> bool:
            try:
                answers.append(self.may_sell(golden_id, amount))
            except OSError:
                return False
            return predicate(answers[-1])

        wait_until(check, timeout=60, message=lambda: f"{answers[-1:]}\n{self.logs()}")
        return answers[-1]

    def status(self, golden_id: str) -> dict[str, Any]:
        found = rows(self.engine, "SELECT status FROM credit_status WHERE golden_id = :g", g=golden_id)
        return dict(found[0].status) if found else {}

    def version(self, golden_id: str) -> int:
        return int(self.api.get(f"/customers/{golden_id}", headers=STEWARD).json()["version"])


@pytest.fixture
def stack(
    hub: Hub, migrated_database: Callable[[str], str], kafka_bootstrap: str, tmp_path: Path
) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    settings = hub.settings.model_copy(
        update={
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": f"e2e{run}.",
            "consumer_group": f"e2e-{run}",
            "broker_session_timeout": 6,
            "data_dir": tmp_path / "hub",
        }
    )
    (tmp_path / "hub").mkdir()
    running = Stack(hub, settings, tmp_path)
    import asyncio

    from hub.streams.kafka import ensure_topics

    asyncio.run(ensure_topics(settings))
    running.worker.start()
    running.gate.start()
    running.ar_sync.start()
    try:
        yield running
    finally:
        for process in (running.gate, running.ar_sync):
            process.stop()
        running.worker.stop()
        running.engine.dispose()


def test_exposure_from_ar_holds_and_releases_a_customer_at_the_sales_gate(stack: Stack) -> None:
    golden_id = stack.customer("GATE-1", 0)
    stack.gate_says(golden_id, "1000.00", lambda a: a["allowed"])

    stack.ar(
        "invoice",
        "--account",
        "AR-G1",
        "--golden-id",
        golden_id,
        "--amount",
        "100000.00",
        "--currency",
        "MYR",
    )
    stack.ar(
        "invoice", "--account", "AR-G1", "--golden-id", golden_id, "--amount", "24000.00", "--currency", "MYR"
    )
    refused = stack.gate_says(golden_id, "1000.00", lambda a: a["available"] == "-24000.00")
    assert (refused["allowed"], refused["reasons"]) == (False, ["over_limit"])
    status = stack.status(golden_id)
    assert (status["on_hold"], status["hold_reasons"], status["available"]) == (
        True,
        ["over_limit"],
        "-24000.00",
    )

    stack.ar("payment", "--account", "AR-G1", "--amount", "30000.00", "--currency", "MYR")
    allowed = stack.gate_says(golden_id, "1000.00", lambda a: a["allowed"])
    assert allowed["reasons"] == []


def test_a_blacklisting_through_the_api_holds_the_customer_at_the_gate_within_seconds(stack: Stack) -> None:
    golden_id = stack.customer("GATE-2", 1)
    stack.gate_says(golden_id, "10.00", lambda a: a["allowed"])
    response = stack.api.post(
        f"/customers/{golden_id}/blacklist",
        json={"reason": "fraud", "version": stack.version(golden_id)},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.json()
    stack.gate_says(golden_id, "10.00", lambda a: "blacklisted" in a["reasons"])


def test_missing_billing_address_and_foreign_currency_exposure_hold_the_customer(stack: Stack) -> None:
    incomplete = stack.customer(
        "GATE-3", 2, addresses=[{"kind": "shipping", "line1": "1 Jalan Ampang", "country": "MY"}]
    )
    stack.gate_says(incomplete, "10.00", lambda a: "incomplete_master_data" in a["reasons"])

    golden_id = stack.customer("GATE-4", 3)
    stack.ar(
        "invoice", "--account", "AR-G4", "--golden-id", golden_id, "--amount", "10.00", "--currency", "USD"
    )
    stack.gate_says(golden_id, "10.00", lambda a: "currency_mismatch" in a["reasons"])
    assert stack.status(golden_id)["hold_reasons"] == ["currency_mismatch"]


def test_a_merge_sums_exposure_on_the_survivor_and_the_gate_answers_for_the_retired_id(stack: Stack) -> None:
    first = stack.customer("GATE-5", 4)
    second = stack.customer("GATE-6", 5)
    stack.ar(
        "invoice", "--account", "AR-G5", "--golden-id", first, "--amount", "60000.00", "--currency", "MYR"
    )
    stack.ar(
        "invoice", "--account", "AR-G6", "--golden-id", second, "--amount", "50000.00", "--currency", "MYR"
    )
    stack.gate_says(second, "1.00", lambda a: a["available"] == "50000.00")

    merged = stack.api.post(
        f"/customers/{first}/merge",
        json={"other_ids": [second], "reason": "one firm", "version": stack.version(first)},
        headers=STEWARD,
    )
    assert merged.status_code == 200, merged.json()
    answer = stack.gate_says(
        second, "1.00", lambda a: a["golden_id"] == first and "over_limit" in a["reasons"]
    )
    assert answer["available"] == "-10000.00"
    assert stack.status(first)["outstanding"] == "110000.00"
