"""The Fellegi-Sunter match model as shipped in hub/match_model.toml: weights, probability, decisions."""

from __future__ import annotations

import copy
import math
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.domain.comparisons import DEFAULT_COMPARISONS
from hub.domain.errors import InvalidValue
from hub.domain.model import Address, CleanRecord, RawTaxId, SourceRecord
from hub.domain.normalise import normalise
from hub.domain.scoring import MatchModel, Score, decide, score

MODEL_FILE = Path(__file__).resolve().parents[2] / "hub" / "match_model.toml"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with MODEL_FILE.open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def model(config: dict[str, Any]) -> MatchModel:
    return MatchModel.from_mapping(config)


def clean(**fields: Any) -> CleanRecord:
    """Normalise a CRM source record made of `fields`."""
    return normalise(
        SourceRecord(
            source="crm", source_record_id="CRM-1", occurred_at=datetime(2024, 5, 1, tzinfo=UTC), **fields
        )
    )


def ravi(**fields: Any) -> CleanRecord:
    base: dict[str, Any] = {"party_type": "person", "first_name": "Ravi", "last_name": "Kumar"}
    return clean(**(base | fields))


SYDNEY = Address(line1="12 Main Street", postal_code="2000", city="Sydney", country="AU")
SYDNEY_OTHER_STREET = Address(line1="7 George Street", postal_code="2000", city="Sydney", country="AU")
DK_CVR = RawTaxId("dk_cvr", "13585628")


def outcome(record: CleanRecord, candidate: CleanRecord, model: MatchModel) -> str:
    return decide(score(record, candidate, model), model)


def test_the_shipped_model_loads_with_version_fs_1(model: MatchModel) -> None:
    assert model.version == "fs-2"
    assert 0 < model.review_threshold <= model.link_threshold < 1


def test_exact_name_date_of_birth_and_postcode_link(model: MatchModel) -> None:
    record = ravi(date_of_birth=date(1985, 3, 12), addresses=(SYDNEY,))
    candidate = ravi(date_of_birth=date(1985, 3, 12), addresses=(SYDNEY_OTHER_STREET,))

    result = score(record, candidate, model)

    levels = {r.comparison: r.level for r, _ in result.contributions}
    assert (levels["person_name"], levels["date_of_birth"], levels["address"]) == (
        "exact",
        "exact",
        "postcode",
    )
    assert decide(result, model) == "link"


def test_an_exact_name_alone_is_not_a_link(model: MatchModel) -> None:
    assert outcome(ravi(), ravi(), model) in {"review", "new"}


def test_a_shared_valid_identifier_alone_links(model: MatchModel) -> None:
    record = clean(legal_name="Acme Widgets A/S", tax_ids=(DK_CVR,))
    candidate = clean(legal_name="Zenith Trading", tax_ids=(RawTaxId("eu_vat", "DK13585628"),))

    result = score(record, candidate, model)

    assert result.probability >= model.link_threshold
    assert decide(result, model) == "link"


def test_a_shared_unverified_identifier_alone_does_not_link(model: MatchModel) -> None:
    record = clean(tax_ids=(RawTaxId("au_member", "123"),))
    candidate = clean(tax_ids=(RawTaxId("au_member", "123"),))

    assert outcome(record, candidate, model) != "link"


@pytest.mark.parametrize(
    ("description", "extra"),
    [
        ("otherwise identical", {"addresses": (SYDNEY,), "emails": ("ravi@example.com",)}),
        ("even with a shared valid identifier", {"tax_ids": (DK_CVR,), "phones": ("+4533123456",)}),
    ],
)
def test_different_dates_of_birth_never_link_two_persons(
    model: MatchModel, description: str, extra: dict[str, Any]
) -> None:
    record = ravi(date_of_birth=date(1985, 3, 12), **extra)
    candidate = ravi(date_of_birth=date(1971, 9, 2), **extra)

    result = score(record, candidate, model)

    assert result.hard_rule == "different_dates_of_birth", description
    assert decide(result, model) != "link", description


@pytest.mark.parametrize(
    ("description", "record", "candidate", "hard_rule"),
    [
        (
            "conflicting valid VAT numbers",
            {
                "legal_name": "Acme Widgets A/S",
                "emails": ("ap@acme.dk",),
                "addresses": (SYDNEY,),
                "tax_ids": (DK_CVR,),
            },
            {
                "legal_name": "Acme Widgets",
                "emails": ("ap@acme.dk",),
                "addresses": (SYDNEY,),
                "tax_ids": (RawTaxId("dk_cvr", "13585636"),),
            },
            "conflicting_valid_identifiers",
        ),
        (
            "different dates of birth of persons",
            {
                "party_type": "person",
                "last_name": "Kumar",
                "date_of_birth": date(1985, 3, 12),
                "tax_ids": (DK_CVR,),
            },
            {
                "party_type": "person",
                "last_name": "Kumar",
                "date_of_birth": date(1971, 9, 2),
                "tax_ids": (DK_CVR,),
            },
            "different_dates_of_birth",
        ),
    ],
)
def test_a_hard_rule_turns_a_would_be_link_into_a_review(
    model: MatchModel, description: str, record: dict[str, Any], candidate: dict[str, Any], hard_rule: str
) -> None:
    result = score(clean(**record), clean(**candidate), model)

    assert result.probability >= model.link_threshold, description
    assert result.hard_rule == hard_rule
    assert decide(result, model) == "review"


def test_different_dates_of_birth_do_not_forbid_a_link_of_organisations(model: MatchModel) -> None:
    record = clean(legal_name="Acme", date_of_birth=date(1985, 3, 12), tax_ids=(DK_CVR,))
    candidate = clean(legal_name="Acme", date_of_birth=date(1971, 9, 2), tax_ids=(DK_CVR,))

    assert score(record, candidate, model).hard_rule is None


def test_the_explanation_lists_every_comparison_with_level_weight_and_reason(model: MatchModel) -> None:
    record = ravi(date_of_birth=date(1985, 3, 12), emails=("ravi@example.com",))
    candidate = ravi(date_of_birth=date(1985, 3, 21), emails=("ravi@example.com",))

    explanation = score(record, candidate, model).explanation()

    rows = {row["comparison"]: row for row in explanation["comparisons"]}
    assert list(rows) == [c.name for c in DEFAULT_COMPARISONS]
    assert rows["date_of_birth"]["level"] == "one_digit_off"
    assert rows["date_of_birth"]["weight"] == pytest.approx(
        model.weight("date_of_birth", "one_digit_off"), abs=1e-3
    )
    assert "differ by one digit" in rows["date_of_birth"]["reason"]
    assert rows["phone"] == {
        "comparison": "phone",
        "level": "null",
        "weight": 0.0,
        "reason": "no phone on one side",
    }
    assert all(set(row) == {"comparison", "level", "weight", "reason"} for row in rows.values())
    assert set(explanation) >= {"total_weight", "probability", "hard_rule", "model_version", "prior_weight"}
    assert explanation["model_version"] == "fs-2"
    assert explanation["total_weight"] == pytest.approx(
        explanation["prior_weight"] + sum(row["weight"] for row in rows.values()), abs=1e-2
    )


def test_the_probability_follows_the_prior_and_the_sum_of_weights(model: MatchModel) -> None:
    result = score(ravi(), ravi(), model)

    expected_total = math.log2(model.prior / (1 - model.prior)) + math.log2(
        model.m["person_name"]["exact"] / model.u["person_name"]["exact"]
    )
    assert result.total_weight == pytest.approx(expected_total)
    assert result.probability == pytest.approx(1 / (1 + 2**-expected_total))


def test_decide_reviews_between_the_thresholds_and_creates_below(model: MatchModel) -> None:
    def at(probability: float, hard_rule: str | None = None) -> str:
        return decide(Score(probability, 0.0, (), hard_rule), model)

    assert at(model.link_threshold) == "link"
    assert at(model.link_threshold, "conflicting_valid_identifiers") == "review"
    assert at(model.review_threshold) == "review"
    assert at(model.review_threshold / 2) == "new"


def test_a_common_name_weighs_less_than_a_rare_one_with_term_frequencies(model: MatchModel) -> None:
    def frequency_of(share: float) -> float:
        return score(ravi(), ravi(), model, term_frequency=lambda comparison, value: share).contributions[0][
            1
        ]

    plain = score(ravi(), ravi(), model).contributions[0][1]

    assert frequency_of(0.01) < plain < frequency_of(0.000001)
    assert frequency_of(0.000001) == pytest.approx(
        math.log2(model.m["person_name"]["exact"] / model.tf_minimum_u)
    )


@pytest.mark.parametrize(
    ("description", "change", "path"),
    [
        (
            "an unknown level",
            lambda c: c["comparisons"]["email"].update(fuzzy={"m": 0.1, "u": 0.1}),
            "email.fuzzy",
        ),
        ("an m of zero", lambda c: c["comparisons"]["phone"]["exact"].update(m=0), "phone.exact.m"),
        ("a u above one", lambda c: c["comparisons"]["phone"]["exact"].update(u=1.5), "phone.exact.u"),
        ("a missing level", lambda c: c["comparisons"]["address"].pop("city"), "address.city"),
        ("a missing comparison", lambda c: c["comparisons"].pop("identifier"), "comparisons.identifier"),
        ("an unknown comparison", lambda c: c["comparisons"].update(shoe_size={}), "comparisons.shoe_size"),
        (
            "a weight for the null level",
            lambda c: c["comparisons"]["email"].update(null={"m": 1, "u": 1}),
            "null",
        ),
        ("review above link", lambda c: c.update(review_threshold=0.9999), "review_threshold"),
    ],
)
def test_the_model_rejects_an_invalid_configuration_with_the_offending_path(
    config: dict[str, Any], description: str, change: Any, path: str
) -> None:
    broken = copy.deepcopy(config)
    change(broken)

    with pytest.raises(InvalidValue) as error:
        MatchModel.from_mapping(broken)

    assert error.value.code == "invalid_match_model"
    assert path in error.value.message, description


def test_a_record_matching_two_golden_records_a_steward_kept_apart_links_to_one_and_merges_nothing(
    model: MatchModel,
) -> None:
    from hub.domain.matching import decide_match

    def full() -> CleanRecord:
        return ravi(date_of_birth=date(1980, 3, 14), addresses=(SYDNEY,))

    decision = decide_match(
        full(),
        None,
        {"CUS-0000001": [full()], "CUS-0000002": [full()]},
        model,
        distinct_pairs={frozenset(("CUS-0000001", "CUS-0000002"))},
    )
    assert (decision.outcome, decision.golden_id, decision.merge) == ("link", "CUS-0000001", ())
