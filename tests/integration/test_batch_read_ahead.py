"""Round trips of a batch: it opens its source changes and finds its records' candidates at once, and
each change still sees what the changes before it did; a refresh reads survivorship's and the credit
status's inputs together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from hub.bootstrap import Hub, bootstrap
from hub.service.intake import InboundMessage
from hub.settings import Settings
from hub.store import uow as uow_module
from hub.store.uow import SourceChangeKeys, unit_of_work
from hub.streams.worker import process_batch
from tests.integration.helpers import customer_events, deliver, rows
from tests.messages import crm_organisation, encode, envelope

pytestmark = pytest.mark.integration


@contextmanager
def round_trips() -> Iterator[list[str]]:
    """Collect the shape of every round trip the unit of work sends meanwhile."""
    sent: list[str] = []

    def observe(shape: str, seconds: float) -> None:
        sent.append(shape)

    uow_module.statement_observers.append(observe)
    try:
        yield sent
    finally:
        uow_module.statement_observers.remove(observe)


def crm_batch(documents: list[dict[str, Any]]) -> list[InboundMessage]:
    return [
        InboundMessage("source.crm.customer.v1", 0, n, d["source_record_id"].encode(), encode(d))
        for n, d in enumerate(documents)
    ]


def unrelated_organisation(name: str, n: int) -> dict[str, Any]:
    """An organisation sharing no blocking key with the others of its batch."""
    return crm_organisation(
        name,
        addresses=[
            {
                "kind": "billing",
                "line1": f"{n + 1} Gade",
                "city": f"By {n}",
                "postal_code": f"{2000 + n * 37}",
                "country": "DK",
            }
        ],
        contacts=[{"name": f"Kontakt {name}", "email": f"info{n}@{n}.example", "primary": True}],
    )


def test_a_batch_takes_the_locks_of_all_its_changes_in_one_round_trip(hub: Hub) -> None:
    names = ["Nordlys Bageri", "Kobber & Co", "Vinterhave", "Solsikke Data", "Havnefront Logistik"]
    documents = [envelope("crm", f"R-{n}", unrelated_organisation(name, n)) for n, name in enumerate(names)]

    with round_trips() as sent:
        assert process_batch(hub, "crm", crm_batch(documents)) == ["applied"] * 5

    locking = [shape for shape in sent if "pg_advisory_xact_lock" in shape]
    assert len(locking) == 1, locking
    assert "processed_message" in locking[0] and "source_record" in locking[0]
    assert rows(hub.engine, "SELECT count(*) AS n FROM source_record")[0].n == 5


def test_a_dead_letter_early_in_a_batch_leaves_the_later_changes_opened_by_the_read_ahead(hub: Hub) -> None:
    names = ["Lyngby Cykler", "Mosegaard Te", "Ravn Arkitekter"]
    documents = [envelope("crm", f"D-{n}", unrelated_organisation(name, n)) for n, name in enumerate(names)]
    invalid = envelope("crm", "D-bad", {"party_type": "organization"})  # no legal name, no status

    with round_trips() as sent:
        outcomes = process_batch(hub, "crm", crm_batch([invalid, *documents]))

    assert outcomes == ["dead_lettered", "applied", "applied", "applied"]
    opening = [shape for shape in sent if "pg_advisory_xact_lock" in shape and "processed_message" in shape]
    assert len(opening) == 1, opening


def test_a_golden_record_refresh_reads_its_credit_inputs_in_the_same_round_trip(hub: Hub) -> None:
    names = ["Fjord Kaffe", "Granit Byg"]
    documents = [envelope("crm", f"C-{n}", unrelated_organisation(name, n)) for n, name in enumerate(names)]

    with round_trips() as sent:
        assert process_batch(hub, "crm", crm_batch(documents)) == ["applied"] * 2

    credit_reads = [shape for shape in sent if "FROM credit_status" in shape]
    assert len(credit_reads) == 2, credit_reads
    assert all(shape.startswith("SELECT golden_id, state") for shape in credit_reads)
    assert len(rows(hub.engine, "SELECT golden_id FROM credit_status")) == 2


def test_changes_of_one_source_record_within_a_batch_each_see_the_change_before(hub: Hub) -> None:
    created = envelope("crm", "S-1", crm_organisation("Sequence Ltd"), minutes=1)
    renamed = envelope("crm", "S-1", crm_organisation("Sequence Holdings Ltd"), minutes=2)
    older = envelope("crm", "S-1", crm_organisation("Sequence Old Name Ltd"), minutes=0)
    deleted = envelope("crm", "S-1", None, minutes=3, change="delete")

    outcomes = process_batch(hub, "crm", crm_batch([created, renamed, older, deleted]))

    assert outcomes == ["applied", "applied", "stale", "applied"]
    events = customer_events(hub.engine)
    assert [e["event_type"] for e in events] == [
        "customer.created",
        "customer.updated",
        "customer.deactivated",
    ]
    assert events[1]["customer"]["legal_name"] == "Sequence Holdings Ltd"
    assert rows(hub.engine, "SELECT detached FROM source_record WHERE source_record_id = 'S-1'")[0].detached


def test_a_source_record_read_ahead_follows_a_merge_made_later_in_the_same_transaction(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "K-1", crm_organisation("Keep A/S", emails=["a@keep.example"])))
    deliver(hub, "crm", envelope("crm", "K-2", crm_organisation("Retire ApS", emails=["b@retire.example"])))
    [kept] = rows(hub.engine, "SELECT golden_id FROM source_record WHERE source_record_id = 'K-1'")
    [retired] = rows(hub.engine, "SELECT golden_id FROM source_record WHERE source_record_id = 'K-2'")
    change = SourceChangeKeys(("source:crm:K-2",), "message-after-the-merge", "crm", "K-2")

    with pytest.raises(Undone), unit_of_work(hub.engine) as uow:
        uow.read_ahead_source_changes([change], 20)
        with round_trips() as sent:
            before = uow.open_source_change(change.locks, change.message_id, "crm", "K-2")
        assert sent == [] and before.current_golden_id == retired.golden_id
        # a merge, as merge_golden_records writes it: the records move, the golden record retires
        uow.move_source_records(retired.golden_id, kept.golden_id)
        golden = uow.golden(retired.golden_id)
        assert golden is not None
        uow.save_golden(
            replace(golden, state="retired", survivor_id=kept.golden_id, version=golden.version + 1),
            event_type="customer.retired",
            event={},
            cause={},
            topic="mdm.customer.v1",
        )
        with round_trips() as sent:
            after = uow.open_source_change(change.locks, change.message_id, "crm", "K-2")
        raise Undone

    assert sent, "the read-ahead answered after a merge moved the source record"
    assert after.current_golden_id == kept.golden_id


def test_a_batch_finds_the_candidates_of_all_its_records_at_once(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "F-0", unrelated_organisation("Fyrtaarn Shipping", 0)))
    names = ["Fyrtaarn Shipping", "Egern Legetoej", "Bjerg Foto", "Lune Tekstil"]
    documents = [
        envelope("crm", f"F-{n + 1}", unrelated_organisation(name, n), minutes=1)
        for n, name in enumerate(names)
    ]

    with round_trips() as sent:
        assert process_batch(hub, "crm", crm_batch(documents)) == ["applied"] * 4

    finding = [shape for shape in sent if "count(*) AS shared" in shape or "FROM distinct_pair" in shape]
    assert len(finding) == 2, finding  # the batch's candidates with its locks, then their context
    assert "pg_advisory_xact_lock" in finding[0] and "JOIN match_key" in finding[0]
    golden_ids = {r.source_record_id: r.golden_id for r in rows(hub.engine, "SELECT * FROM source_record")}
    assert golden_ids["F-1"] == golden_ids["F-0"]  # the duplicate found its golden record from the read-ahead
    assert len(set(golden_ids.values())) == 4


def test_storing_a_new_record_rides_with_its_golden_records_refresh(hub: Hub) -> None:
    names = ["Skovsti Have", "Morgenrod Bryg", "Klit Surf", "Elmegaard Mejeri"]
    documents = [envelope("crm", f"N-{n}", unrelated_organisation(name, n)) for n, name in enumerate(names)]

    with round_trips() as sent:
        assert process_batch(hub, "crm", crm_batch(documents)) == ["applied"] * 4

    assert [shape for shape in sent if "INSERT INTO source_record" in shape] == []  # never alone
    refreshing = [shape for shape in sent if shape.startswith("SELECT golden_id, state")]
    assert len(refreshing) == 4
    attached = rows(hub.engine, "SELECT source_record_id, golden_id FROM source_record ORDER BY 1")
    golden_ids = [r.golden_id for r in attached]
    assert golden_ids == sorted(golden_ids) and len(set(golden_ids)) == 4  # ids in the order of creation
    stored = rows(
        hub.engine, "SELECT golden_id, version FROM golden_record WHERE golden_id <> 'CASH' ORDER BY 1"
    )
    assert [(r.golden_id, r.version) for r in stored] == [(g, 1) for g in golden_ids]


def person(first: str, last: str, suffix: str, born: str, street: int) -> dict[str, Any]:
    """A person whose every blocking key carries `suffix`, so the changes of two suffixes never meet."""
    return {
        "party_type": "person",
        "first_name": f"{first}{suffix}",
        "last_name": f"{last}{suffix}",
        "status": "active",
        "date_of_birth": born,
        "emails": [f"{first.lower()}{suffix}@mail.example"],
        "addresses": [
            {
                "kind": "home",
                "line1": f"{street} Rue Haute",
                "city": "Lyon",
                "postal_code": f"6{street:02d}{suffix}",
                "country": "FR",
            }
        ],
    }


def interleaved_changes(suffix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Changes stored before a batch, and a batch whose changes depend on the ones before them in it:
    an update that takes a record's keys away from the golden record a later record would have found,
    a new record and its duplicate, a delete before a record that matches what was deleted, a record
    moving to another golden record."""
    anne = ("Anne", "Roux", suffix, "1971-05-04", 1)
    bruno = ("Bruno", "Petit", suffix, "1980-11-23", 2)
    chloe = ("Chloe", "Leroy", suffix, "1992-02-17", 3)
    denis = ("Denis", "Morel", suffix, "1965-08-30", 4)
    before = [envelope("crm", ref, person(*who)) for ref, who in (("A", anne), ("B", bruno), ("C", chloe))]
    batch = [
        envelope("crm", "A", person("Zoe", "Martin", suffix, "1958-01-01", 9), minutes=1),
        envelope("crm", "A2", person(*anne), minutes=1),
        envelope("crm", "D", person(*denis), minutes=1),
        envelope("crm", "D2", person(*denis), minutes=1),
        envelope("crm", "B", None, minutes=1, change="delete"),
        envelope("crm", "B2", person(*bruno), minutes=1),
        envelope("crm", "C", person(*denis), minutes=2),
        envelope("crm", "C2", person(*chloe), minutes=1),
    ]
    return before, batch


def what_was_decided(hub: Hub) -> tuple[set[frozenset[str]], dict[str, tuple[str, int]], int]:
    """The source records grouped by golden record, each record's last decision with the number of
    candidates it scored, and the open reviews."""
    groups: dict[str, set[str]] = {}
    for r in rows(hub.engine, "SELECT source_record_id, golden_id FROM source_record WHERE NOT detached"):
        groups.setdefault(r.golden_id, set()).add(r.source_record_id)
    decisions = {
        r.source_record_id: (r.outcome, len(r.explanation["candidates"]))
        for r in rows(
            hub.engine, "SELECT source_record_id, outcome, explanation FROM match_decision ORDER BY id"
        )
    }
    [reviews] = rows(hub.engine, "SELECT count(*) AS n FROM match_review WHERE status = 'open'")
    return {frozenset(g) for g in groups.values()}, decisions, reviews.n


def test_a_batch_decides_as_its_changes_one_at_a_time_would(
    migrated_database: Callable[[str], str], tmp_path: Any
) -> None:
    hubs = [
        bootstrap(Settings(database_url=migrated_database(name), data_dir=tmp_path / name))
        for name in ("one_at_a_time", "batched")
    ]
    try:
        one_at_a_time, batched = hubs
        before, batch = interleaved_changes("7")
        for n, document in enumerate(before):
            deliver(one_at_a_time, "crm", document, offset=n)
            deliver(batched, "crm", document, offset=n)
        alone = [process_batch(one_at_a_time, "crm", crm_batch([document])) for document in batch]

        together = process_batch(batched, "crm", crm_batch(batch))

        assert together == [outcome for [outcome] in alone]
        assert what_was_decided(batched) == what_was_decided(one_at_a_time)
        groups, decisions, _ = what_was_decided(batched)
        assert {"D", "D2", "C"} in groups and decisions["D2"] == ("link", 1)  # found what the batch made
        assert decisions["A2"] == ("new", 0)  # not the golden record the update took its keys from
    finally:
        for wired in hubs:
            wired.engine.dispose()


def test_a_golden_record_merged_away_by_another_transaction_after_the_read_ahead_is_not_linked_to(
    hub: Hub,
) -> None:
    deliver(
        hub, "crm", envelope("crm", "M-1", crm_organisation("Merged Away A/S", emails=["a@away.example"]))
    )
    deliver(hub, "crm", envelope("crm", "M-2", crm_organisation("Survivor ApS", emails=["b@stays.example"])))
    [retired] = rows(hub.engine, "SELECT golden_id FROM source_record WHERE source_record_id = 'M-1'")
    [survivor] = rows(hub.engine, "SELECT golden_id FROM source_record WHERE source_record_id = 'M-2'")
    duplicate = envelope(
        "crm", "M-3", crm_organisation("Merged Away A/S", emails=["a@away.example"]), minutes=1
    )
    merged: list[bool] = []

    def merge_meanwhile(shape: str, seconds: float) -> None:
        """Once the batch has read ahead, a steward's merge commits, as merge_golden_records writes it."""
        if merged or "FROM distinct_pair" not in shape:
            return
        merged.append(True)
        with hub.engine.begin() as conn:
            for table in ("source_record", "match_key"):
                conn.exec_driver_sql(
                    f"UPDATE {table} SET golden_id = %s WHERE golden_id = %s",
                    (survivor.golden_id, retired.golden_id),
                )
            conn.exec_driver_sql(
                "UPDATE golden_record SET state = 'retired', survivor_id = %s WHERE golden_id = %s",
                (survivor.golden_id, retired.golden_id),
            )

    uow_module.statement_observers.append(merge_meanwhile)
    try:
        outcomes = process_batch(hub, "crm", crm_batch([duplicate]))
    finally:
        uow_module.statement_observers.remove(merge_meanwhile)

    assert merged and outcomes == ["applied"]
    attached = {r.source_record_id: r.golden_id for r in rows(hub.engine, "SELECT * FROM source_record")}
    assert attached == dict.fromkeys(["M-1", "M-2", "M-3"], survivor.golden_id)


class Undone(Exception):
    """Raised to roll a test's transaction back."""
