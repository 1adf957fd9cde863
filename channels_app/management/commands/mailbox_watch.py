"""Hold every connected IMAP mailbox in IDLE and take each email the moment its server announces it (the `mail`
process of the Procfile and docker-compose). Beat's polling stays on as the fallback, for servers without IDLE."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from channels_app.mailboxes import watch_all


class Command(BaseCommand):
    help = "Watch every connected IMAP mailbox with IDLE (stops on SIGTERM or Ctrl+C)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--idle-seconds", type=float, default=300.0, help="renew IDLE after this long")
        parser.add_argument("--rescan-seconds", type=float, default=60.0, help="look for new mailboxes this often")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("watching IMAP mailboxes (IDLE)")
        watch_all(stop, idle_seconds=options["idle_seconds"], rescan_seconds=options["rescan_seconds"])
