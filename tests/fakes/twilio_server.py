"""A fake Twilio REST API on 127.0.0.1 for the real `twilio` client: it records message sends and answers like
Twilio (201 with a message resource, or Twilio's error body), and serves media behind basic auth."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 32


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.sent: list[dict[str, str]] = []
        self.calls: list[dict[str, str]] = []  # calls.create requests (click-to-call)
        self.replies: list[tuple[int, int]] = []  # (HTTP status, Twilio error code) to answer before succeeding
        self.numbers: set[str] = set()  # E.164 numbers of the account (IncomingPhoneNumbers)
        self.lose_answers = 0  # sends to accept and then answer with nothing (the connection drops)
        self.answer_delay = 0.0  # seconds to wait before dropping such an answer (a hang: the caller times out)
        self.listed = 0  # message-list requests (asking before sending again)
        # Content API templates as GET /v1/ContentAndApprovals answers them (set by a test); a send naming one
        # of them is filled as Twilio fills it, and an unknown ContentSid is refused (21655)
        self.templates: list[dict[str, Any]] = []
        self.template_pages = 0
        counter = itertools.count(1)
        fake = self
        self.api_keys: dict[str, str] = {}  # API key sid -> secret, accepted like the auth token
        self.auth_used: list[str] = []  # who authenticated each request (account sid or API key sid)

        def authorized(header: str | None) -> bool:
            try:
                user, _, password = base64.b64decode((header or "")[6:]).decode().partition(":")
            except ValueError:
                return False
            if (user, password) == (account_sid, auth_token) or fake.api_keys.get(user) == password:
                fake.auth_used.append(user)
                return True
            return False

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not authorized(self.headers.get("Authorization")):
                    self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                path, _, query = self.path.partition("?")
                if path == "/v1/ContentAndApprovals":  # paged as Twilio pages it (PageSize, then next_page_url)
                    params = {k: v[0] for k, v in parse_qs(query).items()}
                    size, page = int(params.get("PageSize", 50)), int(params.get("Page", 0))
                    rows = fake.templates[page * size : (page + 1) * size]
                    more = (page + 1) * size < len(fake.templates)
                    fake.template_pages += 1
                    next_url = f"{fake.url}/v1/ContentAndApprovals?PageSize={size}&Page={page + 1}" if more else None
                    meta = {"page": page, "page_size": size, "key": "contents", "next_page_url": next_url,
                            "previous_page_url": None, "first_page_url": None, "url": None}  # fmt: skip
                    self._json(200, {"contents": rows, "meta": meta})
                    return
                if path == f"/2010-04-01/Accounts/{account_sid}.json":
                    self._json(200, {"sid": account_sid, "friendly_name": "Test account", "status": "active"})
                    return
                if path.endswith("/Messages.json"):  # the list, newest first, filtered as Twilio filters it
                    filters = {k: v[0] for k, v in parse_qs(query).items()}
                    listed = [
                        {
                            "sid": m["sid"],
                            "to": m.get("To"),
                            "from": m.get("From") or "+10000000000",
                            "body": m.get("Body"),
                            "status": "sent",
                            "date_created": m["date_created"],
                            "account_sid": account_sid,
                        }
                        for m in reversed(fake.sent)
                        if filters.get("To", m.get("To")) == m.get("To")
                        and filters.get("From", m.get("From")) == m.get("From")
                    ]
                    fake.listed += 1
                    self._json(200, {"messages": listed, "next_page_uri": None, "page": 0, "page_size": 50})
                    return
                if path.endswith("/IncomingPhoneNumbers.json"):
                    wanted = parse_qs(query).get("PhoneNumber", [""])[0]
                    found = [{"sid": "PN" + "0" * 32, "phone_number": wanted}] if wanted in fake.numbers else []
                    self._json(200, {"incoming_phone_numbers": found, "next_page_uri": None, "page": 0, "page_size": 1})
                    return
                media, content_type = (MP3, "audio/mpeg") if path.endswith(".mp3") else (JPEG, "image/jpeg")
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(media)))
                self.end_headers()
                self.wfile.write(media)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if not authorized(self.headers.get("Authorization")):
                    self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                if fake.replies:
                    status, code = fake.replies.pop(0)
                    self._json(
                        status,
                        {
                            "code": code,
                            "message": f"scripted error {code}",
                            "more_info": f"https://www.twilio.com/docs/errors/{code}",
                            "status": status,
                        },
                    )
                    return
                if self.path.endswith("/Calls.json"):
                    call_sid = f"CA{next(counter):032d}"
                    fake.calls.append({**form, "sid": call_sid})
                    self._json(
                        201,
                        {
                            "sid": call_sid,
                            "status": "queued",
                            "to": form.get("To"),
                            "from": form.get("From"),
                            "account_sid": account_sid,
                            "direction": "outbound-api",
                            "api_version": "2010-04-01",
                        },
                    )
                    return
                if form.get("ContentSid"):
                    known = {t["sid"]: t for t in fake.templates}
                    if form["ContentSid"] not in known:
                        self._json(400, {"code": 21655, "message": "The ContentSid is Invalid.", "status": 400})
                        return
                    text = next(iter(known[form["ContentSid"]]["types"].values())).get("body", "")
                    values = json.loads(form.get("ContentVariables") or "{}")
                    for name, value in values.items():
                        text = text.replace("{{" + name + "}}", value)
                    form["Body"] = text
                sid = f"SM{next(counter):032d}"
                fake.sent.append({**form, "sid": sid, "path": self.path, "date_created": formatdate(usegmt=True)})
                if fake.lose_answers:  # accepted, but the answer never reaches the caller
                    fake.lose_answers -= 1
                    time.sleep(fake.answer_delay)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._json(
                    201,
                    {
                        "sid": sid,
                        "status": "queued",
                        "to": form.get("To"),
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "account_sid": account_sid,
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                    },
                )

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTwilio:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
