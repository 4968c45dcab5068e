"""The gate's question, answered from the local projection alone: it works while the hub or broker is down."""

from __future__ import annotations

from decimal import Decimal

from consumers.sales_credit_gate.decisions import SaleDecision, SaleRequest, decide_sale, follow_retirements
from consumers.sales_credit_gate.store import ProjectionStore


class CreditGate:
    """Answer "may we sell this amount to this customer now?" from the projection."""

    def __init__(self, store: ProjectionStore) -> None:
        self.store = store

    def may_sell(self, golden_id: str, amount: Decimal, currency: str) -> SaleDecision:
        """Decide a sale to a customer, following a retired id to its survivor.

        Raises ValueError when the amount is not positive or the currency is not an ISO 4217 code.
        """
        request = SaleRequest(golden_id.strip(), amount, currency.strip().upper())
        with self.store.reading() as projection:
            resolved = follow_retirements(request.golden_id, projection.survivor_of)
            return decide_sale(request, resolved, projection.status(resolved))
