"""Match decisions: which golden record a clean source record belongs to, and why.

The record is scored against every source record of each candidate golden record (found through
blocking keys); a golden record's score is its best pair. Then:

- **link** when a candidate reaches the link threshold and no hard rule forbids it. When the record
  links to several golden records (or to one besides its own), they are all the same customer: they
  are merged, the oldest surviving.
- **review** when the best candidate is uncertain: the record keeps (or gets) its own golden record
  and a match review is opened against that candidate.
- **new** otherwise.

Pairs a steward marked distinct are never linked automatically.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hub.domain.model import CleanRecord
from hub.domain.scoring import MatchModel, Score, decide, score


@dataclass(frozen=True)
class CandidateScore:
    """The best-scoring pair between the incoming record and one candidate golden record."""

    golden_id: str
    score: Score
    verdict: Literal["link", "review", "new"]
    distinct: bool = False

    def explanation(self) -> dict[str, Any]:
        """Return the candidate's evidence, JSON-ready."""
        return {
            "golden_id": self.golden_id,
            "verdict": self.verdict,
            "distinct": self.distinct,
            **self.score.explanation(),
        }


@dataclass(frozen=True)
class Decision:
    """Where a source record goes, which golden records merge, and which review opens."""

    outcome: Literal["link", "review", "new"]
    golden_id: str | None
    rule: str
    reason: str
    merge: tuple[str, ...] = ()
    review_against: CandidateScore | None = None
    candidates: tuple[CandidateScore, ...] = ()
    model_version: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)

    def explanation(self) -> dict[str, Any]:
        """Return the stored explanation: outcome, rule, candidates with their evidence, thresholds, model."""
        return {
            "outcome": self.outcome,
            "rule": self.rule,
            "reason": self.reason,
            "merged": list(self.merge),
            "review_against": None if self.review_against is None else self.review_against.golden_id,
            "candidates": [c.explanation() for c in self.candidates],
            "thresholds": self.thresholds,
            "model_version": self.model_version,
        }


def score_candidates(
    record: CleanRecord,
    candidates: Mapping[str, Sequence[CleanRecord]],
    model: MatchModel,
    distinct: Collection[str] = (),
) -> list[CandidateScore]:
    """Score the record against each candidate golden record, best candidate first."""
    scored: list[CandidateScore] = []
    for golden_id, records in candidates.items():
        pair_scores = [score(record, other, model) for other in records]
        if not pair_scores:
            continue
        best = max(pair_scores, key=lambda s: s.probability)
        # A conflict with any of the golden record's sources forbids the link, not just with the best one.
        hard_rule = next((s.hard_rule for s in pair_scores if s.hard_rule), None)
        if hard_rule is not None and best.hard_rule is None:
            best = replace(best, hard_rule=hard_rule)
        verdict = decide(best, model)
        is_distinct = golden_id in distinct
        if is_distinct and verdict == "link":
            verdict = "new"
        scored.append(CandidateScore(golden_id, best, verdict, is_distinct))
    return sorted(scored, key=lambda c: (-c.score.probability, c.golden_id))


def decide_match(
    record: CleanRecord,
    current_golden_id: str | None,
    candidates: Mapping[str, Sequence[CleanRecord]],
    model: MatchModel,
    distinct: Collection[str] = (),
    distinct_pairs: Collection[frozenset[str]] = (),
) -> Decision:
    """Decide where a source record belongs, given its current golden record and scored candidates.

    `distinct` are candidates a steward marked distinct from the current golden record; `distinct_pairs`
    any such pairs among the candidates, which a merge must not join either.
    """
    scored = score_candidates(record, candidates, model, distinct)
    thresholds = {"link": model.link_threshold, "review": model.review_threshold}
    common = {"candidates": tuple(scored), "model_version": model.version, "thresholds": thresholds}
    links = sorted(c.golden_id for c in scored if c.verdict == "link")
    group = sorted({*links, *([current_golden_id] if current_golden_id else [])}, key=_age)
    if group:
        survivor = group[0]
        merged = tuple(g for g in group[1:] if frozenset((survivor, g)) not in distinct_pairs)
        if current_golden_id and not links:
            rule, reason = "same_source_reference", "the source record is already attached"
        else:
            best = next(c for c in scored if c.verdict == "link")
            rule = "match_score"
            reason = f"match probability {best.score.probability:.6f} with {best.golden_id}"
            if merged:
                reason += f"; merges {', '.join(merged)} into {survivor}, the oldest"
        return Decision("link", survivor, rule, reason, merge=merged, **common)  # type: ignore[arg-type]
    reviews = [c for c in scored if c.verdict == "review"]
    if reviews:
        best = reviews[0]
        why = f" ({best.score.hard_rule} forbids a link)" if best.score.hard_rule else ""
        return Decision(
            "review",
            None,
            "uncertain_match",
            f"match probability {best.score.probability:.6f} with {best.golden_id} needs a steward{why}",
            review_against=best,
            **common,  # type: ignore[arg-type]
        )
    return Decision("new", None, "no_match", "no candidate reaches the review threshold", **common)  # type: ignore[arg-type]


def _age(golden_id: str) -> tuple[int, str]:
    """Order golden ids oldest first: they are allocated from a sequence, CUS-0000001 first."""
    digits = "".join(ch for ch in golden_id if ch.isdigit())
    return (int(digits) if digits else 0, golden_id)
