"""The AR ledger's arithmetic and posting rules: pure, no I/O.

Outstanding is what was invoiced minus what was paid. Payments settle the invoice due first (then the older
one), as AR clerks allocate them, so the overdue part is what remains unpaid of invoices past their due date.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

_POSITIVE_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
_NET_DAYS = re.compile(r"NET\s*([0-9]{1,3})", re.IGNORECASE)
DEFAULT_TERM_DAYS = 30


class LedgerError(ValueError):
    """A posting the ledger refuses; `code` is for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Invoice:
    """An amount the customer owes from its due date on."""

    amount: Decimal
    due_date: date
    posted_on: date


@dataclass(frozen=True)
class Payment:
    """An amount the customer paid."""

    amount: Decimal


Posting = Invoice | Payment


@dataclass(frozen=True)
class Balance:
    """The exposure of one AR account."""

    outstanding: Decimal
    overdue: Decimal


@dataclass(frozen=True)
class Account:
    """An AR account: one currency, linked to one golden id."""

    account_id: str
    golden_id: str
    currency: str


def balance(postings: Sequence[Posting], today: date) -> Balance:
    """Compute an account's outstanding and overdue amounts as of a day."""
    invoices = sorted(
        (p for p in postings if isinstance(p, Invoice)), key=lambda i: (i.due_date, i.posted_on)
    )
    paid = sum((p.amount for p in postings if isinstance(p, Payment)), Decimal(0))
    outstanding = sum((i.amount for i in invoices), Decimal(0)) - paid
    unallocated, overdue = paid, Decimal(0)
    for invoice in invoices:
        settled = min(invoice.amount, unallocated)
        unallocated -= settled
        if invoice.due_date < today:
            overdue += invoice.amount - settled
    # Quantize to the postings' own precision, so that no overdue reads "0.00", not "0".
    places = Decimal(1).scaleb(min((_exponent(p.amount) for p in postings), default=0))
    return Balance(outstanding=outstanding.quantize(places), overdue=overdue.quantize(places))


def _exponent(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def parse_amount(text: str) -> Decimal:
    """Read a positive decimal string such as 124000.00; money is never a float."""
    if not _POSITIVE_AMOUNT.fullmatch(text.strip()) or Decimal(text) <= 0:
        raise LedgerError(
            "invalid_amount", f"the amount must be a positive decimal such as 1000.00, not {text!r}"
        )
    return Decimal(text.strip())


def parse_currency(text: str) -> str:
    """Read an ISO 4217 currency code, in either case."""
    code = text.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise LedgerError(
            "invalid_currency", f"the currency must be an ISO 4217 code such as MYR, not {text!r}"
        )
    return code


def due_in_days(payment_terms: str | None) -> int:
    """Read the days until an invoice is due from payment terms such as NET30; 30 when they do not say."""
    if payment_terms is None:
        return DEFAULT_TERM_DAYS
    found = _NET_DAYS.fullmatch(payment_terms.strip())
    if found:
        return int(found.group(1))
    if payment_terms.strip().upper() in ("COD", "CIA", "DUE ON RECEIPT"):
        return 0
    return DEFAULT_TERM_DAYS


def account_for_invoice(
    account: Account | None, account_id: str, golden_id: str | None, currency: str
) -> Account:
    """Return the account an invoice books on, opening it when new; refuse mixing customers or money."""
    if account is None:
        if golden_id is None:
            raise LedgerError(
                "unknown_account", f"account {account_id} is new: name its customer's golden id"
            )
        return Account(account_id, golden_id, currency)
    if golden_id is not None and golden_id != account.golden_id:
        raise LedgerError(
            "account_of_another_customer",
            f"account {account_id} belongs to {account.golden_id}, not {golden_id}",
        )
    _same_currency(account, currency)
    return account


def account_for_payment(account: Account | None, account_id: str, currency: str) -> Account:
    """Return the account a payment books on; it must exist and be in the payment's currency."""
    if account is None:
        raise LedgerError("unknown_account", f"no account {account_id}: invoice it first")
    _same_currency(account, currency)
    return account


def _same_currency(account: Account, currency: str) -> None:
    if currency != account.currency:
        raise LedgerError(
            "currency_mismatch",
            f"account {account.account_id} is kept in {account.currency}, not {currency}; "
            "amounts are never converted",
        )
