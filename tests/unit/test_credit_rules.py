"""Credit-status rules (SPEC 6), the four-eyes threshold, steward overrides and erasure, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.domain.credit import Exposure, credit_status, raise_needs_approval
from hub.domain.erasure import ERASED, personal_values, redact
from hub.domain.errors import InvalidValue
from hub.domain.overrides import Override, apply_overrides, parse_override
from hub.domain.survivorship import GoldenAttributes


def snapshot(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "active",
        "blacklisted": False,
        "credit": {"limit": "100000.00", "currency": "MYR", "check_limit": True, "payment_terms": "NET30"},
    }
    return {**base, **overrides}


def status_of(customer: dict[str, Any] | None, *exposures: Exposure, **kwargs: Any) -> Any:
    return credit_status(
        state=kwargs.pop("state", "active"),
        customer=customer,
        missing_master_data=kwargs.pop("missing", ()),
        exposures=exposures,
        suspected_blacklist_match=kwargs.pop("suspected", False),
        **kwargs,
    )


def myr(amount: str, account: str = "A") -> Exposure:
    return Exposure(account, Decimal(amount), None, "MYR")


def test_over_the_limit_with_check_limit_is_held_with_a_negative_available() -> None:
    status = status_of(snapshot(), myr("124000.00"))
    assert status.as_document()["available"] == "-24000.00"
    assert status.hold_reasons == ("over_limit",)


def test_over_the_limit_without_check_limit_is_not_held() -> None:
    credit = {"limit": "100000.00", "currency": "MYR", "check_limit": False}
    assert status_of(snapshot(credit=credit), myr("124000.00")).hold_reasons == ()


def test_exposure_in_another_currency_is_left_out_and_holds_as_a_mismatch() -> None:
    status = status_of(snapshot(), myr("1000.00"), Exposure("B", Decimal("5"), None, "USD"))
    assert (status.outstanding, status.hold_reasons) == (Decimal("1000.00"), ("currency_mismatch",))


def test_a_settled_account_in_another_currency_is_no_mismatch() -> None:
    status = status_of(snapshot(), myr("1000.00"), Exposure("B", Decimal("0.00"), None, "USD"))
    assert (status.outstanding, status.hold_reasons) == (Decimal("1000.00"), ())


def test_without_a_limit_exposure_in_one_currency_is_summed_and_in_several_cannot_be() -> None:
    no_credit = snapshot(credit=None)
    usd = Exposure("B", Decimal("300.00"), None, "USD")
    settled_sgd = Exposure("C", Decimal("0.00"), None, "SGD")
    alone = status_of(no_credit, myr("700.00"), settled_sgd)
    assert (alone.outstanding, alone.currency, alone.hold_reasons) == (Decimal("700.00"), None, ())
    mixed = status_of(no_credit, myr("700.00"), usd)
    assert (mixed.outstanding, mixed.hold_reasons) == (Decimal("0"), ("currency_mismatch",))


def test_an_erased_customer_is_inactive_and_shows_what_its_accounts_still_owe() -> None:
    erased = status_of(None, myr("700.00"), state="erased")
    assert (erased.outstanding, erased.credit_limit, erased.hold_reasons) == (
        Decimal("700.00"),
        None,
        ("inactive",),
    )
    retired = status_of(None, myr("700.00"), state="retired", survivor_id="CUS-0000001")
    assert (retired.outstanding, retired.survivor_id) == (
        Decimal("0"),
        "CUS-0000001",
    )  # booked on the survivor


def test_every_reason_is_listed_in_a_fixed_order() -> None:
    status = status_of(
        snapshot(blacklisted=True, status="suspended"), myr("200000"), missing=("tax_ids",), suspected=True
    )
    assert status.hold_reasons == (
        "blacklisted",
        "suspected_blacklist_match",
        "suspended",
        "incomplete_master_data",
        "over_limit",
    )


def test_a_prospect_is_not_held_for_incomplete_master_data() -> None:
    assert status_of(snapshot(status="prospect"), missing=("tax_ids",)).hold_reasons == ()


def test_without_a_credit_block_the_limit_fields_are_null_and_only_other_reasons_hold() -> None:
    document = status_of(snapshot(credit=None, status="inactive"), myr("10")).as_document()
    assert (document["credit_limit"], document["currency"], document["available"]) == (None, None, None)
    assert document["hold_reasons"] == ["inactive"]


def test_a_retired_customer_names_its_survivor() -> None:
    status = status_of(None, state="retired", survivor_id="CUS-0000001")
    assert (status.survivor_id, status.on_hold) == ("CUS-0000001", True)


@pytest.mark.parametrize(
    ("current", "proposed", "currency", "needed"),
    [
        ("100000", "150000", "MYR", False),  # raise of exactly the threshold
        ("100000", "150001", "MYR", True),
        ("100000", "50000", "MYR", False),  # lowering never needs a second person
        (None, "10", "EUR", True),  # no threshold configured for the currency
    ],
)
def test_a_raise_needs_a_second_person_only_above_the_currency_threshold(
    current: str | None, proposed: str, currency: str, needed: bool
) -> None:
    thresholds = {"MYR": Decimal("50000")}
    before = Decimal(current) if current else None
    assert raise_needs_approval(before, Decimal(proposed), currency, thresholds) is needed


def test_an_override_replaces_the_value_and_names_the_steward_in_lineage() -> None:
    attributes = GoldenAttributes(
        values={"legal_name": "A", "party_type": "organization"},
        lineage={},
        issues=(),
        missing=("legal_name",),
    )
    at = datetime(2026, 11, 23, tzinfo=UTC)
    result = apply_overrides(attributes, {"legal_name": Override("legal_name", "Acme Sdn Bhd", "ana", at)})
    assert result.values["legal_name"] == "Acme Sdn Bhd"
    assert (result.lineage["legal_name"].source, result.lineage["legal_name"].source_record_id) == (
        "steward",
        "ana",
    )


@pytest.mark.parametrize(
    ("attribute", "value", "code"),
    [
        ("status", "asleep", "invalid_override"),
        ("phones", ["0123"], "invalid_override"),
        ("credit.currency", "XYZ", "invalid_override"),
        ("credit.currency", "myr", "invalid_override"),
        ("nope", "x", "attribute_not_overridable"),
    ],
)
def test_an_invalid_override_is_refused_with_a_code(attribute: str, value: Any, code: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        parse_override(attribute, value)
    assert refused.value.code == code


def test_erasure_blanks_personal_values_wherever_they_appear_but_keeps_codes() -> None:
    values = personal_values(
        [
            {
                "first_name": "Wilhelmina",
                "emails": ["w@x.example"],
                "addresses": [{"kind": "home", "line1": "77 Cairnhill", "country": "SG"}],
            }
        ]
    )
    assert values == {"wilhelmina", "w@x.example", "77 cairnhill"}
    document = {"reason": "name 'WILHELMINA' vs 'Mina'", "level": 2, "country": "SG", "kind": "home"}
    assert redact(document, values) == {"reason": ERASED, "level": 2, "country": "SG", "kind": "home"}
