"""Downstream reference consumers of the hub's canonical topics; they depend on `contracts` alone.

- `consumers.sales_credit_gate`: a local credit-status projection that answers "may we sell X to Y now?".
- `consumers.ar_sync`: an AR customer table kept in step with the golden records; AR exposure published back.
"""
