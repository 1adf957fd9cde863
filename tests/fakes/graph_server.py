"""A fake Meta Graph API on 127.0.0.1 answering as the real one does for what the product calls: the Send API
(`POST /v21.0/me/messages`, with Graph's error body when scripted), `GET /v21.0/me`, a person's profile, and a
media URL for attachments. Every call must carry the page access token."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 64
VERSION = "v21.0"


class FakeGraph:
    def __init__(self, page_id: str, token: str) -> None:
        self.sent: list[dict[str, Any]] = []
        self.errors: list[tuple[int, dict[str, Any]]] = []  # (HTTP status, Graph error object) answered first
        self.profiles: dict[str, dict[str, str]] = {}
        self.profile_calls = 0
        counter = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _token_ok(self) -> bool:
                given = parse_qs(urlsplit(self.path).query).get("access_token", [""])[0]
                if given != token:
                    self._json(400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                               "code": 190, "fbtrace_id": "Ax"}})  # fmt: skip
                    return False
                return True

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path.startswith("/media/"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(JPEG)))
                    self.end_headers()
                    self.wfile.write(JPEG)
                    return
                if not self._token_ok():
                    return
                if path == f"/{VERSION}/me":
                    self._json(200, {"id": page_id, "name": "Northwind Bikes"})
                    return
                person = path.rsplit("/", 1)[-1]
                fake.profile_calls += 1
                self._json(200, {"id": person, **fake.profiles.get(person, {})})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._token_ok():
                    return
                if urlsplit(self.path).path != f"/{VERSION}/me/messages":
                    self._json(404, {"error": {"message": "Unknown path", "code": 803}})
                    return
                if fake.errors:
                    status, error = fake.errors.pop(0)
                    self._json(status, {"error": {"type": "OAuthException", "fbtrace_id": "Ax", **error}})
                    return
                mid = f"m_{next(counter):020d}"
                fake.sent.append({**body, "mid": mid})
                self._json(200, {"recipient_id": body.get("recipient", {}).get("id"), "message_id": mid})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.base = f"{self.url}/{VERSION}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGraph:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
