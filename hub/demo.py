"""A deterministic synthetic feed of inbound customer messages, published by `hub run --demo`.

Every message carries the outcome the hub should give it (`applied`, `duplicate`, `stale` or
`dead_letter:<error_code>`, SPEC §5), so that a demo run can be checked against expectations. The feed
holds CRM organisations with valid tax ids (checked with python-stdnum), their e-commerce twins whose VAT
numbers are written differently, persons from e-commerce and POS loyalty, POS walk-in sales, later
updates, stale and redelivered messages, deletes, records with one invalid value, and broken messages.
"""

from __future__ import annotations

import copy
import json
import random
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stdnum import luhn
from stdnum.de import vat as de_vat
from stdnum.dk import cvr as dk_cvr
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin as in_gstin
from stdnum.in_ import pan as in_pan
from stdnum.iso7064 import mod_11_10
from stdnum.my import nric as my_nric
from stdnum.sg import uen as sg_uen
from stdnum.us import ein as us_ein

Json = dict[str, Any]

SOURCES: tuple[str, ...] = ("crm", "pos", "ecommerce")

#: Source records that deliberately carry ONE invalid value (a phone or a tax id with a bad checksum):
#: they are still applied, with a data-quality issue.
DATA_QUALITY_RECORD_IDS: frozenset[str] = frozenset({"CRM-009001", "CRM-009002", "shop-97001"})


@dataclass(frozen=True)
class DemoMessage:
    """One inbound message of the demo feed and the outcome the hub should give it."""

    source: str  # "crm" | "pos" | "ecommerce": the topic is source.<source>.customer.v1
    key: bytes | None  # the Kafka key: source_record_id in UTF-8 (None for some broken messages)
    value: bytes  # the raw message bytes
    expected: str  # "applied" | "duplicate" | "stale" | "dead_letter:<error_code>"

    def topic(self, prefix: str = "") -> str:
        """Name the topic this message is published to, after `HUB_TOPIC_PREFIX`."""
        return f"{prefix}source.{self.source}.customer.v1"


# --------------------------------------------------------------------------------------------------
# Reference data: countries, cities, phones, names
# --------------------------------------------------------------------------------------------------


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


@dataclass(frozen=True)
class _City:
    name: str
    state: str | None
    postcode: Callable[[random.Random], str]
    landline: Callable[[random.Random], str]
    gst_code: str | None = None  # India: the GST state code of `state`


def _fixed_prefix(prefix: str, count: int) -> Callable[[random.Random], str]:
    return lambda rng: prefix + _digits(rng, count)


def _in_landline(std: str) -> Callable[[random.Random], str]:
    return lambda rng: f"0{std} {rng.choice('2346')}{_digits(rng, 3)} {_digits(rng, 4)}"


def _us_landline(area: str) -> Callable[[random.Random], str]:
    return lambda rng: f"({area}) {rng.choice('2345678')}{_digits(rng, 2)}-{_digits(rng, 4)}"


def _dk_landline(prefixes: Sequence[str]) -> Callable[[random.Random], str]:
    def landline(rng: random.Random) -> str:
        prefix = rng.choice(prefixes)
        return f"{prefix} {rng.choice('123456789')}{_digits(rng, 1)} {_digits(rng, 2)} {_digits(rng, 2)}"

    return landline


def _gb_postcode(outward: Sequence[str]) -> Callable[[random.Random], str]:
    return lambda rng: (
        f"{rng.choice(outward)} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        + (rng.choice("ABDEFGHJLNPQRSTUWXYZ"))
    )


_CITIES: dict[str, tuple[_City, ...]] = {
    "SG": (
        _City(
            "Singapore",
            None,
            lambda rng: (
                f"{rng.choice(['01', '03', '04', '11', '18', '23', '33', '40', '41', '60', '61'])}"
                + _digits(rng, 4)
            ),
            lambda rng: f"6{rng.choice('234578')}{_digits(rng, 2)} {_digits(rng, 4)}",
        ),
    ),
    "MY": (
        _City(
            "Kuala Lumpur",
            "Wilayah Persekutuan Kuala Lumpur",
            _fixed_prefix("50", 3),
            lambda rng: (
                f"03-{rng.choice(['21', '22', '23', '26', '27', '40', '41', '42'])}{_digits(rng, 2)} "
                + _digits(rng, 4)
            ),
        ),
        _City(
            "Petaling Jaya",
            "Selangor",
            _fixed_prefix("46", 3),
            lambda rng: f"03-{rng.choice(['78', '79', '61', '62'])}{_digits(rng, 2)} {_digits(rng, 4)}",
        ),
        _City(
            "George Town",
            "Pulau Pinang",
            _fixed_prefix("10", 3),
            lambda rng: f"04-{rng.choice(['22', '26', '38', '64'])}{_digits(rng, 1)} {_digits(rng, 4)}",
        ),
        _City(
            "Johor Bahru",
            "Johor",
            _fixed_prefix("80", 3),
            lambda rng: f"07-{rng.choice(['22', '33', '35', '55'])}{_digits(rng, 1)} {_digits(rng, 4)}",
        ),
    ),
    "IN": (
        _City("Mumbai", "Maharashtra", _fixed_prefix("4000", 2), _in_landline("22"), "27"),
        _City("Pune", "Maharashtra", _fixed_prefix("4110", 2), _in_landline("20"), "27"),
        _City("Bengaluru", "Karnataka", _fixed_prefix("5600", 2), _in_landline("80"), "29"),
        _City("New Delhi", "Delhi", _fixed_prefix("1100", 2), _in_landline("11"), "07"),
        _City("Chennai", "Tamil Nadu", _fixed_prefix("6000", 2), _in_landline("44"), "33"),
        _City("Hyderabad", "Telangana", _fixed_prefix("5000", 2), _in_landline("40"), "36"),
        _City("Ahmedabad", "Gujarat", _fixed_prefix("3800", 2), _in_landline("79"), "24"),
        _City("Kolkata", "West Bengal", _fixed_prefix("7000", 2), _in_landline("33"), "19"),
    ),
    "DK": (
        _City("København K", None, _fixed_prefix("1", 3), _dk_landline(["33"])),
        _City("Aarhus C", None, lambda rng: "8000", _dk_landline(["86", "87"])),
        _City("Odense C", None, lambda rng: "5000", _dk_landline(["66"])),
        _City("Aalborg", None, lambda rng: "9000", _dk_landline(["98", "96"])),
    ),
    "GB": (
        _City(
            "London",
            None,
            _gb_postcode(["EC1A", "EC2M", "SE1", "W1T", "N1", "E14"]),
            lambda rng: f"020 7{_digits(rng, 3)} {_digits(rng, 4)}",
        ),
        _City(
            "Manchester",
            None,
            _gb_postcode(["M1", "M2", "M3", "M4"]),
            lambda rng: f"0161 {rng.choice('2345789')}{_digits(rng, 2)} {_digits(rng, 4)}",
        ),
        _City(
            "Birmingham",
            None,
            _gb_postcode(["B1", "B2", "B3", "B5"]),
            lambda rng: f"0121 {rng.choice('2345')}{_digits(rng, 2)} {_digits(rng, 4)}",
        ),
        _City(
            "Leeds",
            None,
            _gb_postcode(["LS1", "LS2", "LS9", "LS11"]),
            lambda rng: f"0113 {rng.choice('2345')}{_digits(rng, 2)} {_digits(rng, 4)}",
        ),
    ),
    "US": (
        _City("New York", "NY", _fixed_prefix("100", 2), _us_landline("212")),
        _City("San Francisco", "CA", _fixed_prefix("941", 2), _us_landline("415")),
        _City("Chicago", "IL", _fixed_prefix("606", 2), _us_landline("312")),
        _City("Boston", "MA", _fixed_prefix("021", 2), _us_landline("617")),
        _City("Seattle", "WA", _fixed_prefix("981", 2), _us_landline("206")),
        _City("Austin", "TX", _fixed_prefix("787", 2), _us_landline("512")),
        _City("Denver", "CO", _fixed_prefix("802", 2), _us_landline("303")),
    ),
    "DE": (
        _City(
            "Berlin",
            None,
            _fixed_prefix("10", 3),
            lambda rng: f"030 {rng.choice('2345678')}{_digits(rng, 7)}",
        ),
        _City(
            "München",
            None,
            _fixed_prefix("80", 3),
            lambda rng: f"089 {rng.choice('2345678')}{_digits(rng, 6)}",
        ),
        _City(
            "Hamburg",
            None,
            _fixed_prefix("20", 3),
            lambda rng: f"040 {rng.choice('2345678')}{_digits(rng, 6)}",
        ),
        _City(
            "Frankfurt am Main",
            None,
            _fixed_prefix("60", 3),
            lambda rng: f"069 {rng.choice('2345678')}{_digits(rng, 6)}",
        ),
    ),
}


def _mobile(rng: random.Random, country: str) -> str:
    """A mobile number written the way people in `country` usually write it."""
    if country == "SG":
        prefix = rng.choice(
            ["81", "82", "83", "85", "87", "88", "90", "91", "92", "93", "94", "96", "97", "98"]
        )
        return f"{prefix}{_digits(rng, 2)} {_digits(rng, 4)}"
    if country == "MY":
        return f"01{rng.choice('2379')}-{rng.choice('23456789')}{_digits(rng, 2)} {_digits(rng, 4)}"
    if country == "IN":
        return (
            f"+91 {rng.choice(['98', '99', '97', '94', '70', '88', '81'])}{_digits(rng, 3)} {_digits(rng, 5)}"
        )
    if country == "DK":
        prefix = rng.choice(
            ["20", "22", "23", "24", "25", "26", "27", "28", "30", "31", "40", "42", "50", "51"]
        )
        return f"{prefix} {rng.choice('123456789')}{_digits(rng, 1)} {_digits(rng, 2)} {_digits(rng, 2)}"
    if country == "GB":
        return f"07{rng.choice('458')}{_digits(rng, 2)} {_digits(rng, 6)}"
    if country == "US":
        return _us_landline(rng.choice(["646", "628", "872", "857", "425", "737", "720"]))(rng)
    if country == "DE":
        return f"01{rng.choice(['51', '52', '60', '62', '70', '71', '72', '76'])} {_digits(rng, 8)}"
    raise ValueError(country)


def _e164(local: str, country: str) -> str:
    """Rewrite a local number as E.164 (the form web shops store)."""
    digits = "".join(ch for ch in local if ch.isdigit())
    if local.startswith("+"):
        return "+" + digits
    calling = {"SG": "65", "MY": "60", "IN": "91", "DK": "45", "GB": "44", "US": "1", "DE": "49"}[country]
    if country in {"MY", "IN", "GB", "DE"}:
        digits = digits.removeprefix("0")
    return f"+{calling}{digits}"


_CURRENCY = {"SG": "SGD", "MY": "MYR", "IN": "INR", "DK": "DKK", "GB": "GBP", "US": "USD", "DE": "EUR"}
# Rough units of local currency per US dollar, to make credit limits look local.
_CURRENCY_SCALE = {"SG": 1.3, "MY": 4.5, "IN": 80.0, "DK": 7.0, "GB": 0.8, "US": 1.0, "DE": 0.9}
_LANGUAGE = {"SG": "en", "MY": "ms", "IN": "en", "DK": "da", "GB": "en", "US": "en", "DE": "de"}
_TLD = {"SG": "com.sg", "MY": "com.my", "IN": "co.in", "DK": "dk", "GB": "co.uk", "US": "com", "DE": "de"}

# (suffix as written, legal_form)
_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "SG": (("Pte. Ltd.", "private_limited_company"), ("Pte Ltd", "private_limited_company")),
    "MY": (("Sdn. Bhd.", "private_limited_company"), ("Sdn Bhd", "private_limited_company")),
    "IN": (("Private Limited", "private_limited_company"), ("Pvt. Ltd.", "private_limited_company")),
    "DK": (("A/S", "aktieselskab"), ("ApS", "anpartsselskab")),
    "GB": (("Ltd", "private_limited_company"), ("Limited", "private_limited_company")),
    "US": (("Inc.", "corporation"), ("Inc", "corporation"), ("LLC", "limited_liability_company")),
    "DE": (("GmbH", "gmbh"), ("GmbH & Co. KG", "gmbh_co_kg")),
}

_STEMS_COMMON = (
    "Apex", "Harbour", "Meridian", "Summit", "Evergreen", "Silverline", "Crescent", "Pinnacle", "Bluewater",
    "Redwood", "Sterling", "Lotus", "Phoenix", "Anchor", "Beacon", "Cobalt", "Falcon", "Granite", "Horizon",
    "Ironbridge", "Juniper", "Keystone", "Lighthouse", "Northstar", "Oakridge", "Pacific", "Quantum",
    "Riverside", "Sapphire", "Trident", "Vanguard", "Westfield", "Zenith", "Kestrel", "Orion", "Atlas",
)  # fmt: skip
_STEMS_LOCAL: dict[str, tuple[str, ...]] = {
    "SG": ("Lion City", "Straits", "Orchid", "Sentosa", "Temasek", "Merlion", "Raffles", "Jurong"),
    "MY": ("Golden Palm", "Merdeka", "Bukit Jalil", "Seri Murni", "Harimau", "Petaling", "Klang Valley"),
    "IN": ("Shree Ganesh", "Lakshmi", "Bharat", "Sai Krupa", "Deccan", "Ganga", "Sahyadri", "Kaveri"),
    "DK": ("Nørrebro", "Østergaard", "Fyns", "Jysk", "Skovgaard", "Lindholm", "Bøgeskov", "Havnens"),
    "GB": ("Thames", "Pennine", "Cotswold", "Albion", "Mersey", "Wessex", "Severn", "Highgate"),
    "US": ("Liberty", "Cascade", "Lone Star", "Hudson", "Great Lakes", "Rocky Mountain", "Bay Area"),
    "DE": ("Rhein", "Alpen", "Schwarzwald", "Elbe", "Spree", "Bodensee", "Isar", "Müller & Söhne"),
}
_INDUSTRIES = (
    "Manufacturing", "Trading", "Logistics", "Engineering", "Foods", "Textiles", "Electronics", "Hardware",
    "Plastics", "Packaging", "Supplies", "Industries", "Distribution", "Marine", "Automotive", "Chemicals",
    "Furniture", "Steel", "Paper", "Pharma",
)  # fmt: skip
_ABBREVIATIONS = {
    "Manufacturing": "Mfg",
    "Trading": "Trdg",
    "Engineering": "Eng",
    "Electronics": "Elec",
    "Distribution": "Dist",
    "Industries": "Inds",
    "Automotive": "Auto",
    "Supplies": "Supp",
}

_STREETS: dict[str, tuple[str, ...]] = {
    "SG": ("Kaki Bukit Avenue 1", "Ubi Road 3", "Tampines Street 92", "Jurong Port Road", "Anson Road",
           "Cecil Street", "Woodlands Loop", "Changi South Lane"),
    "MY": ("Jalan Ampang", "Jalan Tun Razak", "Jalan SS 21/37", "Jalan Bukit Bintang", "Lebuh Pantai",
           "Jalan Dato Onn", "Jalan Klang Lama", "Persiaran Kewajipan"),
    "IN": ("MIDC Andheri East", "Nariman Point", "Whitefield Main Road", "Connaught Place", "Anna Salai",
           "HITEC City", "SG Highway", "Park Street"),
    "DK": ("Vesterbrogade", "Nørregade", "Strandvejen", "Industrivej", "Havnegade", "Åboulevarden",
           "Søndergade", "Hovedgaden"),
    "GB": ("High Street", "Station Road", "King Street", "Deansgate", "Broad Street", "Wellington Place",
           "Commercial Road", "Victoria Street"),
    "US": ("Market Street", "Broadway", "Michigan Avenue", "Congress Avenue", "Pine Street", "Main Street",
           "Atlantic Avenue", "Larimer Street"),
    "DE": ("Friedrichstraße", "Leopoldstraße", "Mönckebergstraße", "Zeil", "Industriestraße",
           "Hauptstraße", "Kurfürstendamm", "Am Hafen"),
}  # fmt: skip

# Name pools as (first names, last names) per cultural group; MY and SG mix three groups.
_NamePool = tuple[tuple[str, ...], tuple[str, ...]]


def _pool(firsts: str, lasts: str) -> _NamePool:
    return tuple(firsts.split("|")), tuple(lasts.split("|"))


_MALAY = _pool(
    "Ahmad|Nurul|Siti|Farid|Aisyah|Hafiz|Zulkifli|Nadia|Azman|Farah",
    "Ismail|Abdullah|Rahman|Hassan|Yusof|Ibrahim|Osman|Hamid|Salleh",
)
_CHINESE = _pool(
    "Wei Ming|Mei Ling|Jia Hui|Kok Leong|Siew Lan|Chee Keong|Hui Min|Jun Jie|Li Na|Boon Hock",
    "Tan|Lim|Wong|Lee|Ng|Chong|Goh|Teo|Ong|Chan",
)
_INDIAN = _pool(
    "Ravi|Priya|Suresh|Kavitha|Arjun|Deepa|Vikram|Anita|Rajesh|Lakshmi|Sanjay|Meera",
    "Kumar|Raj|Pillai|Nair|Sharma|Iyer|Reddy|Menon|Patel|Gupta|Rao",
)
_DANISH = _pool(
    "Søren|Mette|Lars|Anne|Jens|Camilla|Mads|Freja|Rasmus|Ida",
    "Jensen|Nielsen|Hansen|Pedersen|Andersen|Christensen|Larsen|Sørensen",
)
_GERMAN = _pool(
    "Jürgen|Anna|Lukas|Lena|Stefan|Katrin|Felix|Sabine|Tobias|Jana",
    "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schäfer",
)
_BRITISH = _pool(
    "Oliver|Amelia|Harry|Isla|George|Emily|James|Sophie|Thomas|Grace",
    "Smith|Jones|Taylor|Brown|Williams|Wilson|Evans|Thomas|Roberts",
)
_AMERICAN = _pool(
    "Michael|Jennifer|David|Jessica|Chris|Ashley|Daniel|Sarah|Kevin",
    "Johnson|Miller|Davis|Garcia|Martinez|Anderson|Clark|Lewis|Walker",
)
_NAME_POOLS: dict[str, tuple[_NamePool, ...]] = {
    "SG": (_CHINESE, _MALAY, _INDIAN),
    "MY": (_MALAY, _CHINESE, _INDIAN),
    "IN": (_INDIAN,),
    "DK": (_DANISH,),
    "GB": (_BRITISH,),
    "US": (_AMERICAN,),
    "DE": (_GERMAN,),
}  # fmt: skip

_TITLES = ("Purchasing Manager", "Finance Director", "Accounts Payable", "Operations Manager", "CEO",
           "Procurement Lead", "Managing Director", "Office Manager")  # fmt: skip
_SALES_REPS = ("John Smith", "Aisha Rahman", "Tan Wei Ling", "Anders Holm", "Priya Nair", "Markus Brandt")
_PERSONAL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")

# MY stores and their postcodes; SG stores.
_STORES: dict[str, tuple[tuple[str, str], ...]] = {
    "MY": (
        ("KL-01", "50450"),
        ("KL-03", "50088"),
        ("PJ-02", "46150"),
        ("PG-01", "10200"),
        ("JB-01", "80000"),
    ),
    "SG": (("SG-ORC", "238858"), ("SG-TMP", "529510"), ("SG-JEM", "608549"), ("SG-VIV", "098585")),
}


def _ascii(text: str) -> str:
    """Drop accents and special letters, for e-mail addresses and domains."""
    text = text.replace("ø", "o").replace("Ø", "O").replace("æ", "ae").replace("Æ", "Ae").replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _slug(text: str) -> str:
    return "".join(ch for ch in _ascii(text).lower() if ch.isalnum())


# --------------------------------------------------------------------------------------------------
# Valid identifiers, generated with python-stdnum's own check-digit rules and verified with is_valid()
# --------------------------------------------------------------------------------------------------


def _until_valid(make: Callable[[], str], is_valid: Callable[[str], bool]) -> str:
    for _ in range(1000):
        number = make()
        if is_valid(number):
            return number
    raise RuntimeError("could not generate a valid identifier")  # pragma: no cover


def _dk_cvr(rng: random.Random) -> str:
    def make() -> str:
        head = str(rng.randrange(1, 10)) + _digits(rng, 6)
        check = -sum(w * int(d) for w, d in zip((2, 7, 6, 5, 4, 3, 2), head, strict=True)) % 11
        return head + str(check)  # a check of 10 makes nine digits: is_valid() rejects it, so retry

    return _until_valid(make, dk_cvr.is_valid)


def _gb_vat(rng: random.Random) -> str:
    def make() -> str:
        head = str(rng.randrange(1, 10)) + _digits(rng, 6)
        check = -sum(w * int(d) for w, d in zip((8, 7, 6, 5, 4, 3, 2), head, strict=True)) % 97
        return f"{head}{check:02d}"

    return _until_valid(make, gb_vat.is_valid)


def _de_vat(rng: random.Random) -> str:
    def make() -> str:
        head = str(rng.randrange(1, 10)) + _digits(rng, 7)
        return head + mod_11_10.calc_check_digit(head)

    return _until_valid(make, de_vat.is_valid)


def _sg_uen(rng: random.Random) -> str:
    def make() -> str:
        head = str(rng.randrange(1975, 2021)) + _digits(rng, 5)
        return head + sg_uen.calc_local_company_check_digit(head)

    return _until_valid(make, sg_uen.is_valid)


def _letters(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(count))


def _in_pan(rng: random.Random, holder: str, name: str) -> str:
    """A PAN: 3 letters, the holder type (C company, P person), the name's initial, 4 digits, a letter."""
    initial = _ascii(name)[0].upper()

    def make() -> str:
        return f"{_letters(rng, 3)}{holder}{initial}{rng.randrange(1, 10000):04d}{_letters(rng, 1)}"

    return _until_valid(make, in_pan.is_valid)


def _in_gstin(rng: random.Random, state_code: str, pan: str) -> str:
    def make() -> str:
        head = f"{state_code}{pan}{rng.randrange(1, 10)}Z"
        return head + luhn.calc_check_digit(head, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    return _until_valid(make, in_gstin.is_valid)


# Prefixes the IRS assigns (stdnum.us.ein rejects the others).
_EIN_PREFIXES = (10, 12, 20, 27, 30, 35, 46, 47, 52, 54, 61, 74, 81, 84, 91, 94)


def _us_ein(rng: random.Random) -> str:
    return _until_valid(lambda: f"{rng.choice(_EIN_PREFIXES):02d}-{_digits(rng, 7)}", us_ein.is_valid)


def _my_nric(rng: random.Random, born: datetime, birthplace: str) -> str:
    def make() -> str:
        return f"{born:%y%m%d}-{birthplace}-{_digits(rng, 4)}"

    return _until_valid(make, my_nric.is_valid)


def _my_ssm(rng: random.Random) -> str:
    """A Malaysian company registration number (SSM, new format); python-stdnum has no scheme for it."""
    return f"{rng.randrange(1990, 2021)}01{_digits(rng, 6)}"


# --------------------------------------------------------------------------------------------------
# Records and messages
# --------------------------------------------------------------------------------------------------


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Record:
    """A source record and the messages the feed has emitted for it so far."""

    source: str
    record_id: str
    payload: Json
    at: datetime
    country: str
    messages: list[DemoMessage] = field(default_factory=list)


class _Builder:
    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.base = now - timedelta(days=30)
        self.crm_seq = 100000  # clear of the example import files (CRM-000001 ...)
        self.shop_seq = 10000
        self.pos_seq = 0
        self.loyalty_seq = 10000 + self.rng.randrange(5000)
        self.receipt_seq = 100000 + self.rng.randrange(50000)
        self.used_org_names: set[str] = set()
        self.used_person_names: set[str] = set()
        self.used_tax_ids: set[str] = set()

    # -- envelopes ---------------------------------------------------------------------------------

    def message_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def envelope(self, source: str, record_id: str, change: str, at: str, payload: Json | None) -> Json:
        return {
            "message_id": self.message_id(),
            "source": source,
            "source_record_id": record_id,
            "change": change,
            "occurred_at": at,
            "payload": payload,
        }

    @staticmethod
    def encode(document: object) -> bytes:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def emit(self, record: _Record, change: str = "upsert", expected: str = "applied") -> DemoMessage:
        payload = None if change == "delete" else copy.deepcopy(record.payload)
        envelope = self.envelope(record.source, record.record_id, change, _rfc3339(record.at), payload)
        message = DemoMessage(record.source, record.record_id.encode(), self.encode(envelope), expected)
        record.messages.append(message)
        return message

    def create_time(self) -> datetime:
        return (self.base + timedelta(seconds=self.rng.randrange(14 * 86400))).replace(microsecond=0)

    def update_time(self) -> datetime:
        start = self.now - timedelta(days=14)
        return (start + timedelta(seconds=self.rng.randrange(12 * 86400))).replace(microsecond=0)

    def next_crm_id(self) -> str:
        self.crm_seq += 1
        return f"CRM-{self.crm_seq:06d}"

    def next_shop_id(self) -> str:
        self.shop_seq += self.rng.randrange(1, 40)
        return f"shop-{self.shop_seq:05d}"

    def next_loyalty_card(self) -> int:
        self.loyalty_seq += self.rng.randrange(1, 800)
        return self.loyalty_seq

    def next_pos_id(self) -> str:
        self.pos_seq += 1
        return f"POS-{self.pos_seq:06d}"

    # -- parts -------------------------------------------------------------------------------------

    def address(self, country: str, kind: str | None = None, city: _City | None = None) -> Json:
        rng = self.rng
        city = city or rng.choice(_CITIES[country])
        street = rng.choice(_STREETS[country])
        number = rng.randrange(1, 300)
        line1 = f"{street} {number}" if country in {"DK", "DE"} else f"{number} {street}"
        line2: str | None = None
        if country == "SG":
            line2 = f"#{rng.randrange(1, 20):02d}-{rng.randrange(1, 80):02d}"
        elif country == "US" and rng.random() < 0.5:
            line2 = f"Suite {rng.randrange(1, 30) * 100}"
        elif country == "IN" and rng.random() < 0.5:
            line2 = (
                f"Unit {rng.randrange(1, 40)}, {rng.choice(['Tower A', 'Tower B', 'Block C', 'Phase II'])}"
            )
        address: Json = {"line1": line1, "line2": line2, "city": city.name, "state": city.state}
        address["postal_code"] = city.postcode(rng)
        address["country"] = country
        if kind is not None:
            address = {"kind": kind, **address}
        return address

    def person_name(self, country: str) -> tuple[str, str]:
        rng = self.rng
        for _ in range(200):
            firsts, lasts = rng.choice(_NAME_POOLS[country])
            first, last = rng.choice(firsts), rng.choice(lasts)
            if f"{first} {last}" not in self.used_person_names:
                break
        self.used_person_names.add(f"{first} {last}")
        return first, last

    def personal_email(self, first: str, last: str) -> str:
        rng = self.rng
        local = f"{_slug(first)}.{_slug(last)}"
        if rng.random() < 0.4:
            local += str(rng.randrange(1, 99))
        return f"{local}@{rng.choice(_PERSONAL_DOMAINS)}"

    def org_name(self, country: str) -> tuple[str, str, str, str]:
        """Return (stem, industry, suffix, legal form) of an organisation name not used before."""
        rng = self.rng
        stems = _STEMS_COMMON + _STEMS_LOCAL[country] * 3
        for _ in range(500):
            stem, industry = rng.choice(stems), rng.choice(_INDUSTRIES)
            if f"{stem} {industry}" not in self.used_org_names:
                break
        self.used_org_names.add(f"{stem} {industry}")
        suffix, legal_form = rng.choice(_SUFFIXES[country])
        return stem, industry, suffix, legal_form

    def tax_ids(self, country: str, name: str, city: _City) -> list[Json]:
        """Valid tax or registration ids for an organisation, never given to another one."""
        while True:
            ids = self.new_tax_ids(country, name, city)
            if ids[0]["value"] not in self.used_tax_ids:
                self.used_tax_ids.add(ids[0]["value"])
                return ids

    def new_tax_ids(self, country: str, name: str, city: _City) -> list[Json]:
        rng = self.rng
        if country == "SG":
            return [{"scheme": "sg_uen", "value": _sg_uen(rng)}]
        if country == "MY":
            return [{"scheme": "my_ssm", "value": _my_ssm(rng)}]
        if country == "IN":
            pan = _in_pan(rng, "C", name)
            assert city.gst_code is not None
            ids = [{"scheme": "in_gstin", "value": _in_gstin(rng, city.gst_code, pan)}]
            if rng.random() < 0.5:
                ids.append({"scheme": "in_pan", "value": pan})
            return ids
        if country == "DK":
            return [{"scheme": "dk_cvr", "value": _dk_cvr(rng)}]
        if country == "GB":
            number = _gb_vat(rng)
            return [{"scheme": "gb_vat", "value": "GB" + number if rng.random() < 0.5 else number}]
        if country == "US":
            return [{"scheme": "us_ein", "value": _us_ein(rng)}]
        if country == "DE":
            return [{"scheme": "eu_vat", "value": "DE" + _de_vat(rng)}]
        raise ValueError(country)

    def credit(self, country: str) -> Json:
        rng = self.rng
        usd = rng.choice([10, 20, 25, 50, 75, 100, 150, 200, 250]) * 1000
        limit = round(usd * _CURRENCY_SCALE[country], -3)
        return {
            "limit": f"{limit:.2f}",
            "currency": _CURRENCY[country],
            "check_limit": rng.random() < 0.85,
            "payment_terms": rng.choice(["NET30", "NET30", "NET60"]),
            "rating": rng.choice(["A", "A", "B", "B", "C"]),
        }

    # -- records -----------------------------------------------------------------------------------

    def crm_org(self, country: str, record_id: str | None = None) -> _Record:
        rng = self.rng
        stem, industry, suffix, legal_form = self.org_name(country)
        legal_name = f"{stem} {industry} {suffix}"
        domain = f"{_slug(stem)}{_slug(_ABBREVIATIONS.get(industry, industry))}.{_TLD[country]}"
        city = rng.choice(_CITIES[country])
        billing = self.address(country, "billing", city)
        addresses = [billing]
        if rng.random() < 0.4:
            addresses.append(self.address(country, "shipping"))
        contacts = []
        for index in range(rng.choice([1, 1, 2])):
            first, last = self.person_name(country)
            contacts.append(
                {
                    "name": f"{first} {last}",
                    "title": rng.choice(_TITLES),
                    "email": f"{_slug(first)}.{_slug(last)}@{domain}",
                    "phone": _mobile(rng, country),
                    "primary": index == 0,
                }
            )
        status = "active" if rng.random() < 0.8 else "prospect"
        payload: Json = {
            "party_type": "organization",
            "legal_name": legal_name,
            "legal_form": legal_form,
            "customer_type": rng.choice(["wholesaler", "retailer", "distributor", "end_user"]),
            "status": status,
            "tax_ids": self.tax_ids(country, stem, city),
            "emails": [f"{rng.choice(['purchasing', 'accounts', 'info', 'orders'])}@{domain}"],
            "phones": [city.landline(rng)],
            "addresses": addresses,
            "contacts": contacts,
            "correspondence_mode": rng.choice(["email", "email", "post"]),
            "language": _LANGUAGE[country],
            "custom_fields": {
                "sales_rep": rng.choice(_SALES_REPS),
                "segment": rng.choice(["SMB", "MID", "KEY"]),
            },
        }
        if industry in _ABBREVIATIONS and rng.random() < 0.5:
            payload["trading_name"] = f"{stem} {_ABBREVIATIONS[industry]}"
        if status == "active" or rng.random() < 0.5:
            payload["credit"] = self.credit(country)
        if rng.random() < 0.15:
            payload["also_supplier_id"] = f"V-{rng.randrange(1, 9999):04d}"
        return _Record("crm", record_id or self.next_crm_id(), payload, self.create_time(), country)

    def crm_person(self, country: str) -> _Record:
        rng = self.rng
        first, last = self.person_name(country)
        born = datetime(rng.randrange(1960, 2001), rng.randrange(1, 13), rng.randrange(1, 29), tzinfo=UTC)
        city = rng.choice(_CITIES[country])
        if country == "MY":
            birthplace = {
                "Kuala Lumpur": "14",
                "Petaling Jaya": "10",
                "George Town": "07",
                "Johor Bahru": "01",
            }
            tax_ids = [{"scheme": "my_nric", "value": _my_nric(rng, born, birthplace[city.name])}]
        else:
            tax_ids = [{"scheme": "in_pan", "value": _in_pan(rng, "P", last)}]
        payload: Json = {
            "party_type": "person",
            "first_name": first,
            "last_name": last,
            "date_of_birth": born.date().isoformat(),
            "status": "active",
            "tax_ids": tax_ids,
            "emails": [self.personal_email(first, last)],
            "phones": [_mobile(rng, country)],
            "addresses": [self.address(country, "billing", city)],
            "language": _LANGUAGE[country],
            "credit": self.credit(country) | {"limit": f"{rng.choice([2000, 5000, 10000]):.2f}"},
        }
        return _Record("crm", self.next_crm_id(), payload, self.create_time(), country)

    def twin(self, org: _Record) -> _Record:
        """The e-commerce account of a CRM organisation: name and VAT number written differently."""
        rng = self.rng
        crm = org.payload
        country = org.country
        legal_name: str = crm["legal_name"]
        suffix = next(s for s, _ in _SUFFIXES[country] if legal_name.endswith(" " + s))
        bare = legal_name.removesuffix(" " + suffix)
        name = rng.choice(
            [bare.lower(), bare.upper(), crm.get("trading_name") or bare, f"{bare} {suffix.replace('.', '')}"]
        )
        contact = crm["contacts"][0]
        first, last = contact["name"].rsplit(" ", 1) if " " in contact["name"] else ("", contact["name"])
        billing = {k: v for k, v in crm["addresses"][0].items() if k != "kind"}
        if rng.random() < 0.5:
            billing["line1"] = billing["line1"].upper()
        payload: Json = {
            "account_id": self.next_shop_id(),
            "email": contact["email"],
            "email_verified": True,
            "first_name": first,
            "last_name": last,
            "phone": _e164(contact["phone"], country),
            "billing_address": billing,
            "shipping_addresses": [billing],
            "marketing_opt_in": rng.random() < 0.3,
            "company": {"name": name, "vat_number": self.vat_written_differently(crm["tax_ids"][0], country)},
        }
        return _Record("ecommerce", payload["account_id"], payload, self.create_time(), country)

    def vat_written_differently(self, tax_id: Json, country: str) -> str:
        """The same VAT or registration number with spaces, dots, another case or a country prefix."""
        rng = self.rng
        value: str = tax_id["value"]
        if country == "DK":
            n = value
            return rng.choice(
                [f"DK {n[:2]} {n[2:4]} {n[4:6]} {n[6:]}", f"DK{n}", f"dk {n}", f"{n[:4]}.{n[4:]}"]
            )
        if country == "DE":
            n = value.removeprefix("DE")
            return rng.choice([f"DE {n[:3]} {n[3:6]} {n[6:]}", f"de{n}", f"{n[:3]}.{n[3:6]}.{n[6:]}", n])
        if country == "GB":
            n = value.removeprefix("GB")
            return rng.choice([f"GB {n[:3]} {n[3:7]} {n[7:]}", f"gb{n}", f"{n[:3]} {n[3:7]} {n[7:]}"])
        if country == "IN":
            return f"{value[:2]} {value[2:12]} {value[12:]}"
        if country == "US":
            return value.replace("-", "")
        return value.lower()

    def shop_person(self, country: str) -> _Record:
        rng = self.rng
        first, last = self.person_name(country)
        billing = self.address(country)
        mobile = _mobile(rng, country)
        payload: Json = {
            "account_id": self.next_shop_id(),
            "email": self.personal_email(first, last),
            "email_verified": rng.random() < 0.8,
            "first_name": first,
            "last_name": last,
            "phone": _e164(mobile, country) if rng.random() < 0.7 else mobile,
            "billing_address": billing,
            "shipping_addresses": [billing] if rng.random() < 0.7 else [billing, self.address(country)],
            "marketing_opt_in": rng.random() < 0.5,
            "company": None,
        }
        return _Record("ecommerce", payload["account_id"], payload, self.create_time(), country)

    def pos_loyalty(self, country: str, same_as: _Record | None = None) -> _Record:
        rng = self.rng
        store, postcode = rng.choice(_STORES[country])
        if same_as is not None:
            shop = same_as.payload
            name = f"{shop['first_name']} {shop['last_name']}"
            name = rng.choice([name, name.upper(), name.lower()])
            phone: str = shop["phone"]
            mobile = _mobile_local_from_e164(phone, country) if phone.startswith("+") else phone
            email = shop["email"] if rng.random() < 0.5 else None
            postcode = shop["billing_address"]["postal_code"]
        else:
            first, last = self.person_name(country)
            name = f"{first} {last}"
            mobile = _mobile(rng, country)
            email = self.personal_email(first, last) if rng.random() < 0.3 else None
        payload: Json = {
            "store_id": store,
            "loyalty_card": f"LC-{self.next_loyalty_card()}",
            "name": name,
            "mobile": mobile,
            "email": email,
            "postcode": postcode,
            "country": country,
        }
        return _Record("pos", self.next_pos_id(), payload, self.create_time(), country)

    def walk_in(self) -> _Record:
        country = self.rng.choice(["MY", "SG"])
        store, _ = self.rng.choice(_STORES[country])
        self.receipt_seq += self.rng.randrange(1, 500)
        record_id = f"POS-{store}-R{self.receipt_seq}"
        return _Record("pos", record_id, {"store_id": store}, self.create_time(), country)

    # -- updates -----------------------------------------------------------------------------------

    def change(self, record: _Record) -> None:
        """Change the record's payload the way its source would, in place."""
        rng = self.rng
        payload = record.payload
        country = record.country
        if record.source == "crm":
            options = ["phone", "email", "status"]
            if "credit" in payload:
                options += ["credit", "credit"]
            what = rng.choice(options)
            if what == "phone":
                payload["phones"] = [*payload["phones"], _mobile(rng, country)]
            elif what == "email":
                domain = payload["emails"][0].split("@", 1)[1]
                payload["emails"] = [f"{rng.choice(['finance', 'ap', 'billing', 'sales'])}@{domain}"]
            elif what == "status":
                payload["status"] = {
                    "prospect": "active",
                    "active": rng.choice(["inactive", "suspended"]),
                }.get(payload["status"], "active")
            else:
                credit = payload["credit"]
                factor = rng.choice([0.5, 1.5, 2.0])
                credit["limit"] = f"{round(float(credit['limit']) * factor, -3):.2f}"
                if rng.random() < 0.3:
                    credit["payment_terms"] = "NET60" if credit["payment_terms"] == "NET30" else "NET30"
        elif record.source == "ecommerce":
            what = rng.choice(["phone", "email", "opt_in"])
            if what == "phone":
                payload["phone"] = _e164(_mobile(rng, country), country)
            elif what == "email":
                local, domain = payload["email"].split("@", 1)
                payload["email"] = f"{local}.{rng.randrange(100, 999)}@{domain}"
                payload["email_verified"] = False
            else:
                payload["marketing_opt_in"] = not payload["marketing_opt_in"]
        elif payload.get("email") is None and rng.random() < 0.5:
            first, _, last = str(payload["name"]).partition(" ")
            payload["email"] = self.personal_email(first, last or "member")
        else:
            payload["mobile"] = _mobile(rng, country)


def _mobile_local_from_e164(phone: str, country: str) -> str:
    """Write an E.164 mobile number the way a POS till clerk types it."""
    if country == "MY":
        national = "0" + phone.removeprefix("+60")
        return f"{national[:3]}-{national[3:6]} {national[6:]}"
    national = phone.removeprefix("+65")
    return f"{national[:4]} {national[4:]}"


# --------------------------------------------------------------------------------------------------
# Broken messages
# --------------------------------------------------------------------------------------------------


def _broken(builder: _Builder) -> list[DemoMessage]:
    """Messages the hub must dead-letter, one defect each (SPEC §5 step 1)."""
    rng = builder.rng
    now = builder.now
    messages: list[DemoMessage] = []

    def past() -> str:
        return _rfc3339(now - timedelta(seconds=rng.randrange(3600, 20 * 86400)))

    def add(source: str, record_id: str | None, value: bytes, code: str) -> None:
        key = record_id.encode() if record_id is not None else None
        messages.append(DemoMessage(source, key, value, f"dead_letter:{code}"))

    def org(record_id: str, country: str) -> Json:
        return builder.crm_org(country, record_id).payload

    # Not UTF-8: a CRM export written in Latin-1.
    latin = builder.envelope("crm", "CRM-900001", "upsert", past(), org("CRM-900001", "DK"))
    latin["payload"]["legal_name"] = "Ærø Handel ApS"
    add("crm", "CRM-900001", json.dumps(latin, ensure_ascii=False).encode("latin-1"), "not_utf8")

    # Not JSON: a truncated message, and a line of plain text without a key.
    truncated = builder.encode(builder.envelope("ecommerce", "shop-99001", "upsert", past(), None))
    add("ecommerce", "shop-99001", truncated[: len(truncated) // 2], "not_json")
    add("pos", None, b"customer KL-03 updated, see attachment", "not_json")

    # Invalid envelopes: an array, a missing message_id, a naive occurred_at.
    wrapped = builder.envelope("crm", "CRM-900002", "upsert", past(), org("CRM-900002", "SG"))
    add("crm", "CRM-900002", builder.encode([wrapped]), "invalid_envelope")
    no_id = builder.envelope("crm", "CRM-900003", "upsert", past(), org("CRM-900003", "GB"))
    del no_id["message_id"]
    add("crm", "CRM-900003", builder.encode(no_id), "invalid_envelope")
    naive = builder.envelope("crm", "CRM-900004", "upsert", past().removesuffix("Z"), org("CRM-900004", "US"))
    add("crm", "CRM-900004", builder.encode(naive), "invalid_envelope")

    # Wrong source: a POS record published on the CRM topic.
    pos = builder.pos_loyalty("MY").payload
    add(
        "crm",
        "POS-900005",
        builder.encode(builder.envelope("pos", "POS-900005", "upsert", past(), pos)),
        "wrong_source",
    )

    # Invalid payloads: money as a float, and no party_type.
    float_limit = org("CRM-900006", "MY")
    float_limit["credit"] = builder.credit("MY")
    float_limit["credit"]["limit"] = float(float_limit["credit"]["limit"])
    bad = builder.envelope("crm", "CRM-900006", "upsert", past(), float_limit)
    add("crm", "CRM-900006", builder.encode(bad), "invalid_payload")
    no_type = org("CRM-900007", "DE")
    del no_type["party_type"]
    add(
        "crm",
        "CRM-900007",
        builder.encode(builder.envelope("crm", "CRM-900007", "upsert", past(), no_type)),
        "invalid_payload",
    )

    # Two days in the future.
    future = builder.shop_person("SG").payload
    future["account_id"] = "shop-99008"
    at = _rfc3339(now + timedelta(days=2))
    add(
        "ecommerce",
        "shop-99008",
        builder.encode(builder.envelope("ecommerce", "shop-99008", "upsert", at, future)),
        "occurred_in_future",
    )

    # Unidentifiable: an organisation with no name, identifier, e-mail or phone.
    nothing = {
        "party_type": "organization",
        "status": "prospect",
        "addresses": [builder.address("MY", "billing")],
        "custom_fields": {"sales_rep": rng.choice(_SALES_REPS)},
    }
    add(
        "crm",
        "CRM-900009",
        builder.encode(builder.envelope("crm", "CRM-900009", "upsert", past(), nothing)),
        "unidentifiable",
    )
    return messages


# --------------------------------------------------------------------------------------------------
# The feed
# --------------------------------------------------------------------------------------------------

_ORG_COUNTRIES = {"SG": 20, "MY": 16, "IN": 18, "DK": 18, "GB": 18, "US": 14, "DE": 16}
_SHOP_PERSON_COUNTRIES = {"MY": 20, "SG": 20, "IN": 6, "GB": 5, "DK": 3, "DE": 3, "US": 3}


def _data_quality_records(builder: _Builder) -> list[_Record]:
    """Valid records carrying ONE invalid value, applied with a data-quality issue."""
    bad_phone = builder.crm_org("SG", "CRM-009001")
    bad_phone.payload["phones"] = ["+65 6123 456"]
    bad_vat = builder.crm_org("DK", "CRM-009002")
    number = bad_vat.payload["tax_ids"][0]["value"]
    bad_vat.payload["tax_ids"] = [
        {"scheme": "dk_cvr", "value": number[:-1] + str((int(number[-1]) + 1) % 10)}
    ]
    shop = builder.shop_person("MY")
    shop.payload["account_id"] = shop.record_id = "shop-97001"
    shop.payload["phone"] = "+60 12-345"
    return [bad_phone, bad_vat, shop]


def _index(feed: Sequence[DemoMessage], message: DemoMessage) -> int:
    return next(i for i, m in enumerate(feed) if m is message)


def _insert_after(
    rng: random.Random, feed: list[DemoMessage], anchor: DemoMessage, message: DemoMessage
) -> None:
    feed.insert(rng.randint(_index(feed, anchor) + 1, len(feed)), message)


def demo_feed(seed: int = 2026, now: datetime | None = None) -> list[DemoMessage]:
    """Build the demo feed: the same messages for the same seed and `now`."""
    now = datetime.now(UTC) if now is None else now
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    builder = _Builder(seed, now)
    rng = builder.rng

    orgs = [builder.crm_org(country) for country, count in _ORG_COUNTRIES.items() for _ in range(count)]
    # A few groups: subsidiaries name a parent of the same country.
    children = rng.sample(orgs, 10)
    for child in children:
        parent = rng.choice(
            [o for o in orgs if o.country == child.country and all(o is not c for c in children)]
        )
        child.payload["parent_source_record_id"] = parent.record_id
        group = parent.payload["legal_name"].split(" ")[0]
        child.payload["category"] = parent.payload["category"] = f"{group} Group"
    crm_persons = [builder.crm_person(country) for country in ("MY",) * 5 + ("IN",) * 3]

    # E-commerce twins of CRM organisations: all DK, GB and DE ones (EU / UK VAT numbers), plus a few.
    eu_gb = [o for o in orgs if o.country in {"DK", "GB", "DE"}]
    others = [o for o in orgs if o.country in {"SG", "IN", "US"}]
    twins = [builder.twin(org) for org in eu_gb + rng.sample(others, 60 - len(eu_gb))]

    shop_persons = [
        builder.shop_person(c) for c, count in _SHOP_PERSON_COUNTRIES.items() for _ in range(count)
    ]
    # POS loyalty customers; some are the same people as web-shop customers, typed at the till.
    same_people = rng.sample([p for p in shop_persons if p.country in {"MY", "SG"}], 15)
    pos_loyalty = [builder.pos_loyalty(p.country, same_as=p) for p in same_people]
    pos_loyalty += [builder.pos_loyalty(rng.choice(["MY", "SG"])) for _ in range(30)]
    walk_ins = [builder.walk_in() for _ in range(30)]
    data_quality = _data_quality_records(builder)

    records = orgs + crm_persons + twins + shop_persons + pos_loyalty + walk_ins + data_quality
    creates = [builder.emit(record) for record in records]
    rng.shuffle(creates)
    walk_in_creates = {id(record.messages[0]) for record in walk_ins}

    # Updates: a later full snapshot of 40 records.
    updatable = orgs + crm_persons + twins + shop_persons + pos_loyalty
    org_ids = {id(org) for org in orgs}
    updated = rng.sample(orgs, 20) + rng.sample([r for r in updatable if id(r) not in org_ids], 20)
    originals = {id(record): copy.deepcopy(record.payload) for record in updated}
    create_times = {id(record): record.at for record in updated}
    updates: list[DemoMessage] = []
    for record in updated:
        builder.change(record)
        record.at = builder.update_time()
        updates.append(builder.emit(record))

    # Deletes of two web-shop accounts that see no other change.
    untouchable = {id(record) for record in updated + same_people}
    deletable = [r for r in shop_persons if id(r) not in untouchable]
    deletes: list[DemoMessage] = []
    for record in rng.sample(deletable, 2):
        record.at = (now - timedelta(seconds=rng.randrange(3600, 86400))).replace(microsecond=0)
        deletes.append(builder.emit(record, change="delete"))

    tail = updates + deletes
    rng.shuffle(tail)
    feed = creates + tail

    # Stale: an in-between snapshot that arrives after the newer one.
    for record in rng.sample(updated, 5):
        newer = record.messages[-1]
        stale = _Record(record.source, record.record_id, originals[id(record)], record.at, record.country)
        builder.change(stale)
        span = int((record.at - create_times[id(record)]).total_seconds())
        stale.at = create_times[id(record)] + timedelta(seconds=rng.randrange(1, span))
        _insert_after(rng, feed, newer, builder.emit(stale, expected="stale"))

    # Redeliveries: the same bytes again.
    candidates = [m for m in creates + updates if id(m) not in walk_in_creates]
    for original in rng.sample(candidates, 5):
        _insert_after(
            rng, feed, original, DemoMessage(original.source, original.key, original.value, "duplicate")
        )

    # Broken messages, sprinkled throughout.
    for message in _broken(builder):
        feed.insert(rng.randint(0, len(feed)), message)
    return feed


def expected_outcomes(feed: Iterable[DemoMessage]) -> Counter[str]:
    """Count the feed's messages by the outcome the hub should give them."""
    return Counter(message.expected for message in feed)
