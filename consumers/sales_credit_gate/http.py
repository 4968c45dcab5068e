"""The gate over HTTP: `GET /may-sell` and `GET /healthz`, both answered from the projection alone."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from consumers.sales_credit_gate.gate import CreditGate

AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


class SaleDecisionPublic(BaseModel):
    """The answer to one sale: allowed or not, why, and the credit it was judged against."""

    allowed: bool
    reasons: list[str] = Field(
        description="Empty when allowed; hold reasons, currency_mismatch, over_limit, ..."
    )
    customer: str = Field(description="The golden id asked about.")
    golden_id: str = Field(description="The customer decided for: the survivor when the id asked is retired.")
    available: str | None = Field(
        description="Credit still available, a decimal string; null without a limit."
    )
    currency: str | None = Field(description="The currency of the credit limit.")
    status_version: int | None = Field(description="The credit-status version the answer is based on.")
    as_of: datetime | None = Field(description="When the hub computed that credit status.")


class Health(BaseModel):
    """Liveness, and how much the projection holds."""

    status: str
    customers: int


def create_app(gate: CreditGate) -> FastAPI:
    """Build the HTTP app around a gate."""
    app = FastAPI(title="Sales credit gate", description="May we sell amount X to customer Y now?")

    @app.get("/may-sell", response_model=SaleDecisionPublic)
    def may_sell(
        customer: Annotated[str, Query(min_length=1, description="The customer's golden id.")],
        amount: Annotated[str, Query(pattern=AMOUNT_PATTERN, description="A decimal string: 1000.00")],
        currency: Annotated[str, Query(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. MYR")],
    ) -> SaleDecisionPublic:
        """Decide one sale."""
        try:
            decision = gate.may_sell(customer, Decimal(amount), currency)
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        return SaleDecisionPublic(
            allowed=decision.allowed,
            reasons=decision.reasons,
            customer=decision.requested_id,
            golden_id=decision.golden_id,
            available=None if decision.available is None else format(decision.available, "f"),
            currency=decision.currency,
            status_version=decision.status_version,
            as_of=decision.as_of,
        )

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        """Say the gate is alive; it answers from its projection even while the broker is away."""
        with gate.store.reading() as projection:
            return Health(status="ok", customers=projection.count_statuses())

    return app
