"""AR sync: an AR customer table kept in step with the golden records, and AR exposure published back.

`python -m consumers.ar_sync run` follows `mdm.customer.v1`; `invoice` and `payment` post to the ledger and
publish the account's new balance to `source.ar.exposure.v1`.
"""

from consumers.ar_sync.service import PostingOutcome, post_invoice, post_payment
from consumers.ar_sync.settings import ArSettings
from consumers.ar_sync.store import ArStore

__all__ = ["ArSettings", "ArStore", "PostingOutcome", "post_invoice", "post_payment"]
