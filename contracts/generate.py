"""Write the JSON Schema of every contract model to `contracts/schemas/` (`make schemas`)."""

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from contracts import CONTRACT_VERSION
from contracts.inbound import ArExposurePayload, CrmPayload, EcommercePayload, Envelope, PosPayload
from contracts.outbound import CreditStatusEvent, CustomerEvent, DeadLetter

SCHEMA_DIR = Path(__file__).parent / "schemas"
"""Where the generated schemas are committed."""

# Inbound schemas describe what a source may send (validation); outbound ones what the hub publishes.
SCHEMA_MODELS: dict[str, tuple[type[BaseModel], Literal["validation", "serialization"]]] = {
    "envelope": (Envelope, "validation"),
    "crm-payload": (CrmPayload, "validation"),
    "pos-payload": (PosPayload, "validation"),
    "ecommerce-payload": (EcommercePayload, "validation"),
    "ar-exposure-payload": (ArExposurePayload, "validation"),
    "customer-event": (CustomerEvent, "serialization"),
    "credit-status-event": (CreditStatusEvent, "serialization"),
    "deadletter": (DeadLetter, "serialization"),
}
"""Each schema's name and the model and mode it is generated from."""


def render_schemas() -> dict[str, str]:
    """Return each schema file's name and its exact text."""
    rendered: dict[str, str] = {}
    for name, (model, mode) in SCHEMA_MODELS.items():
        schema = model.model_json_schema(mode=mode)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:customer-master-hub:contracts:{name}:{CONTRACT_VERSION}"
        filename = f"{name}.{CONTRACT_VERSION}.schema.json"
        rendered[filename] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return rendered


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema into `directory`, drop stale schema files, and return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for stale in directory.glob("*.schema.json"):
        if stale.name not in rendered:
            stale.unlink()
    written = []
    for filename, text in rendered.items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    """Regenerate the committed schemas."""
    for path in write_schemas():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
