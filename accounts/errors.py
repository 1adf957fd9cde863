"""Domain errors raised by services; the API turns them into 400 responses naming the field and the problem."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that breaks a business rule. `field` names the input at fault, when there is one."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class Conflict(ServiceError):
    """The request is valid but clashes with what exists (an existing member, the last admin...)."""

    code = "conflict"
    status = 409


class TooLarge(ServiceError):
    """An upload over the size limit."""

    code = "too_large"
    status = 413


class ProviderUnavailable(ServiceError):
    """A channel provider could not be reached; nothing was changed."""

    code = "provider_unreachable"
    status = 502
