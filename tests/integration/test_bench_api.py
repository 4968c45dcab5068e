"""`hub bench api` and its synthetic golden records, against the real PostgreSQL and the real API."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import phonenumbers
import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_api
from hub.bench.api import KINDS, BenchmarkRefused, bench_api_on, render
from hub.bench.synthetic import (
    clean_record,
    golden_attributes,
    load_synthetic_golden_records,
    normalised_by_the_hub,
    record_document,
    synthetic_customer,
    synthetic_customers,
)
from hub.bootstrap import Hub, bootstrap, load_rules
from hub.domain.survivorship import survive
from hub.settings import Settings
from hub.store.codec import record_to_json
from hub.store.uow import unit_of_work
from tests.integration.helpers import deliver, rows

#: Schemes python-stdnum does not know: the hub keeps them as unverified identifiers (SPEC 4).
UNVERIFIED_SCHEMES = {"my_brn"}


def _stdnum_module(scheme: str) -> Any:
    country, name = scheme.split("_", 1)
    package = {"in": "in_", "eu": "eu"}.get(country, country)
    return importlib.import_module(f"stdnum.{package}.{name}")


def quiet(_: str) -> None:
    """Swallow the benchmark's progress lines."""


def test_every_synthetic_tax_id_passes_python_stdnum_except_the_schemes_it_does_not_know() -> None:
    schemes: Counter[str] = Counter()
    for customer in synthetic_customers(4000, seed=5):
        for tax_id in customer.tax_ids:
            schemes[tax_id.scheme] += 1
            if tax_id.scheme in UNVERIFIED_SCHEMES:
                continue
            assert _stdnum_module(tax_id.scheme).is_valid(tax_id.value), (customer.index, tax_id)
    assert set(schemes) == {
        "dk_cvr", "dk_cpr", "eu_vat", "gb_vat", "in_gstin", "in_pan", "sg_uen", "my_nric", "my_brn", "us_ein",
    }  # fmt: skip


def test_every_synthetic_phone_is_valid_and_its_local_form_reads_as_the_same_number() -> None:
    for customer in synthetic_customers(4000, seed=5):
        numbers = [customer.phone] + ([customer.contact.phone] if customer.contact else [])
        for number in numbers:
            assert phonenumbers.is_valid_number(phonenumbers.parse(number)), (customer.index, number)
        local = phonenumbers.parse(customer.phone_local, customer.country)
        assert phonenumbers.format_number(local, phonenumbers.PhoneNumberFormat.E164) == customer.phone


def test_the_generator_gives_the_same_customer_for_the_same_index_and_seed_and_others_for_another_seed() -> (
    None
):
    assert list(synthetic_customers(50, seed=9)) == [synthetic_customer(i, 9) for i in range(50)]
    assert list(synthetic_customers(10, seed=9, start=40)) == [
        synthetic_customer(i, 9) for i in range(40, 50)
    ]
    assert synthetic_customer(3, 9) != synthetic_customer(3, 10)
    countries = Counter(c.country for c in synthetic_customers(2000, seed=9))
    parties = Counter(c.party_type for c in synthetic_customers(2000, seed=9))
    assert set(countries) == {"MY", "SG", "DK", "DE", "GB", "IN", "US"}
    assert min(parties.values()) > 800
    emails = [c.email.lower() for c in synthetic_customers(2000, seed=9)]
    assert len(set(emails)) == len(emails)


def test_the_loaders_shortcuts_equal_the_hubs_own_normalisation_record_codec_and_survivorship() -> None:
    rules = load_rules(None)
    for customer in synthetic_customers(2000, seed=13):
        clean = clean_record(customer)
        assert clean == normalised_by_the_hub(customer), customer.index
        assert record_document(clean) == record_to_json(clean), customer.index
        assert golden_attributes(clean) == survive([clean], rules), customer.index


def _stored(hub: Hub) -> dict[str, Any]:
    golden = rows(
        hub.engine,
        "SELECT golden_id, state, version, customer, source_refs, lineage, data_quality, search_name "
        "FROM golden_record WHERE golden_id <> 'CASH' ORDER BY golden_id",
    )
    sources = rows(
        hub.engine,
        "SELECT source, source_record_id, golden_id, detached, last_occurred_at, last_message_id, record, "
        "payload, issues FROM source_record ORDER BY source_record_id",
    )
    keys = rows(
        hub.engine, "SELECT kind, value, source, source_record_id, golden_id FROM match_key ORDER BY 1, 2, 4"
    )
    return {
        "golden": [tuple(r) for r in golden],
        "sources": [tuple(r) for r in sources],
        "keys": [tuple(r) for r in keys],
    }


def test_loaded_rows_are_what_the_worker_writes_for_the_same_crm_messages(
    migrated_database: Callable[[str], str], tmp_path: Any
) -> None:
    customers = list(synthetic_customers(40, seed=21))
    through_worker = bootstrap(Settings(database_url=migrated_database("worker"), data_dir=tmp_path))
    loaded = bootstrap(Settings(database_url=migrated_database("loaded"), data_dir=tmp_path))
    try:
        for offset, customer in enumerate(customers):
            assert deliver(through_worker, "crm", customer.crm_message(), offset=offset) == "applied"
        load_synthetic_golden_records(loaded.engine, len(customers), seed=21, workers=1)
        expected, actual = _stored(through_worker), _stored(loaded)
        assert len(actual["golden"]) == len(customers)
        assert actual == expected
    finally:
        through_worker.engine.dispose()
        loaded.engine.dispose()


def test_loaded_golden_ids_come_from_the_hubs_sequence_so_the_worker_never_reuses_one(hub: Hub) -> None:
    report = load_synthetic_golden_records(hub.engine, 30, seed=4, workers=1)
    with unit_of_work(hub.engine) as uow:
        next_id = uow.next_golden_id()
    assert len(set(report.golden_ids)) == 30
    assert next_id not in report.golden_ids
    assert next_id > max(report.golden_ids)


def test_loaded_records_are_found_by_the_api_search_by_name_email_phone_tax_id_and_golden_id(
    hub: Hub,
) -> None:
    report = load_synthetic_golden_records(hub.engine, 300, seed=8, workers=1)
    wired = replace(hub, settings=hub.settings.model_copy(update={"api_tokens": "vera:v-token=viewer"}))
    with TestClient(create_api(wired)) as client:
        for index in range(0, 300, 15):
            customer, golden_id = synthetic_customer(index, 8), report.golden_ids[index]
            searches: list[dict[str, str]] = [
                {"q": customer.display_name},
                {"email": customer.email},
                {"phone": customer.phone},
                {"phone": customer.phone_local, "country": customer.country},
                {"golden_id": golden_id},
            ]
            searches += [{"tax_id": t.value, "scheme": t.scheme} for t in customer.tax_ids]
            for params in searches:
                response = client.get(
                    "/customers", params=params, headers={"Authorization": "Bearer v-token"}
                )
                assert response.status_code == 200, (params, response.text)
                found = [item["golden_id"] for item in response.json()["items"]]
                assert golden_id in found, (params, found)


def test_the_api_benchmark_finds_the_intended_record_of_every_kind_and_reports_its_latencies(
    migrated_database: Callable[[str], str],
) -> None:
    report = bench_api_on(
        migrated_database("bench_api"), golden=2000, queries=25, seed=3, warmup=5, say=quiet
    )

    assert report.ok
    assert report.golden_records == 2000
    assert {kind: r.queries for kind, r in report.results.items()} == dict.fromkeys(KINDS, 25)
    for kind in KINDS:
        result = report.results[kind]
        assert result.errors == 0, kind
        assert 0 < result.percentile(50) <= result.percentile(95) <= result.percentile(99), kind
        if kind == "name":  # typos: a namesake may outrank the record itself, but something must be found
            assert result.found_fraction >= 0.9
        else:
            assert result.found == result.queries, kind
    table = render(report)
    assert all(f"\n{kind} " in table for kind in KINDS)
    assert "BROKEN" not in table


def test_the_api_benchmark_refuses_a_database_that_already_holds_golden_records(
    migrated_database: Callable[[str], str],
) -> None:
    url = migrated_database("bench_refuse")
    hub = bootstrap(Settings(database_url=url))
    try:
        load_synthetic_golden_records(hub.engine, 5, seed=1, workers=1)
    finally:
        hub.engine.dispose()
    with pytest.raises(BenchmarkRefused):
        bench_api_on(url, golden=10, queries=1, seed=1, say=quiet)

    hub = bootstrap(Settings(database_url=url))
    try:
        assert rows(hub.engine, "SELECT count(*) AS n FROM golden_record WHERE golden_id <> 'CASH'")[0].n == 5
    finally:
        hub.engine.dispose()
