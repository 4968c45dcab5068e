"""`hub bench estimate`: estimate m and u per comparison level from labelled tuning data (FEBRL1, FEBRL2).

m is the share of true pairs at each level, u the share of random non-matching pairs; both are
smoothed (add one half) so no level weighs infinity. The figures go into `hub/match_model.toml`.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from hub.bench.accuracy import febrl_records
from hub.domain.comparisons import DEFAULT_COMPARISONS
from hub.domain.model import CleanRecord
from hub.service.intake import ApplySourceChange, InboundMessage, read_message

RANDOM_PAIRS = 300_000


def _clean_records(dataset: str) -> tuple[dict[str, CleanRecord], dict[str, list[str]]]:
    records: dict[str, CleanRecord] = {}
    entities: dict[str, list[str]] = defaultdict(list)
    for entity, ref, value in febrl_records(dataset):
        command = read_message(
            InboundMessage("febrl", 0, 0, None, value),
            topic_source="crm",
            now=datetime.now(UTC),
            max_clock_skew=timedelta(days=1),
            max_message_bytes=1_000_000,
        )
        assert isinstance(command, ApplySourceChange) and command.record is not None
        records[ref] = command.record
        entities[entity].append(ref)
    return records, entities


def estimate(datasets: list[str], seed: int = 2026) -> dict[str, dict[str, tuple[float, float]]]:
    """Return comparison -> level -> (m, u), from true pairs and random non-matching pairs."""
    matches: dict[str, Counter[str]] = defaultdict(Counter)
    non_matches: dict[str, Counter[str]] = defaultdict(Counter)
    rng = random.Random(seed)
    for dataset in datasets:
        records, entities = _clean_records(dataset)
        for refs in entities.values():
            for a, b in itertools.combinations(refs, 2):
                for comparison in DEFAULT_COMPARISONS:
                    matches[comparison.name][comparison.compare(records[a], records[b]).level] += 1
        entity_of = {ref: e for e, refs in entities.items() for ref in refs}
        refs = sorted(records)
        for _ in range(RANDOM_PAIRS):
            a, b = rng.sample(refs, 2)
            if entity_of[a] == entity_of[b]:
                continue
            for comparison in DEFAULT_COMPARISONS:
                non_matches[comparison.name][comparison.compare(records[a], records[b]).level] += 1
    result: dict[str, dict[str, tuple[float, float]]] = {}
    for comparison in DEFAULT_COMPARISONS:
        levels = [level for level in comparison.levels if level != "null"]
        m_total = sum(matches[comparison.name][lv] for lv in levels) + 0.5 * len(levels)
        u_total = sum(non_matches[comparison.name][lv] for lv in levels) + 0.5 * len(levels)
        result[comparison.name] = {
            lv: (
                (matches[comparison.name][lv] + 0.5) / m_total,
                (non_matches[comparison.name][lv] + 0.5) / u_total,
            )
            for lv in levels
        }
    return result


def render(estimates: dict[str, dict[str, tuple[float, float]]]) -> str:
    """Render the estimates as TOML tables to paste into the model file."""
    lines = []
    for comparison, levels in estimates.items():
        lines.append(f"[comparisons.{comparison}]")
        for level, (m, u) in levels.items():
            lines.append(f"{level} = {{ m = {m:.6g}, u = {u:.6g} }}")
        lines.append("")
    return "\n".join(lines)
