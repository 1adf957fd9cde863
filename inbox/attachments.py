"""Checking and storing message attachments (size and type), through Django's storage."""

from __future__ import annotations

import fnmatch
import mimetypes
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile, File

from accounts.errors import ServiceError, TooLarge

# Labels that say only "a file" (mail clients and browsers send them when they do not know better; some misspell
# them): the type is then read from the file's name, as a mail client does when it opens the file.
GENERIC_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "application/octetstream",
        "binary/octet-stream",
        "application/binary",
        "application/unknown",
        "application/x-download",
        "application/force-download",
    }
)


@dataclass(frozen=True)
class IncomingFile:
    """A file to attach: from an upload, or downloaded from a provider."""

    filename: str
    content_type: str
    file: File  # type: ignore[type-arg]
    size: int

    @classmethod
    def from_bytes(cls, filename: str, data: bytes, content_type: str = "") -> IncomingFile:
        return cls(filename, content_type, ContentFile(data, name=filename), len(data))


def attachment_check(incoming: IncomingFile) -> str:
    """The content type to store, after checking size and type; raises a ServiceError naming the problem."""
    limit = settings.ATTACHMENT_MAX_BYTES
    if incoming.size > limit:
        raise TooLarge(
            f"{incoming.filename} is {incoming.size / 1_048_576:.1f} MB; attachments may be at most "
            f"{limit / 1_048_576:.0f} MB.",
            field="attachments",
        )
    content_type = incoming.content_type.split(";")[0].strip().lower()
    if content_type in GENERIC_TYPES:  # "some bytes": the file's name says what it is
        content_type = mimetypes.guess_type(incoming.filename)[0] or content_type
    if not any(fnmatch.fnmatch(content_type, pattern) for pattern in settings.ATTACHMENT_ALLOWED_TYPES):
        raise ServiceError(
            f"{incoming.filename}: files of type {content_type or 'unknown'} cannot be attached; send images, "
            "audio, video, PDF, text or office documents.",
            field="attachments",
        )
    return content_type
