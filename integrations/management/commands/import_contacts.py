"""Import contacts from a CSV into an account, with a progress bar and the report at the end.

    manage.py import_contacts <account id> contacts.csv [--map "Mobile=phone" --map "Company=attribute:company"]

Columns are mapped by their header (name, phone, email, whatsapp, labels, ignore, attribute:<key>); unmapped
headers are guessed (Name, Phone, Mobile, Email, Tags...). Same rules as the console's import.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.errors import ServiceError
from accounts.models import Account
from accounts.tenant_db import tenant_scope
from integrations.imports import import_run, import_start, import_upload
from integrations.models import ContactImport


class Command(BaseCommand):
    help = "Import contacts from a CSV file (matched against existing contacts by phone, email or WhatsApp)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account_id", type=int)
        parser.add_argument("csv_path")
        parser.add_argument("--map", action="append", default=[], help='"Header=field", repeatable')

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(pk=options["account_id"]).first()
        if account is None:
            raise CommandError(f"No account {options['account_id']}.")
        path = Path(options["csv_path"])
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        mapping = {}
        for item in options["map"]:
            header, sep, field = item.partition("=")
            if not sep:
                raise CommandError(f'--map takes "Header=field", not {item!r}.')
            mapping[header.strip()] = field.strip()
        with tenant_scope(account.pk):
            try:
                contact_import = import_upload(account=account, actor=None, filename=path.name, raw=path.read_bytes())
                import_start(contact_import=contact_import, mapping=mapping)
            except ServiceError as exc:
                raise CommandError(exc.message) from None
            chosen = ", ".join(f"{h} -> {f}" for h, f in contact_import.mapping.items())
            self.stdout.write(f"{contact_import.total_rows} rows; columns: {chosen}")
            import_run(contact_import, progress=self._bar)
            self._report(contact_import)

    def _bar(self, contact_import: ContactImport) -> None:
        total = max(contact_import.total_rows, 1)
        width = 40
        filled = int(width * contact_import.processed_rows / total)
        sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {contact_import.processed_rows}/{total}")
        sys.stdout.flush()

    def _report(self, contact_import: ContactImport) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(
            f"Created {contact_import.created_count}, matched {contact_import.matched_count}, "
            f"refused {contact_import.refused_count}."
        ))  # fmt: skip
        for line in contact_import.report:
            self.stdout.write(f"  row {line['row']}: {line['outcome']}: {line['detail']}")
