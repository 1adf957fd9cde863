"""Read a folder of real-world .eml files as the raw-MIME webhook's task does (parse, sender identity, body,
attachment checks; no database) and print what was kept and what was not, by class.

    .venv/bin/python scripts/mail_corpus.py DIR [DIR ...]

Public corpora to try: SpamScope/mail-parser tests/mails, mikel/mail spec/fixtures/emails,
zbateson/mail-mime-parser tests/_data/emails (fetch them; they are not kept here)."""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from accounts.errors import ServiceError  # noqa: E402
from channels_app.adapters import email  # noqa: E402
from contacts.addresses import received_email  # noqa: E402
from inbox.attachments import IncomingFile, attachment_check  # noqa: E402


def main(folders: list[str]) -> None:
    counts: collections.Counter[str] = collections.Counter()
    problems: dict[str, list[str]] = collections.defaultdict(list)
    for folder in folders:
        for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and p.stat().st_size):
            counts["messages"] += 1
            try:
                mail = email.from_mime(path.read_bytes())
                _value, note = received_email(mail.sender)
            except (email.MalformedEmail, ServiceError) as exc:
                problems["not read (kept failed, replayable)"].append(f"{path.name}: {exc}"[:160])
                continue
            counts["read"] += 1
            counts["flagged sender"] += bool(note)
            counts["read leniently"] += bool(mail.repaired)
            counts["with forwarded emails"] += bool(mail.forwarded)
            if not email.visible_text(mail).strip():
                problems["no words (attachment-only or empty)"].append(path.name)
            for name, content_type, data in mail.attachments:
                counts["attachments"] += 1
                try:
                    attachment_check(IncomingFile.from_bytes(name, data, content_type))
                    counts["attachments kept"] += 1
                except ServiceError as exc:
                    problems["attachment refused by type or size"].append(f"{path.name}: {exc.message}"[:160])
            counts["attachments"] += len(mail.refused)
    for name, value in counts.items():
        print(f"{name:>28}: {value}")
    for name, found in problems.items():
        print(f"\n{name} ({len(found)}):")
        for line in found:
            print(f"  {line}")


if __name__ == "__main__":
    main(sys.argv[1:])
