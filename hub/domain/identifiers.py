"""Tax and registration identifiers: compacted and validated with python-stdnum, keyed for comparison."""

from __future__ import annotations

import importlib
import re
from functools import cache
from types import ModuleType
from typing import Any

from stdnum.exceptions import ValidationError

from contracts.codes import COUNTRIES
from hub.domain.errors import InvalidValue
from hub.domain.model import RawTaxId, TaxId

#: Countries whose VAT numbers `eu_vat` reads, as written in a VAT number's prefix (EL is Greece,
#: XI Northern Ireland; stdnum also accepts GR).
# fmt: off
EU_VAT_PREFIXES: frozenset[str] = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI",
})
# fmt: on

#: Country in a VAT prefix -> ISO 3166-1 country in the key.
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}

#: National stdnum modules that ARE the country's VAT number (without its country prefix). Kept
#: explicit: stdnum's own `<cc>.vat` aliases also point at numbers that are not VAT numbers in the
#: hub's sense (`sg.vat` is the UEN, `in_.vat` the GSTIN), which keep their own family.
VAT_MODULES: frozenset[str] = frozenset(
    {
        "stdnum.at.uid", "stdnum.be.vat", "stdnum.bg.vat", "stdnum.cy.vat", "stdnum.cz.dic",
        "stdnum.de.vat", "stdnum.dk.cvr", "stdnum.ee.kmkr", "stdnum.es.nif", "stdnum.fi.alv",
        "stdnum.fr.tva", "stdnum.gb.vat", "stdnum.gr.vat", "stdnum.hr.oib", "stdnum.hu.anum",
        "stdnum.ie.vat", "stdnum.it.iva", "stdnum.lt.pvm", "stdnum.lu.tva", "stdnum.lv.pvn",
        "stdnum.mt.vat", "stdnum.nl.btw", "stdnum.pl.nip", "stdnum.pt.nif", "stdnum.ro.cf",
        "stdnum.se.vat", "stdnum.si.ddv", "stdnum.sk.dph",
    }
)  # fmt: skip

# Country codes that are Python keywords get a trailing underscore in stdnum (`stdnum.in_`).
_KEYWORD_PACKAGES = {"in": "in_", "is": "is_", "if": "if_"}
_SCHEME = re.compile(r"^([a-z]{2})_([a-z][a-z0-9]*)$")
_UNVERIFIED_SEPARATORS = re.compile(r"[\s./\\-]+")


def _stdnum_module(scheme: str) -> ModuleType | None:
    """Find the stdnum module of a scheme such as `in_gstin`; None when stdnum does not know it."""
    match = _SCHEME.match(scheme)
    if match is None:
        return None
    country, name = match.groups()
    package_name = f"stdnum.{_KEYWORD_PACKAGES.get(country, country)}"
    try:
        package = importlib.import_module(package_name)
        # A package's alias (`stdnum.dk.vat` is `stdnum.dk.cvr`) is an attribute, not a file.
        module = getattr(package, name, None)
        if not isinstance(module, ModuleType):
            module = importlib.import_module(f"{package_name}.{name}")
    except ImportError:
        return None
    if not (callable(getattr(module, "compact", None)) and callable(getattr(module, "validate", None))):
        return None
    return module


def _call(module: ModuleType, function: str, value: str) -> str:
    result: Any = getattr(module, function)(value)
    return str(result)


def _unverified(scheme: str, value: str) -> TaxId:
    compacted = _UNVERIFIED_SEPARATORS.sub("", value).upper()
    return TaxId(scheme=scheme, value=compacted, valid=None, key=f"{scheme}:{compacted}")


def _vat_key(prefix: str, national: str) -> str:
    country = _VAT_PREFIX_COUNTRY.get(prefix, prefix)
    return f"{country}:vat:{national}"


def _strip_prefix(number: str, country: str) -> str:
    prefixes = [country, *(p for p, c in _VAT_PREFIX_COUNTRY.items() if c == country)]
    for prefix in prefixes:
        if number.startswith(prefix) and len(number) > len(prefix):
            return number[len(prefix) :]
    return number


def _scheme_for_unlabelled_vat(value: str, default_country: str | None) -> tuple[str, str] | None:
    """Pick (scheme, value) for a VAT number without a scheme: by its prefix, else the billing country."""
    compacted = _UNVERIFIED_SEPARATORS.sub("", value).upper()
    prefix = compacted[:2]
    if prefix == "GB":
        return "gb_vat", compacted
    if prefix in EU_VAT_PREFIXES:
        return "eu_vat", compacted
    if len(prefix) == 2 and prefix.isalpha():
        # Another country's prefix (CHE..., NO...): not ours to read with the billing country.
        return None
    country = (default_country or "").upper()
    if country == "GB":
        return "gb_vat", compacted
    if country == "GR":
        country = "EL"
    if country in EU_VAT_PREFIXES:
        return "eu_vat", country + compacted
    if country and _stdnum_module(f"{country.lower()}_vat") is not None:
        # The country's own VAT / tax registration number (Singapore's UEN, India's GSTIN, ...).
        return f"{country.lower()}_vat", compacted
    return None


def normalise_tax_id(
    raw: RawTaxId, *, default_country: str | None, india_state_codes: frozenset[str]
) -> TaxId:
    """Compact and validate an identifier with python-stdnum and give it its canonical key.

    A scheme stdnum does not know yields an unverified TaxId (valid None); a number that fails its
    checks raises InvalidValue("invalid_tax_id", ...). `india_state_codes` are the GST state codes of
    the customer's Indian addresses: when not empty, a GSTIN must start with one of them.
    """
    value = raw.value.strip()
    if raw.scheme is None or not raw.scheme.strip():
        picked = _scheme_for_unlabelled_vat(value, default_country)
        if picked is None:
            return _unverified("vat", value)
        scheme, value = picked
    else:
        scheme = raw.scheme.strip().lower()
        if scheme == "eu_vat" and value.upper().startswith("GB"):
            # stdnum's eu_vat no longer knows GB (Brexit); the number is still a valid UK VAT number.
            scheme = "gb_vat"
    module = _stdnum_module(scheme)
    if module is None:
        return _unverified(scheme, value)
    try:
        number = _call(module, "validate", _call(module, "compact", value))
    except ValidationError as exc:
        raise InvalidValue("invalid_tax_id", f"{value!r} is not a valid {scheme}: {exc}") from exc

    if scheme == "eu_vat":
        key = _vat_key(number[:2], number[2:])
    else:
        country = scheme[:2].upper()
        if module.__name__ in VAT_MODULES or module.__name__.endswith(".vat"):
            key = f"{country}:vat:{_strip_prefix(number, country)}"
        else:
            key = f"{country}:{module.__name__.rsplit('.', 1)[1]}:{number}"
    if module.__name__ == "stdnum.in_.gstin" and india_state_codes and number[:2] not in india_state_codes:
        raise InvalidValue(
            "invalid_tax_id",
            f"{number!r} is not a valid in_gstin: its state code {number[:2]} disagrees with the address "
            f"state (GST code {', '.join(sorted(india_state_codes))})",
        )
    return TaxId(scheme=scheme, value=number, valid=True, key=key)


@cache
def _countries_with_vat_numbers() -> tuple[str, ...]:
    """The countries whose VAT number stdnum reads from a bare number: the EU's, the UK and `<cc>.vat`."""
    own = [c for c in sorted(COUNTRIES) if _stdnum_module(f"{c.lower()}_vat") is not None]
    return tuple(dict.fromkeys([*sorted(EU_VAT_PREFIXES - set(_VAT_PREFIX_COUNTRY)), "GB", *own]))


def search_keys(raw: RawTaxId, *, country: str | None) -> list[str]:
    """The keys an identifier may be stored under, for a search.

    With a scheme, a country or a country prefix the number has one key. A bare number (`13585628`)
    could be any country's: it is read as the VAT number of every country it is valid in, and kept
    as the unverified number a record without a billing country stores.
    """
    if (raw.scheme and raw.scheme.strip()) or country or _scheme_for_unlabelled_vat(raw.value, None):
        key = normalise_tax_id(raw, default_country=country, india_state_codes=frozenset()).key
        return [key] if key else []
    keys = [_unverified("vat", raw.value).key]
    for candidate in _countries_with_vat_numbers():
        try:
            keys.append(normalise_tax_id(raw, default_country=candidate, india_state_codes=frozenset()).key)
        except InvalidValue:
            continue
    return [k for k in dict.fromkeys(keys) if k]
