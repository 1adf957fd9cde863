"""The outbound guard, attacked as a tenant admin would: a Twilio webhook signed with the tenant's own token but
carrying a media URL of our choosing, redirects inward, a gzip bomb, an internal LLM address, an SMTP "test" of
an internal host or a non-mail port. Every case asserts what the internal server received: nothing."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail

from accounts import outbound
from accounts.crypto import encrypt
from ai_agent.models import AccountAiSettings, AiUsage
from ai_agent.tasks import analyze_message
from channels_app.adapters import email as email_adapter
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint, InboundEvent
from inbox.models import Message
from tests.channels_app.test_twilio import fixture, post, run_pending, sms_endpoint
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound


class _Served:
    """A server of this module on 127.0.0.1, served from a thread: `url`, `hostport`, `close()`."""

    server: Any

    def _serve(self, server: Any) -> None:
        self.server = server
        self.hostport = f"127.0.0.1:{server.server_address[1]}"
        self.url = f"http://{self.hostport}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Recorder(_Served):
    """An HTTP server on 127.0.0.1 standing for something inside the network (or a hostile media host): it
    records every request with its Authorization header and answers as told."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.answer: tuple[int, dict[str, str], bytes] = (200, {"Content-Type": "image/jpeg"}, b"secret-inside")
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                recorder.requests.append((self.path, self.headers.get("Authorization", "")))
                status, headers, body = recorder.answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def inside() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def endpoint(tenant: Tenant, settings: Any) -> ChannelEndpoint:
    return sms_endpoint(tenant, settings)  # production: Twilio's own hosts only


def _mms(endpoint: ChannelEndpoint, media_url: str) -> Message:
    payload = fixture("whatsapp_inbound", MEDIA_BASE="https://api.twilio.com")
    payload["MediaUrl0"] = media_url
    assert post(endpoint, "messaging", payload).status_code == 200
    assert run_pending() == ["processed"]
    return Message.objects.get()


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["INSIDE/latest/meta-data/", "http://169.254.169.254/latest/meta-data/"])
def test_a_signed_media_url_off_twilio_is_never_fetched_and_the_text_is_kept(
    endpoint: ChannelEndpoint, inside: Recorder, target: str
) -> None:
    message = _mms(endpoint, target.replace("INSIDE", inside.url))
    assert inside.requests == []
    assert message.body and message.attachments.count() == 0
    assert "not one of the provider's hosts" in message.metadata["attachments_refused"][0]


@pytest.mark.django_db
def test_a_provider_host_that_resolves_inside_is_refused_on_the_socket(
    endpoint: ChannelEndpoint, inside: Recorder, settings: Any
) -> None:
    # A name on the allowed list whose DNS answer is internal (rebinding, a poisoned resolver): the socket says no.
    settings.TWILIO_MEDIA_HOSTS = ["localhost"]
    message = _mms(endpoint, f"http://localhost:{inside.hostport.split(':')[1]}/media")
    assert inside.requests == []
    assert "is not a public address" in message.metadata["attachments_refused"][0]


@pytest.mark.django_db
def test_a_redirect_inward_is_refused_and_credentials_stay_with_twilio(
    endpoint: ChannelEndpoint, inside: Recorder, settings: Any
) -> None:
    with outbound_sandbox(settings) as twilio_media:
        twilio_media.answer = (302, {"Location": f"{inside.url}/inner"}, b"")
        message = _mms(endpoint, f"{twilio_media.url}/2010-04-01/Media/ME1")
    assert twilio_media.requests[0][1].startswith("Basic ")  # the provider's host got its credentials
    assert inside.requests == []
    assert "is not a public address" in message.metadata["attachments_refused"][0]


@pytest.mark.django_db
def test_a_gzip_bomb_stops_at_the_cap_while_it_streams(endpoint: ChannelEndpoint, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))  # 20 kB on the wire, 20 MB decoded
    with outbound_sandbox(settings) as twilio_media:
        twilio_media.answer = (200, {"Content-Type": "image/jpeg", "Content-Encoding": "gzip"}, bomb)
        message = _mms(endpoint, f"{twilio_media.url}/2010-04-01/Media/ME1")
    assert message.attachments.count() == 0
    assert "larger than 1.0\xa0MB" in message.metadata["attachments_refused"][0]


@pytest.mark.django_db
def test_a_recording_from_an_internal_address_is_not_kept(
    tenant: Tenant, endpoint: ChannelEndpoint, inside: Recorder
) -> None:
    endpoint.kind = "voice"
    endpoint.save()
    assert post(endpoint, "voice", fixture("voice_inbound")).status_code == 200
    payload = fixture("voice_recording", MEDIA_BASE=inside.url)
    assert post(endpoint, "recording", payload).status_code == 200
    assert set(run_pending()) == {"processed"}
    assert inside.requests == []
    assert Message.objects.filter(kind="activity", body__startswith="The recording was not kept").exists()
    assert InboundEvent.objects.filter(status="failed").count() == 0


class outbound_sandbox:
    """A Twilio sandbox named by the operator (TWILIO_API_BASE_URL): its host is a provider host."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def __enter__(self) -> Recorder:
        self.server = Recorder()
        self.settings.TWILIO_API_BASE_URL = self.server.url
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.close()


# --- The LLM --------------------------------------------------------------------------------------------------


def _llm(tenant: Tenant, base_url: str, *, timeout: int) -> None:
    """The account's AI through an LLM at `base_url` (saved directly, as if it had been saved earlier)."""
    AccountAiSettings.objects.create(
        account=tenant.account,
        engine="llm",
        llm_base_url=base_url,
        llm_model="m",
        llm_api_key_encrypted=encrypt("sk-x"),
        llm_timeout_seconds=timeout,
    )


@pytest.mark.django_db
def test_an_internal_llm_address_is_refused_with_the_field_named(tenant: Tenant, inside: Recorder) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}/ai-settings"
    for base_url in (f"{inside.url}/v1", "http://169.254.169.254/v1", "http://[::1]:8080/v1", "file:///etc/passwd"):
        payload = {"engine": "llm", "llm_base_url": base_url, "llm_model": "m"}
        response = tenant.client("admin").patch(url, payload, "json")
        assert response.status_code == 400, base_url
        assert "llm_base_url" in response.json()["error"]["fields"]
    assert inside.requests == []


@pytest.mark.django_db
def test_an_internal_llm_address_saved_earlier_receives_no_conversation(tenant: Tenant, inside: Recorder) -> None:
    _llm(tenant, f"{inside.url}/v1", timeout=5)
    inbox = InboxFactory(account=tenant.account)
    message = inbound(tenant.account, inbox, "+13125550111", "My account number is 12345, please help")
    analyze_message.run(tenant.account.pk, message.pk)
    assert inside.requests == []
    assert AiUsage.objects.filter(ok=False).exists()  # the local engine answered; the failure is visible


@pytest.mark.django_db
def test_the_operator_may_name_an_internal_llm_host(tenant: Tenant, inside: Recorder, settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = [inside.hostport]
    url = f"/api/v1/accounts/{tenant.account.pk}/ai-settings"
    response = tenant.client("admin").patch(
        url, {"engine": "llm", "llm_base_url": f"{inside.url}/v1", "llm_model": "m"}, "json"
    )
    assert response.status_code == 200, response.content


# --- SMTP -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("host", "port", "says"),
    [
        ("127.0.0.1", "587", "not a public address"),
        ("10.1.2.3", "25", "not a public address"),
        ("smtp.example.com", "22", "port 22 is not allowed"),
    ],
)
def test_an_smtp_server_inside_or_on_another_port_is_refused(
    tenant: Tenant, settings: Any, host: str, port: str, says: str
) -> None:
    inbox = InboxFactory(account=tenant.account)
    response = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {
            "inbox": inbox.pk,
            "kind": "email",
            "provider": "sendgrid",
            "address": "help@shop.example.com",
            "credentials": {"webhook_secret": "s" * 20, "smtp_host": host, "smtp_port": port},
        },
        "json",
    )
    assert response.status_code == 400, response.content
    assert says in response.json()["error"]["fields"]["credentials"][0]


@pytest.mark.django_db
def test_an_smtp_server_saved_earlier_is_not_probed(tenant: Tenant, inside: Recorder) -> None:
    endpoint = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=InboxFactory(account=tenant.account),
        kind="email",
        address="help@shop.example.com",
        options={"provider": "sendgrid"},
        credentials_encrypted=credentials_encrypt(
            {"webhook_secret": "s" * 20, "smtp_host": "127.0.0.1", "smtp_port": inside.hostport.split(":")[1]}
        ),
    )
    from accounts.errors import ServiceError

    with pytest.raises(ServiceError, match="not allowed"):
        email_adapter.check(endpoint)
    assert inside.requests == [] and mail.outbox == []


# --- The address rule itself ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "224.0.0.1",
        "198.18.0.1",
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert outbound.address_refusal(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "54.172.60.0", "2607:f8b0:4004:800::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert outbound.address_refusal(address) is None


# --- Time: a server that answers a byte at a time ------------------------------------------------------------


class Trickler(_Served):
    """A TCP server on 127.0.0.1 that starts an HTTP answer and then sends one byte of a header every 0.2 s, for as
    long as the client stays: each read is quick, so a read timeout never ends it. `gone` counts the clients that
    hung up."""

    def __init__(self) -> None:
        import socketserver

        self.gone = 0
        trickler = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                try:
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    for _ in range(600):
                        time.sleep(0.2)
                        self.request.sendall(b"a")
                except OSError:
                    trickler.gone += 1

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._serve(server)


@pytest.fixture
def trickler(settings: Any) -> Iterator[Trickler]:
    server = Trickler()
    settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = [server.hostport]  # it stands for a public host
    yield server
    server.close()


def _until(test: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not test() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(test())


def test_a_download_that_trickles_is_cut_at_its_deadline(trickler: Trickler) -> None:
    with pytest.raises(outbound.DeadlinePassed, match=r"Downloading the file took longer than 1 s"):
        outbound.fetch(f"{trickler.url}/media/1", hosts=None, max_bytes=1000, total=1.0)
    assert _until(lambda: trickler.gone == 1)  # the connection was closed, not left to the server


@pytest.mark.django_db
def test_a_webhook_receiver_that_trickles_is_cut_and_retried(
    tenant: Tenant, trickler: Trickler, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations import webhooks
    from integrations.models import WebhookDelivery

    monkeypatch.setattr(webhooks, "ATTEMPT_SECONDS", 1.0)
    hook = {"url": f"{trickler.url}/hook", "events": ["csat.created"]}
    created = tenant.client("admin").post(f"/api/v1/accounts/{tenant.account.pk}/webhooks/", hook, "json")
    assert created.status_code == 201, created.content
    delivery = webhooks.send_test(subscription=webhooks.WebhookSubscription.objects.get(pk=created.json()["id"]))
    assert webhooks.deliver(delivery.pk) == "failed"  # a ping is not retried; other events are
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.error == "The receiver's answer took longer than 1 s; the connection was cut."
    assert delivery.leased_until is None and _until(lambda: trickler.gone == 1)


@pytest.mark.django_db
def test_a_model_that_trickles_is_cut_and_the_local_engine_answers(tenant: Tenant, trickler: Trickler) -> None:
    from memory.models import SentimentReading

    _llm(tenant, f"{trickler.url}/v1", timeout=1)  # the call's whole deadline is twice that, retries included
    inbox = InboxFactory(account=tenant.account)
    message = inbound(tenant.account, inbox, "+13125550111", "This is taking forever, I am annoyed")
    analyze_message.run(tenant.account.pk, message.pk)
    usage = AiUsage.objects.get(purpose="analyze")
    assert not usage.ok and usage.error.startswith("TooSlow: The model's answer took longer than 2 s")
    assert SentimentReading.objects.get(message=message).engine.startswith("local")
    assert _until(lambda: trickler.gone >= 1)
