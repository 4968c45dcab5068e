"""Wire formats of the customer master hub: pydantic models of every message in and out, versioned.

Nothing here knows about the hub; downstream consumers import this package alone.
"""

from contracts.inbound import (
    PAYLOAD_MODELS,
    AddressIn,
    ArCustomerByGoldenId,
    ArCustomerBySourceRef,
    ArExposurePayload,
    CompanyIn,
    ContactIn,
    CreditIn,
    CrmPayload,
    EcommercePayload,
    Envelope,
    PosPayload,
    TaxIdIn,
    parse_payload,
)
from contracts.outbound import (
    AddressOut,
    ContactOut,
    CreditOut,
    CreditStatusEvent,
    CustomerEvent,
    CustomerSnapshot,
    DataQuality,
    DataQualityIssue,
    DeadLetter,
    DeadLetterCode,
    EventType,
    FieldError,
    HoldReason,
    LineageEntry,
    SourceRef,
    TaxIdOut,
)

CONTRACT_VERSION = "v1"
"""The version of every model here; it is part of each topic name and schema file name."""

__all__ = [
    "CONTRACT_VERSION",
    "PAYLOAD_MODELS",
    "AddressIn",
    "AddressOut",
    "ArCustomerByGoldenId",
    "ArCustomerBySourceRef",
    "ArExposurePayload",
    "CompanyIn",
    "ContactIn",
    "ContactOut",
    "CreditIn",
    "CreditOut",
    "CreditStatusEvent",
    "CrmPayload",
    "CustomerEvent",
    "CustomerSnapshot",
    "DataQuality",
    "DataQualityIssue",
    "DeadLetter",
    "DeadLetterCode",
    "EcommercePayload",
    "Envelope",
    "EventType",
    "FieldError",
    "HoldReason",
    "LineageEntry",
    "PosPayload",
    "SourceRef",
    "TaxIdIn",
    "TaxIdOut",
    "parse_payload",
]
