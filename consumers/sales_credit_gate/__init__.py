"""Sales credit gate: a local projection of credit status that answers "may we sell X to Y now?".

It follows retired golden ids to their survivors, and keeps answering from its SQLite projection while the
hub or the broker is down. Run it with `python -m consumers.sales_credit_gate`.
"""

from consumers.sales_credit_gate.decisions import SaleDecision, SaleRequest, decide_sale
from consumers.sales_credit_gate.gate import CreditGate
from consumers.sales_credit_gate.settings import GateSettings
from consumers.sales_credit_gate.store import ProjectionStore

__all__ = ["CreditGate", "GateSettings", "ProjectionStore", "SaleDecision", "SaleRequest", "decide_sale"]
