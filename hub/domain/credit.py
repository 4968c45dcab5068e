"""Credit status (SPEC 6): may sales sell to this customer now, and if not, every reason why.

Money is Decimal. Exposure in another currency than the limit is never converted: it holds the
customer as `currency_mismatch` and is left out of `outstanding`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

HOLD_ORDER = (
    "blacklisted",
    "suspected_blacklist_match",
    "suspended",
    "inactive",
    "incomplete_master_data",
    "currency_mismatch",
    "over_limit",
)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Exposure:
    """What one AR account owes: the full outstanding balance as of a time."""

    account_id: str
    outstanding: Decimal
    overdue: Decimal | None
    currency: str


@dataclass(frozen=True)
class CreditStatus:
    """A customer's credit status, the payload of `mdm.customer-credit-status.v1` less its envelope."""

    credit_limit: Decimal | None
    currency: str | None
    check_limit: bool
    outstanding: Decimal
    available: Decimal | None
    hold_reasons: tuple[str, ...]
    payment_terms: str | None
    survivor_id: str | None = None

    @property
    def on_hold(self) -> bool:
        """Held exactly when there is a reason."""
        return bool(self.hold_reasons)

    def as_document(self) -> dict[str, Any]:
        """Render as the JSON the event carries (money as two-decimal strings)."""
        return {
            "credit_limit": _money(self.credit_limit),
            "currency": self.currency,
            "check_limit": self.check_limit,
            "outstanding": _money(self.outstanding),
            "available": _money(self.available),
            "on_hold": self.on_hold,
            "hold_reasons": list(self.hold_reasons),
            "payment_terms": self.payment_terms,
            "survivor_id": self.survivor_id,
        }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.01')):.2f}"


def _outstanding(exposures: Sequence[Exposure], currency: str | None) -> tuple[Decimal, bool]:
    """Sum the exposure in the customer's currency; report whether any is owed in another currency.

    A settled account (nothing outstanding) in another currency owes nothing to convert: no mismatch.
    """
    owing = [e for e in exposures if e.outstanding != ZERO]
    if currency is None:
        if len({e.currency for e in owing}) > 1:
            return ZERO, True
        return sum((e.outstanding for e in owing), ZERO), False
    matching = [e.outstanding for e in owing if e.currency == currency]
    return sum(matching, ZERO), len(matching) != len(owing)


def credit_status(
    *,
    state: str,
    customer: Mapping[str, Any] | None,
    missing_master_data: Iterable[str],
    exposures: Sequence[Exposure],
    suspected_blacklist_match: bool,
    survivor_id: str | None = None,
) -> CreditStatus:
    """Compute the credit status of a golden record from its snapshot, its exposure and its alerts."""
    if state == "erased":
        # the tombstone keeps the AR accounts that name it: what they still owe is shown, not sold against
        owed, _ = _outstanding(exposures, None)
        return CreditStatus(None, None, False, owed, None, ("inactive",), None, None)
    if state == "retired" or customer is None:
        return CreditStatus(None, None, False, ZERO, None, ("inactive",), None, survivor_id)
    credit = customer.get("credit") or {}
    limit = Decimal(credit["limit"]) if credit.get("limit") is not None else None
    currency = credit.get("currency") if limit is not None else None
    check_limit = bool(credit.get("check_limit")) and limit is not None
    outstanding, mismatch = _outstanding(exposures, currency)
    available = None if limit is None else limit - outstanding

    reasons: set[str] = set()
    if customer.get("blacklisted"):
        reasons.add("blacklisted")
    if suspected_blacklist_match:
        reasons.add("suspected_blacklist_match")
    status = customer.get("status")
    if status == "suspended":
        reasons.add("suspended")
    if status == "inactive" or state == "deactivated":
        reasons.add("inactive")
    if status != "prospect" and list(missing_master_data):
        reasons.add("incomplete_master_data")
    if mismatch:
        reasons.add("currency_mismatch")
    if check_limit and available is not None and available < 0:
        reasons.add("over_limit")
    return CreditStatus(
        credit_limit=limit,
        currency=currency,
        check_limit=check_limit,
        outstanding=outstanding,
        available=available,
        hold_reasons=tuple(r for r in HOLD_ORDER if r in reasons),
        payment_terms=credit.get("payment_terms"),
        survivor_id=survivor_id,
    )


#: Raises of one customer's limit within this window add up against the threshold, so that a raise cut
#: into steps below it still needs a second person. A raise a second person approved starts afresh.
RAISE_WINDOW = timedelta(hours=24)


def raise_needs_approval(
    current_limit: Decimal | None, proposed_limit: Decimal, currency: str, thresholds: Mapping[str, Decimal]
) -> bool:
    """Tell whether a credit-limit change needs a second person: a raise above the currency's threshold.

    A currency with no configured threshold always needs one: unknown money is not waved through.
    """
    raise_by = proposed_limit - (current_limit or ZERO)
    if raise_by <= 0:
        return False
    threshold = thresholds.get(currency)
    return threshold is None or raise_by > threshold
