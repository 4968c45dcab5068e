"""Tax and registration identifiers: stdnum validation, canonical keys, the GSTIN state check."""

from __future__ import annotations

import pytest

from hub.domain.errors import InvalidValue
from hub.domain.identifiers import normalise_tax_id, search_keys
from hub.domain.india import gst_state_codes
from hub.domain.model import RawTaxId, TaxId

NO_STATES: frozenset[str] = frozenset()


def _normalise(scheme: str | None, value: str, *, country: str | None = None) -> TaxId:
    return normalise_tax_id(RawTaxId(scheme, value), default_country=country, india_state_codes=NO_STATES)


@pytest.mark.parametrize(
    ("description", "scheme", "value"),
    [
        ("the national CVR scheme", "dk_cvr", "13585628"),
        ("the EU VAT scheme with its prefix", "eu_vat", "DK13585628"),
        ("the EU VAT scheme spaced out", "eu_vat", "DK 13 58 56 28"),
        ("no scheme, read by its prefix", None, "DK13585628"),
        ("stdnum's dk_vat alias of the CVR", "dk_vat", "13585628"),
    ],
)
def test_the_same_vat_number_written_three_ways_has_one_key(
    description: str, scheme: str | None, value: str
) -> None:
    assert _normalise(scheme, value).key == "DK:vat:13585628", description


@pytest.mark.parametrize(
    ("description", "scheme", "value", "expected"),
    [
        (
            "eu_vat keeps its country prefix in the value",
            "eu_vat",
            "DK 13 58 56 28",
            TaxId("eu_vat", "DK13585628", True, "DK:vat:13585628"),
        ),
        (
            "gb_vat drops the GB prefix",
            "gb_vat",
            "GB 980 7806 84",
            TaxId("gb_vat", "980780684", True, "GB:vat:980780684"),
        ),
        (
            "a Northern Ireland XI number is a UK VAT number",
            "eu_vat",
            "XI 980 7806 84",
            TaxId("eu_vat", "XI980780684", True, "GB:vat:980780684"),
        ),
        (
            "an eu_vat GB number is read as gb_vat, since stdnum's eu_vat dropped GB",
            "eu_vat",
            "GB980780684",
            TaxId("gb_vat", "980780684", True, "GB:vat:980780684"),
        ),
        (
            "a Greek EL number keys under GR",
            "eu_vat",
            "EL 094259216",
            TaxId("eu_vat", "EL094259216", True, "GR:vat:094259216"),
        ),
        (
            "the Dutch BTW scheme is a VAT number",
            "nl_btw",
            "NL004495445B01",
            TaxId("nl_btw", "004495445B01", True, "NL:vat:004495445B01"),
        ),
        (
            "a GSTIN keeps its own family",
            "in_gstin",
            "27AAPFU0939F1ZV",
            TaxId("in_gstin", "27AAPFU0939F1ZV", True, "IN:gstin:27AAPFU0939F1ZV"),
        ),
        ("a PAN", "in_pan", "ACUPA7085R", TaxId("in_pan", "ACUPA7085R", True, "IN:pan:ACUPA7085R")),
        ("a Singapore UEN", "sg_uen", "53312786J", TaxId("sg_uen", "53312786J", True, "SG:uen:53312786J")),
        (
            "a Singapore UEN sent as stdnum's sg_vat alias",
            "sg_vat",
            "53312786J",
            TaxId("sg_vat", "53312786J", True, "SG:uen:53312786J"),
        ),
        (
            "a Malaysian NRIC loses its dashes",
            "my_nric",
            "770305-02-1234",
            TaxId("my_nric", "770305021234", True, "MY:nric:770305021234"),
        ),
        ("a US EIN", "us_ein", "04-2103594", TaxId("us_ein", "042103594", True, "US:ein:042103594")),
        ("a Danish CPR", "dk_cpr", "211062-5629", TaxId("dk_cpr", "2110625629", True, "DK:cpr:2110625629")),
        (
            "a Norwegian organisation number",
            "no_orgnr",
            "988 077 917",
            TaxId("no_orgnr", "988077917", True, "NO:orgnr:988077917"),
        ),
        (
            "a scheme in capitals",
            "IN_PAN",
            " acupa7085r ",
            TaxId("in_pan", "ACUPA7085R", True, "IN:pan:ACUPA7085R"),
        ),
    ],
)
def test_a_valid_identifier_is_compacted_and_keyed_by_country_family_and_number(
    description: str, scheme: str, value: str, expected: TaxId
) -> None:
    assert _normalise(scheme, value) == expected, description


@pytest.mark.parametrize(
    ("description", "scheme", "value", "expected"),
    [
        (
            "a scheme stdnum has no module for",
            "xx_companyreg",
            "ab-12.34/5 6",
            TaxId("xx_companyreg", "AB123456", None, "xx_companyreg:AB123456"),
        ),
        (
            "a country stdnum knows, a number it does not",
            "sg_nric",
            "S1234567D",
            TaxId("sg_nric", "S1234567D", None, "sg_nric:S1234567D"),
        ),
        (
            "a scheme that is no stdnum name at all",
            "duns",
            "15-048-3782",
            TaxId("duns", "150483782", None, "duns:150483782"),
        ),
        (
            "a VAT number without scheme whose prefix is not European",
            None,
            "CHE-116.281.710 MWST",
            TaxId("vat", "CHE116281710MWST", None, "vat:CHE116281710MWST"),
        ),
        (
            "a VAT number without scheme or prefix, billed in a country without a VAT scheme",
            None,
            "12345678",
            TaxId("vat", "12345678", None, "vat:12345678"),
        ),
    ],
)
def test_an_identifier_stdnum_does_not_know_is_kept_unverified(
    description: str, scheme: str | None, value: str, expected: TaxId
) -> None:
    assert _normalise(scheme, value, country="US") == expected, description


@pytest.mark.parametrize(
    ("description", "value", "country", "expected_key"),
    [
        ("an EU prefix wins over the billing country", "DE136695976", "SG", "DE:vat:136695976"),
        ("a GB prefix is read as gb_vat", "GB980780684", None, "GB:vat:980780684"),
        ("a bare number takes the billing country's prefix", "13585628", "DK", "DK:vat:13585628"),
        ("a bare number in Greece takes the EL prefix", "094259216", "GR", "GR:vat:094259216"),
        ("a bare number in the UK is a UK VAT number", "980 7806 84", "GB", "GB:vat:980780684"),
    ],
)
def test_a_vat_number_without_scheme_is_read_by_prefix_else_billing_country(
    description: str, value: str, country: str | None, expected_key: str
) -> None:
    assert _normalise(None, value, country=country).key == expected_key, description


@pytest.mark.parametrize(
    ("description", "scheme", "value"),
    [
        ("a CVR with a wrong check digit", "dk_cvr", "13585627"),
        ("an EU VAT number with a wrong check digit", "eu_vat", "DK13585627"),
        ("a GB VAT number with a wrong check digit", "gb_vat", "802311781"),
        ("a PAN of the wrong length", "in_pan", "ACUPA7085RR"),
        ("an NRIC with an impossible birth date", "my_nric", "771305-02-1234"),
        ("an EIN with an unused prefix", "us_ein", "07-1144442"),
        ("a GSTIN with a wrong check character", "in_gstin", "27AAPFU0939F1ZO"),
        ("a prefixed VAT number without scheme and a wrong check digit", None, "DK13585627"),
    ],
)
def test_an_identifier_that_fails_its_checks_is_invalid(
    description: str, scheme: str | None, value: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        _normalise(scheme, value)
    assert raised.value.code == "invalid_tax_id", description
    assert raised.value.message


GSTIN_KARNATAKA = "29ACUPA7085R1ZH"


@pytest.mark.parametrize(
    ("description", "state"),
    [
        ("a state name", "Karnataka"),
        ("a state name in another case", "  KARNATAKA "),
        ("an ISO 3166-2 code", "IN-KA"),
        ("an ISO 3166-2 code without the country", "KA"),
        ("the two-digit GST code", "29"),
    ],
)
def test_a_gstin_whose_state_code_agrees_with_the_address_state_is_valid(
    description: str, state: str
) -> None:
    tax_id = normalise_tax_id(
        RawTaxId("in_gstin", GSTIN_KARNATAKA), default_country="IN", india_state_codes=gst_state_codes(state)
    )
    assert tax_id.valid is True, description


@pytest.mark.parametrize(
    ("description", "state"),
    [
        ("a state name", "Maharashtra"),
        ("an ISO 3166-2 code", "IN-TN"),
        ("the two-digit GST code", "07"),
    ],
)
def test_a_gstin_whose_state_code_disagrees_with_the_address_state_is_invalid(
    description: str, state: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        normalise_tax_id(
            RawTaxId("in_gstin", GSTIN_KARNATAKA),
            default_country="IN",
            india_state_codes=gst_state_codes(state),
        )
    assert raised.value.code == "invalid_tax_id", description
    assert "disagrees with the address state" in raised.value.message


@pytest.mark.parametrize(
    ("description", "state", "expected"),
    [
        ("a name with an ampersand", "Jammu & Kashmir", {"01"}),
        ("an old name", "Orissa", {"21"}),
        ("an ISO code from before the 2020 update", "IN-CT", {"22"}),
        ("a merged territory accepts both old codes", "IN-DH", {"25", "26"}),
        ("Andhra Pradesh accepts the undivided state's code", "Andhra Pradesh", {"28", "37"}),
        ("unknown text gives nothing to check against", "Atlantis", set()),
    ],
)
def test_an_indian_state_maps_to_its_gst_state_codes(
    description: str, state: str, expected: set[str]
) -> None:
    assert gst_state_codes(state) == expected, description


def test_a_shop_vat_number_without_prefix_is_read_with_the_billing_countrys_own_scheme() -> None:
    from_shop = normalise_tax_id(
        RawTaxId(None, "53312786J"), default_country="SG", india_state_codes=frozenset()
    )
    from_crm = normalise_tax_id(
        RawTaxId("sg_uen", "53312786J"), default_country="SG", india_state_codes=frozenset()
    )
    assert from_shop.valid is True
    assert from_shop.key == from_crm.key


def test_a_bare_number_is_searched_as_every_countrys_vat_number_it_is_valid_as() -> None:
    keys = search_keys(RawTaxId(None, "13585628"), country=None)
    assert "DK:vat:13585628" in keys and "vat:13585628" in keys
    assert search_keys(RawTaxId(None, "DK 13 58 56 28"), country=None) == ["DK:vat:13585628"]
    assert search_keys(RawTaxId("dk_cvr", "13585628"), country=None) == ["DK:vat:13585628"]
    assert search_keys(RawTaxId(None, "201912345R"), country="SG") == ["SG:uen:201912345R"]
