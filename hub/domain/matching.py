"""Match decisions: which golden record a clean source record belongs to, and why.

This is the deterministic linker of the walking skeleton: a record stays with the golden record of
its source reference, else links to a golden record that shares a valid tax or registration id,
else founds a new one. The probabilistic comparisons and reviews plug in behind `Decision`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hub.domain.model import CleanRecord

MODEL_VERSION = "deterministic-1"


@dataclass(frozen=True)
class Decision:
    """Where a source record goes: an existing golden record (`link`) or a new one (`new`)."""

    outcome: Literal["link", "new"]
    golden_id: str | None
    rule: str
    reason: str
    candidates: tuple[str, ...] = ()

    def explanation(self) -> dict[str, Any]:
        """Return the stored explanation: outcome, rule, reason, candidates, model version."""
        return {
            "outcome": self.outcome,
            "rule": self.rule,
            "reason": self.reason,
            "candidates": list(self.candidates),
            "model_version": MODEL_VERSION,
        }


def decide_deterministic(
    record: CleanRecord, current_golden_id: str | None, identifier_matches: Sequence[str]
) -> Decision:
    """Decide by source reference, then by a shared valid identifier; otherwise a new golden record.

    When the identifiers point at several golden records the oldest wins; merging the others into it
    is the matching engine's job (the next step), not the skeleton's.
    """
    candidates = tuple(identifier_matches)
    if current_golden_id is not None:
        return Decision(
            "link",
            current_golden_id,
            "same_source_reference",
            "the source record is already attached",
            candidates,
        )
    if candidates:
        shared = ", ".join(record.identifier_keys)
        return Decision(
            "link",
            candidates[0],
            "shared_valid_identifier",
            f"shares a valid identifier ({shared})",
            candidates,
        )
    return Decision(
        "new", None, "no_candidate", "no golden record shares a source reference or valid identifier"
    )
