"""The one error the domain's validation rules raise."""

from __future__ import annotations


class InvalidValue(ValueError):
    """Reject a value: `code` is for programs to branch on, `message` for a steward to read."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
