"""`python -m consumers.ar_sync`: run the AR customer sync, or post an invoice or a payment.

python -m consumers.ar_sync run
python -m consumers.ar_sync invoice --account AR-1 --golden-id CUS-0000042 --amount 124000.00 --currency MYR
python -m consumers.ar_sync payment --account AR-1 --amount 30000.00 --currency MYR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from datetime import date
from pathlib import Path

from consumers.ar_sync.ledger import LedgerError
from consumers.ar_sync.service import CustomerSync, PostingOutcome, amount_text, post_invoice, post_payment
from consumers.ar_sync.settings import ArSettings
from consumers.ar_sync.store import ArStore

EXIT_REFUSED = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", help="Kafka bootstrap servers (AR_KAFKA_BOOTSTRAP_SERVERS)")
    common.add_argument("--state-dir", type=Path, help="where the SQLite AR database lives (AR_STATE_DIR)")
    parser = argparse.ArgumentParser(
        prog="python -m consumers.ar_sync", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", parents=[common], help="keep the AR customer table in step with mdm.customer.v1"
    )
    invoice = commands.add_parser(
        "invoice", parents=[common], help="post an invoice and publish the exposure"
    )
    invoice.add_argument("--account", required=True, help="the AR account (the exposure's source_record_id)")
    invoice.add_argument("--golden-id", help="the customer; required on an account's first invoice")
    invoice.add_argument("--amount", required=True, help="a decimal string, e.g. 124000.00")
    invoice.add_argument("--currency", required=True, help="ISO 4217, e.g. MYR")
    invoice.add_argument(
        "--due-date", type=date.fromisoformat, help="YYYY-MM-DD; default: from the payment terms (NET30)"
    )
    invoice.add_argument("--reference", help="the invoice number")
    payment = commands.add_parser("payment", parents=[common], help="post a payment and publish the exposure")
    payment.add_argument("--account", required=True)
    payment.add_argument("--amount", required=True, help="a decimal string, e.g. 30000.00")
    payment.add_argument("--currency", required=True, help="ISO 4217, e.g. MYR")
    payment.add_argument("--reference", help="the payment's reference")
    return parser


def _settings(args: argparse.Namespace) -> ArSettings:
    overrides = {"kafka_bootstrap_servers": args.bootstrap, "state_dir": args.state_dir}
    return ArSettings().model_copy(update={k: v for k, v in overrides.items() if v is not None})


async def _run(settings: ArSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await CustomerSync(settings, ArStore(settings.database)).run(stop)


def _report(outcome: PostingOutcome) -> None:
    posted = outcome.posted
    print(
        json.dumps(
            {
                "account": posted.account.account_id,
                "golden_id": posted.account.golden_id,
                "currency": posted.account.currency,
                "outstanding": amount_text(posted.balance.outstanding),
                "overdue": amount_text(posted.balance.overdue),
                "exposure_message_id": posted.message["message_id"],
                "published": outcome.published,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit code (2 when the ledger refuses a posting)."""
    args = _parser().parse_args(argv)
    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        asyncio.run(_run(settings))
        return 0
    try:
        if args.command == "invoice":
            outcome = post_invoice(
                settings,
                account=args.account,
                golden_id=args.golden_id,
                amount=args.amount,
                currency=args.currency,
                due_date=args.due_date,
                reference=args.reference,
            )
        else:
            outcome = post_payment(
                settings,
                account=args.account,
                amount=args.amount,
                currency=args.currency,
                reference=args.reference,
            )
    except LedgerError as error:
        print(json.dumps({"error_code": error.code, "message": str(error)}), file=sys.stderr)
        return EXIT_REFUSED
    _report(outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
