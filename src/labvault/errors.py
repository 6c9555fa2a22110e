"""Errors every layer may raise; the web and CLI layers turn them into precise messages."""

from __future__ import annotations


class LabvaultError(Exception):
    """Base class for errors labvault reports to its users."""


class InvalidInput(LabvaultError, ValueError):
    """A value was refused; ``field`` names it and ``reason`` says why, without echoing the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnknownId(InvalidInput):
    """An id named in a request's body that the caller cannot see: absent, another lab's, or behind
    the glass, answered alike. ``target`` (``{"item_id": "..."}``) is what the web layer records
    when it audits the refusal (oversight/refusals.py): probing through bodies is seen too."""

    def __init__(self, field: str, reason: str, target: dict[str, str]) -> None:
        super().__init__(field, reason)
        self.target = target


class NotFound(LabvaultError):
    """The object does not exist, or exists in another lab: the caller cannot tell which."""


class Forbidden(LabvaultError):
    """The caller is known but its role or lab does not allow this action."""


class Unauthenticated(LabvaultError):
    """No valid credentials were presented."""


class Conflict(LabvaultError):
    """The request contradicts existing data (e.g. a duplicate patient)."""

    def __init__(self, message: str, existing_ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.existing_ids = existing_ids or []


class ConfigurationError(LabvaultError):
    """The platform is set up in a way labvault refuses to run with."""
