"""Files in a provider's multipart post (SendGrid, Mailgun), capped while they stream in: a file over the
attachment limit, or past the per-message count, is dropped chunk by chunk (never held whole, never stored in
the event) and named, so the email still lands and the agent is told which file was not kept and why."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.template.defaultfilters import filesizeformat


class CappedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: list[str] = []
        self.kept = 0
        self.skipping = False
        self.size = 0

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        self.size = 0
        self.skipping = self.kept >= settings.ATTACHMENTS_PER_MESSAGE
        if self.skipping:
            self.refused.append(
                f"{file_name}: more than {settings.ATTACHMENTS_PER_MESSAGE} files in one message; not kept."
            )
            self.file_name = file_name
            return
        super().new_file(field_name, file_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.size += len(raw_data)
        if self.skipping:
            return None
        if self.size > settings.ATTACHMENT_MAX_BYTES:
            limit = filesizeformat(settings.ATTACHMENT_MAX_BYTES)
            self.refused.append(f"{self.file_name}: larger than {limit}; not kept.")
            self.skipping = True
            self.file.close()
            return None
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self.skipping:
            return None
        self.kept += 1
        return super().file_complete(file_size)
