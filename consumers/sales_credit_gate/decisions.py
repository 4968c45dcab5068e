"""May we sell amount X in currency C to customer Y now? The rules, pure: no I/O.

Each rule is a small named function that returns the reasons it refuses (none when it has no objection),
so a refusal lists every reason at once and a salesperson sees the whole picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from contracts.outbound import CreditStatusEvent

UNKNOWN_CUSTOMER = "unknown_customer"
CURRENCY_MISMATCH = "currency_mismatch"
OVER_LIMIT = "over_limit"


@dataclass(frozen=True)
class SaleRequest:
    """Ask to sell an amount in a currency to the customer a golden id names."""

    golden_id: str
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not self.amount.is_finite() or self.amount <= 0:
            raise ValueError(f"the amount must be a positive number, not {self.amount}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"the currency must be an ISO 4217 code such as MYR, not {self.currency!r}")


@dataclass(frozen=True)
class SaleDecision:
    """Say whether the sale may go ahead, and why not; `golden_id` is the survivor the request resolved to."""

    allowed: bool
    reasons: list[str]
    requested_id: str
    golden_id: str
    available: Decimal | None
    currency: str | None
    status_version: int | None
    as_of: datetime | None


Rule = Callable[[SaleRequest, CreditStatusEvent], list[str]]


def refuse_customer_on_hold(request: SaleRequest, status: CreditStatusEvent) -> list[str]:
    """Refuse a customer on credit hold, for each hold reason the hub gave."""
    return list(status.hold_reasons)


def refuse_other_currency_than_the_limit(request: SaleRequest, status: CreditStatusEvent) -> list[str]:
    """Refuse a sale in another currency than the credit limit: amounts are never converted silently."""
    if status.credit_limit is not None and request.currency != status.currency:
        return [CURRENCY_MISMATCH]
    return []


def refuse_sale_beyond_available_credit(request: SaleRequest, status: CreditStatusEvent) -> list[str]:
    """Refuse a sale larger than the credit still available, when the limit is enforced."""
    comparable = status.available is not None and request.currency == status.currency
    if status.check_limit and comparable and request.amount > (status.available or Decimal(0)):
        return [OVER_LIMIT]
    return []


RULES: tuple[Rule, ...] = (
    refuse_customer_on_hold,
    refuse_other_currency_than_the_limit,
    refuse_sale_beyond_available_credit,
)


def decide_sale(request: SaleRequest, resolved_id: str, status: CreditStatusEvent | None) -> SaleDecision:
    """Decide a sale from the survivor's credit status; no status means an unknown customer."""
    if status is None:
        return SaleDecision(False, [UNKNOWN_CUSTOMER], request.golden_id, resolved_id, None, None, None, None)
    reasons: list[str] = []
    for rule in RULES:
        reasons.extend(reason for reason in rule(request, status) if reason not in reasons)
    return SaleDecision(
        allowed=not reasons,
        reasons=reasons,
        requested_id=request.golden_id,
        golden_id=resolved_id,
        available=status.available,
        currency=status.currency,
        status_version=status.version,
        as_of=status.as_of,
    )


def follow_retirements(golden_id: str, survivor_of: Callable[[str], str | None], max_hops: int = 100) -> str:
    """Follow a retired id to its survivor, and on through later merges of the survivor."""
    current, seen = golden_id, {golden_id}
    for _ in range(max_hops):
        survivor = survivor_of(current)
        if survivor is None or survivor in seen:
            # A loop cannot come from the hub (ids are never reused); stop rather than spin.
            return current
        seen.add(survivor)
        current = survivor
    return current
