"""A real IMAP server for the mailbox tests: Debian's Dovecot (dovecot-imapd, installed by .ci/run), started on a
free port of 127.0.0.1 with its own configuration, users and maildirs in a temporary folder, and stopped after."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

BINARY = "/usr/sbin/dovecot"


def dovecot_binary() -> str | None:
    return BINARY if os.access(BINARY, os.X_OK) else shutil.which("dovecot")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="continuum-dovecot-"))
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        home = self.folder / "home"
        home.mkdir()
        (self.folder / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        if os.geteuid() == 0:  # Dovecot's login processes never run as root: mail is kept by nobody
            mail_user = pwd.getpwnam("nobody")
            os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
            self.folder.chmod(0o755)
            identity = ""
        else:  # an unprivileged run: every Dovecot process is this user
            mail_user = pwd.getpwuid(os.getuid())
            name = mail_user.pw_name
            identity = f"default_internal_user = {name}\ndefault_login_user = {name}\n"
        return f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
{identity}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""

    def __enter__(self) -> Dovecot:
        binary = dovecot_binary()
        assert binary, "dovecot is not installed (apt-get install dovecot-imapd)"
        (self.folder / "state").mkdir()
        config = self.folder / "dovecot.conf"
        config.write_text(self._config())
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                imaplib.IMAP4("127.0.0.1", self.port, timeout=2).logout()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        log = (self.folder / "dovecot.log").read_text() if (self.folder / "dovecot.log").exists() else ""
        self.__exit__()
        raise RuntimeError(f"dovecot did not start: {log[-2000:]}")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def client(self, user: str) -> imaplib.IMAP4:
        connection = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        connection.login(user, self.users[user])
        return connection

    def deliver(self, user: str, data: bytes, folder: str = "INBOX") -> None:
        """Mail arriving in the mailbox (as the mail server's delivery would put it there)."""
        connection = self.client(user)
        try:
            connection.append(folder, None, None, data)
        finally:
            connection.logout()

    def messages(self, user: str, folder: str) -> list[bytes]:
        connection = self.client(user)
        try:
            connection.select(folder, readonly=True)
            _, found = connection.uid("SEARCH", "ALL")
            out: list[bytes] = []
            for uid in found[0].split():
                _, parts = connection.uid("FETCH", uid, "(BODY.PEEK[])")
                out.extend(part[1] for part in parts if isinstance(part, tuple))
            return out
        finally:
            connection.logout()
