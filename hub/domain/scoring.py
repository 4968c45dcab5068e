"""The Fellegi-Sunter match model: comparison levels in, a match probability and a decision out.

Each comparison level has an m probability (how often a true match reaches it) and a u probability
(how often two different customers do). Its match weight is the log2 Bayes factor log2(m/u); the
"null" level weighs 0. The match weight of a pair is the prior's log2 odds plus the weights of its
levels, and its match probability is 1 / (1 + 2^-weight).

Hard rules forbid an automatic link whatever the probability: such a pair goes to a steward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from hub.domain.comparisons import DEFAULT_COMPARISONS, NULL, Comparison, ComparisonResult
from hub.domain.errors import InvalidValue
from hub.domain.model import CleanRecord

Outcome = Literal["link", "review", "new"]

#: Return how common a compared value is among all records (0..1), or None when unknown.
TermFrequency = Callable[[str, str], float | None]

#: Comparisons whose exact level's weight a term frequency may adjust: a shared rare name says more.
TERM_FREQUENCY_COMPARISONS: frozenset[str] = frozenset({"person_name", "organisation_name"})


@dataclass(frozen=True)
class HardRule:
    """Forbid an automatic link when a comparison reaches one of `levels` (for persons only, if so set)."""

    name: str
    comparison: str
    levels: frozenset[str]
    persons_only: bool = False

    def forbids(self, record: CleanRecord, candidate: CleanRecord, result: ComparisonResult) -> bool:
        """Return whether this rule forbids linking the pair, given its result for `comparison`."""
        if result.comparison != self.comparison or result.level not in self.levels:
            return False
        return not self.persons_only or (record.party_type == "person" and candidate.party_type == "person")


#: Two valid ids of one family that differ are two legal entities; two birth dates, two people.
HARD_RULES: tuple[HardRule, ...] = (
    HardRule("conflicting_valid_identifiers", "identifier", frozenset({"conflict"})),
    HardRule("different_dates_of_birth", "date_of_birth", frozenset({"different"}), persons_only=True),
)


def _invalid(path: str, message: str) -> InvalidValue:
    return InvalidValue("invalid_match_model", f"match model: {path}: {message}")


def _probability(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(path, f"{value!r} is not a number")
    number = float(value)
    if not 0.0 < number <= 1.0:
        raise _invalid(path, f"{number} is not a probability in (0, 1]")
    return number


@dataclass(frozen=True)
class MatchModel:
    """Hold the prior, the m and u probabilities of every comparison level, and the decision thresholds."""

    version: str
    prior: float
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    link_threshold: float
    review_threshold: float
    #: The smallest term frequency used, so one rare name cannot outweigh everything else.
    tf_minimum_u: float = 1e-5

    @classmethod
    def from_mapping(
        cls, config: Mapping[str, Any], comparisons: Sequence[Comparison] = DEFAULT_COMPARISONS
    ) -> MatchModel:
        """Build the model from a parsed configuration file, rejecting unknown or missing levels.

        The file has `version`, `prior`, `link_threshold`, `review_threshold`, optional
        `tf_minimum_u`, and `[comparisons.<name>]` tables of `<level> = { m = ..., u = ... }` for
        every level but "null" of every comparison.
        """
        version = config.get("version")
        if not isinstance(version, str) or not version:
            raise _invalid("version", "a non-empty string is required")
        prior = _probability(config.get("prior"), "prior")
        if prior >= 1.0:
            raise _invalid("prior", "must be below 1")
        link = _probability(config.get("link_threshold"), "link_threshold")
        review = _probability(config.get("review_threshold"), "review_threshold")
        if review > link:
            raise _invalid("review_threshold", f"{review} is above link_threshold {link}")
        tf_minimum_u = _probability(config.get("tf_minimum_u", 1e-5), "tf_minimum_u")

        known = {c.name: c.levels for c in comparisons}
        configured = config.get("comparisons")
        if not isinstance(configured, Mapping):
            raise _invalid("comparisons", "a table of comparisons is required")
        for name in configured:
            if name not in known:
                raise _invalid(f"comparisons.{name}", f"unknown comparison; use one of {', '.join(known)}")
        m: dict[str, dict[str, float]] = {}
        u: dict[str, dict[str, float]] = {}
        for name, levels in known.items():
            table = configured.get(name)
            if not isinstance(table, Mapping):
                raise _invalid(f"comparisons.{name}", "missing; every comparison needs its levels")
            for level in table:
                if level == NULL:
                    raise _invalid(f"comparisons.{name}.{level}", "the null level always weighs 0; remove it")
                if level not in levels:
                    raise _invalid(
                        f"comparisons.{name}.{level}", f"unknown level; use one of {', '.join(levels)}"
                    )
            m[name], u[name] = {}, {}
            for level in levels:
                if level == NULL:
                    continue
                entry = table.get(level)
                if not isinstance(entry, Mapping):
                    raise _invalid(f"comparisons.{name}.{level}", "missing; give it m and u")
                m[name][level] = _probability(entry.get("m"), f"comparisons.{name}.{level}.m")
                u[name][level] = _probability(entry.get("u"), f"comparisons.{name}.{level}.u")
        return cls(
            version=version,
            prior=prior,
            m=m,
            u=u,
            link_threshold=link,
            review_threshold=review,
            tf_minimum_u=tf_minimum_u,
        )

    @property
    def prior_weight(self) -> float:
        """Return the prior's log2 odds, where every pair's match weight starts."""
        return math.log2(self.prior / (1.0 - self.prior))

    def weight(self, comparison: str, level: str) -> float:
        """Return a level's match weight, log2(m/u); 0 for the null level."""
        if level == NULL:
            return 0.0
        try:
            return math.log2(self.m[comparison][level] / self.u[comparison][level])
        except KeyError as exc:
            raise _invalid(f"comparisons.{comparison}.{level}", "not in the model") from exc


def _logistic(weight: float) -> float:
    # 2.0 ** 1100 overflows a float; beyond +-1000 the probability is 0 or 1 anyway.
    return 1.0 / (1.0 + math.pow(2.0, -max(-1000.0, min(1000.0, weight))))


@dataclass(frozen=True)
class Score:
    """The evidence of one pair: each comparison's result and weight, the total and the probability.

    `total_weight` includes the prior's log2 odds, so `probability` is 1 / (1 + 2^-total_weight).
    `hard_rule` names the rule that forbids an automatic link, if one does.
    """

    probability: float
    total_weight: float
    contributions: tuple[tuple[ComparisonResult, float], ...]
    hard_rule: str | None
    prior_weight: float = 0.0
    model_version: str = ""

    def explanation(self) -> dict[str, Any]:
        """Return the JSON-ready breakdown: every comparison's level, weight and reason, and the totals."""
        return {
            "model_version": self.model_version,
            "comparisons": [
                {
                    "comparison": result.comparison,
                    "level": result.level,
                    "weight": round(weight, 4),
                    "reason": result.reason,
                }
                for result, weight in self.contributions
            ],
            "prior_weight": round(self.prior_weight, 4),
            "total_weight": round(self.total_weight, 4),
            "probability": self.probability,
            "hard_rule": self.hard_rule,
        }


def score(
    record: CleanRecord,
    candidate: CleanRecord,
    model: MatchModel,
    comparisons: Sequence[Comparison] = DEFAULT_COMPARISONS,
    *,
    term_frequency: TermFrequency | None = None,
    hard_rules: Sequence[HardRule] = HARD_RULES,
) -> Score:
    """Compare a source record with a candidate, weigh every level and apply the hard rules.

    With `term_frequency`, the exact level of a name comparison weighs log2(m / tf) instead of
    log2(m / u), tf being the share of records with that name (never below the model's
    `tf_minimum_u`): a shared "Smith" says less than a shared "Oyelaran-Quist".
    """
    contributions: list[tuple[ComparisonResult, float]] = []
    hard_rule: str | None = None
    for comparison in comparisons:
        result = comparison.compare(record, candidate)
        weight = model.weight(result.comparison, result.level)
        if (
            term_frequency is not None
            and result.value is not None
            and result.level == "exact"
            and result.comparison in TERM_FREQUENCY_COMPARISONS
        ):
            frequency = term_frequency(result.comparison, result.value)
            if frequency is not None:
                adjusted = max(frequency, model.tf_minimum_u)
                weight = math.log2(model.m[result.comparison][result.level] / adjusted)
                result = replace(result, reason=f"{result.reason}; {frequency:.2%} of records share it")
        contributions.append((result, weight))
        if hard_rule is None:
            hard_rule = next((r.name for r in hard_rules if r.forbids(record, candidate, result)), None)
    total = model.prior_weight + sum(weight for _, weight in contributions)
    return Score(
        probability=_logistic(total),
        total_weight=total,
        contributions=tuple(contributions),
        hard_rule=hard_rule,
        prior_weight=model.prior_weight,
        model_version=model.version,
    )


def decide(score: Score, model: MatchModel) -> Outcome:
    """Decide link, review or new: a hard rule turns a would-be link into a review."""
    if score.probability >= model.link_threshold and score.hard_rule is None:
        return "link"
    if score.probability >= model.review_threshold or score.probability >= model.link_threshold:
        return "review"
    return "new"
