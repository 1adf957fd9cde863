"""The channel sandbox: SMS, WhatsApp, voice and email without a provider account.

An account that opts in (and `make run`'s demo) gets sandbox endpoints: ordinary endpoints (Twilio for SMS,
WhatsApp and voice; raw MIME for email) with generated credentials and `options["sandbox"]`. Two things differ
from a real provider, and only for them:

* **The customer's side is played on the simulator page.** What the "customer" sends is built as the provider
  builds it (Twilio's form fields, a MIME message), signed as the provider signs it (Twilio's
  `X-Twilio-Signature` with the endpoint's auth token; the MIME endpoint's webhook secret) and handed to the
  real webhook views, so it is verified, stored once and processed like any other webhook.
* **The product's outbound goes to a simulated carrier, never to the internet.** The real Twilio SDK builds
  and parses every request, but its HTTP client for a sandbox endpoint answers in-process (`CarrierHttpClient`)
  and writes what was sent here; the carrier then reports "sent" and "delivered" (or a call's completion)
  through the signed status webhooks, a second later. Email goes to a mail backend that keeps it here.

Production endpoints never touch this module's transport: `client_for` and the email connection pick it only
for endpoints marked as sandbox, which only `sandbox_enable` creates.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Collection
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.http import HttpResponse
from django.test.client import RequestFactory
from django.utils import timezone
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from accounts.errors import ServiceError
from accounts.models import Account, User
from accounts.services import audit_log_record
from contacts.addresses import normalize_email, normalize_phone
from inbox.models import Inbox

from .credentials import credentials_encrypt, credentials_get
from .models import ChannelEndpoint, SandboxMessage

CHANNELS = ("sms", "whatsapp", "voice", "email")
EMAIL_DOMAIN = "sandbox.example.net"  # reserved for examples (RFC 2606): nothing is ever delivered there
_DIAL_NUMBER = re.compile(r"<Number>([^<]+)</Number>")


def is_sandbox(endpoint: ChannelEndpoint) -> bool:
    return bool((endpoint.options or {}).get("sandbox"))


def sandbox_endpoints(account: Account, inbox_ids: Collection[int] | None = None) -> dict[str, ChannelEndpoint]:
    """The account's sandbox endpoints by kind; with `inbox_ids` (a person's visible inboxes), only theirs: the
    simulator shows the team's replies, which belong to the sandbox's inbox."""
    rows = ChannelEndpoint.objects.filter(account=account, options__sandbox=True, enabled=True).select_related("inbox")
    if inbox_ids is not None:
        rows = rows.filter(inbox_id__in=list(inbox_ids))
    return {e.kind: e for e in rows.order_by("id")}


def _free_number() -> str:
    taken = set(ChannelEndpoint.objects.filter(kind__in=["sms", "voice", "whatsapp"]).values_list("address", flat=True))
    for _ in range(200):
        number = f"+1312555{secrets.randbelow(9000) + 1000}"
        if number not in taken:
            return number
    raise ServiceError("No sandbox number is free; delete an unused sandbox.", field="inbox")


@transaction.atomic
def sandbox_enable(*, account: Account, actor: User | None, inbox: Inbox) -> dict[str, ChannelEndpoint]:
    """Sandbox SMS, WhatsApp, voice and email endpoints for `inbox` (the kinds the inbox has no endpoint of yet),
    or the account's existing sandbox."""
    existing = sandbox_endpoints(account)
    if existing:
        return existing
    has = set(ChannelEndpoint.objects.filter(account=account, inbox=inbox).values_list("kind", flat=True))
    if has >= set(CHANNELS):
        raise ServiceError(f"{inbox.name} already has real SMS, WhatsApp, voice and email endpoints.", field="inbox")
    number = _free_number()
    twilio_credentials = {"account_sid": "AC" + secrets.token_hex(16), "auth_token": secrets.token_hex(16)}
    mailbox = f"{re.sub(r'[^a-z0-9]+', '-', inbox.name.lower()).strip('-') or 'inbox'}-{account.pk}@{EMAIL_DOMAIN}"
    specs = {
        "sms": ("twilio", number, twilio_credentials, {}),
        "whatsapp": ("twilio", number, twilio_credentials, {}),
        "voice": ("twilio", number, twilio_credentials, {"voice_mode": "gather"}),
        "email": ("mime", mailbox, {"webhook_secret": secrets.token_urlsafe(24)}, {}),
    }
    created = {}
    for kind, (provider, address, credentials, options) in specs.items():
        if kind in has:
            continue
        created[kind] = ChannelEndpoint.objects.create(
            account=account,
            inbox=inbox,
            kind=kind,
            provider=provider,
            address=address,
            credentials_encrypted=credentials_encrypt(credentials),
            options={**options, "sandbox": True},
        )
    audit_log_record(account=account, actor=actor, action="channel.sandbox_enabled", target=inbox,
                     data={"kinds": sorted(created), "number": number, "email": mailbox})  # fmt: skip
    if "whatsapp" in created:  # the simulated carrier's templates, read as from Twilio, their variables mapped
        from .whatsapp_templates import templates_sync

        templates_sync(created["whatsapp"])
        for template in created["whatsapp"].templates.all():
            template.sources = SANDBOX_SOURCES.get(template.name, {})
            template.save(update_fields=["sources"])
    return created


# --- the customer's side: what a provider would post ----------------------------------------------------------


def _post(endpoint: ChannelEndpoint, kind: str, fields: dict[str, str] | None = None, raw: bytes = b"") -> HttpResponse:
    """Hand a provider's request, signed as the provider signs it, to the real webhook view."""
    from .adapters import twilio
    from .webhooks import email_webhook, twilio_webhook

    factory = RequestFactory()
    if endpoint.provider == "twilio":
        url = twilio.webhook_url(endpoint, kind)
        token = str(credentials_get(endpoint).get("auth_token", ""))
        signature = RequestValidator(token).compute_signature(url, fields or {})
        request = factory.post(urlsplit(url).path, data=fields or {}, HTTP_X_TWILIO_SIGNATURE=signature)
        return twilio_webhook(request, str(endpoint.public_id), kind)
    secret = str(credentials_get(endpoint).get("webhook_secret", ""))
    path = f"/webhooks/email/{endpoint.public_id}/mime"
    request = factory.post(path, data=raw, content_type="message/rfc822", HTTP_X_WEBHOOK_SECRET=secret)
    return email_webhook(request, str(endpoint.public_id), "mime")


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _check(response: HttpResponse, what: str) -> None:
    if response.status_code != 200:
        detail = response.content.decode("utf-8", "replace")[:200]
        raise ServiceError(f"The {what} webhook answered {response.status_code}: {detail}", field="channel")


def customer_send(
    *,
    account: Account,
    channel: str,
    address: str,
    body: str,
    name: str = "",
    subject: str = "",
    inbox_ids: Collection[int] | None = None,
) -> SandboxMessage:
    """Play the customer: send `body` on `channel` from `address` (a phone number, or an email address for
    email) to the account's sandbox."""
    if channel not in CHANNELS:
        raise ServiceError(f"Choose a channel: {', '.join(CHANNELS)}.", field="channel")
    endpoint = sandbox_endpoints(account, inbox_ids).get(channel)
    if endpoint is None:
        raise ServiceError(f"The sandbox has no {channel} endpoint: set the sandbox up first.", field="channel")
    body = body.strip()
    if not body:
        raise ServiceError("Write what the customer says.", field="body")
    try:
        if channel == "email":
            customer = normalize_email(address)
        else:
            customer = normalize_phone(address, region=account.default_region)
    except ServiceError as exc:
        raise ServiceError(exc.message, field="address") from None
    name = name.strip()[:100]
    account_sid = str(credentials_get(endpoint).get("account_sid", ""))
    if channel in ("sms", "whatsapp"):
        wa = "whatsapp:" if channel == "whatsapp" else ""
        fields = {"MessageSid": _sid("SM"), "SmsSid": "", "AccountSid": account_sid, "From": wa + customer,
                  "To": wa + endpoint.address, "Body": body, "NumMedia": "0", "NumSegments": "1"}  # fmt: skip
        fields["SmsSid"] = fields["MessageSid"]
        if wa:
            fields.update({"ProfileName": name or "", "WaId": customer.lstrip("+")})
        _check(_post(endpoint, "messaging", fields), "messaging")
        provider_id = fields["MessageSid"]
    elif channel == "voice":
        call = {"CallSid": _sid("CA"), "AccountSid": account_sid, "From": customer, "To": endpoint.address,
                "Direction": "inbound", "CallerName": name}  # fmt: skip
        _check(_post(endpoint, "voice", {**call, "CallStatus": "ringing"}), "voice")
        _check(_post(endpoint, "gather", {**call, "CallStatus": "in-progress", "SpeechResult": body,
                                          "Confidence": "0.93"}), "gather")  # fmt: skip
        provider_id = call["CallSid"]
    else:
        previous = (
            SandboxMessage.objects.filter(account=account, endpoint=endpoint, customer=customer, direction="out")
            .order_by("-created_at")
            .first()
        )
        mail = EmailMessage()
        mail["From"] = formataddr((name, customer)) if name else customer
        mail["To"] = (previous.metadata.get("reply_to") if previous else "") or endpoint.address
        mail["Subject"] = subject.strip() or (f"Re: {previous.subject}" if previous and previous.subject else "Hello")
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=customer.partition("@")[2] or None)
        if previous and previous.provider_id:
            mail["In-Reply-To"] = previous.provider_id
            mail["References"] = previous.provider_id
        mail.set_content(body)
        _check(_post(endpoint, "email", raw=mail.as_bytes()), "email")
        provider_id, subject = str(mail["Message-ID"]), str(mail["Subject"])
    return SandboxMessage.objects.create(
        account=account, endpoint=endpoint, direction="in", channel=channel, customer=customer, body=body,
        subject=subject[:300], provider_id=provider_id, metadata={"name": name} if name else {},
    )  # fmt: skip


def transcript(*, account: Account, customer: str, inbox_ids: Collection[int] | None = None) -> list[SandboxMessage]:
    rows = SandboxMessage.objects.filter(account=account, customer=customer)
    if inbox_ids is not None:
        rows = rows.filter(endpoint__inbox_id__in=list(inbox_ids))
    return list(rows.order_by("created_at", "id")[:500])


# --- the product's side: a carrier and a mail server that keep what they are given ---------------------------


# What the simulated carrier answers Twilio's Content API with: two approved WhatsApp templates and a rejected one.
SANDBOX_TEMPLATES: list[dict[str, Any]] = [  # what the sandbox's simulated carrier answers the Content API with
    {
        "sid": "HX" + "a" * 32,
        "friendly_name": "order_ready",
        "language": "en",
        "variables": {"1": "Maria", "2": "1042"},
        "types": {"twilio/text": {"body": "Hi {{1}}, your order {{2}} is ready. Reply here with any question."}},
        "approval_requests": {"name": "order_ready", "category": "UTILITY", "status": "approved"},
    },
    {
        "sid": "HX" + "b" * 32,
        "friendly_name": "follow_up",
        "language": "en",
        "variables": {"1": "Maria", "2": "Northwind"},
        "types": {"twilio/text": {"body": "Hi {{1}}, this is {{2}} following up on your question. Can we help?"}},
        "approval_requests": {"name": "follow_up", "category": "UTILITY", "status": "approved"},
    },
    {
        "sid": "HX" + "c" * 32,
        "friendly_name": "winter_sale",
        "language": "en",
        "variables": {"1": "Maria"},
        "types": {"twilio/text": {"body": "{{1}}, our winter sale starts Friday!"}},
        "approval_requests": {"name": "winter_sale", "category": "MARKETING", "status": "rejected",
                              "rejection_reason": "Promotional content in a utility template"},
    },
]  # fmt: skip


SANDBOX_SOURCES = {
    "order_ready": {"1": "contact.first_name"},
    "follow_up": {"1": "contact.first_name", "2": "account.name"},
    "winter_sale": {"1": "contact.first_name"},
}


class CarrierHttpClient(HttpClient):
    """The Twilio SDK's transport for a sandbox endpoint: answers the REST calls the product makes (send a message,
    list sent messages, place a call, check the account and number) as Twilio would, in-process."""

    def __init__(self, endpoint: ChannelEndpoint) -> None:
        super().__init__(logger=None, is_async=False, timeout=None)  # type: ignore[arg-type]
        self.endpoint = endpoint
        self.credentials = credentials_get(endpoint)

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        sid, token = str(self.credentials.get("account_sid", "")), str(self.credentials.get("auth_token", ""))
        if auth is None or tuple(auth) != (sid, token):
            return _json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        path = urlsplit(url).path
        form = {k: (v[0] if isinstance(v, list) else v) for k, v in (data or {}).items()}
        query = {k: (v[0] if isinstance(v, list) else v) for k, v in (params or {}).items()}
        if urlsplit(url).query:
            query.update({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})
        if method == "POST" and path.endswith("/Messages.json"):
            return self._send(form)
        if method == "GET" and path.endswith("/Messages.json"):
            return self._list(query)
        if method == "POST" and path.endswith("/Calls.json"):
            return self._call(form)
        if method == "GET" and path.endswith("/v1/ContentAndApprovals"):
            page = {"page": 0, "page_size": 100, "key": "contents", "next_page_url": None, "previous_page_url": None}
            return _json(200, {"contents": SANDBOX_TEMPLATES, "meta": page})
        if method == "GET" and path.endswith(f"/Accounts/{sid}.json"):
            return _json(200, {"sid": sid, "friendly_name": "Continuum sandbox", "status": "active"})
        if method == "GET" and path.endswith("/IncomingPhoneNumbers.json"):
            wanted = query.get("PhoneNumber", "")
            found = [{"sid": "PN" + "0" * 32, "phone_number": wanted}] if wanted == self.endpoint.address else []
            return _json(200, {"incoming_phone_numbers": found, "next_page_uri": None, "page": 0, "page_size": 1})
        return _json(404, {"code": 20404, "message": f"The sandbox does not simulate {method} {path}", "status": 404})

    def _send(self, form: dict[str, str]) -> Response:
        to = form.get("To", "")
        channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
        sid = _sid("SM")
        body = form.get("Body", "")
        if form.get("ContentSid"):  # a template: the carrier fills it, as Twilio does
            from .whatsapp_templates import render

            known = {str(t["sid"]): str(t["types"]["twilio/text"]["body"]) for t in SANDBOX_TEMPLATES}
            if form["ContentSid"] not in known:
                return _json(400, {"code": 21655, "message": "The ContentSid is Invalid.", "status": 400})
            body = render(known[form["ContentSid"]], json.loads(form.get("ContentVariables") or "{}"))
        row = SandboxMessage.objects.create(
            account_id=self.endpoint.account_id, endpoint=self.endpoint, direction="out", channel=channel,
            customer=to.removeprefix("whatsapp:"), body=body, provider_id=sid,
        )  # fmt: skip
        status = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.credentials["account_sid"],
                  "From": form.get("From", ""), "To": to}  # fmt: skip
        _later(self.endpoint, "status", {**status, "MessageStatus": "sent"}, 1)
        _later(self.endpoint, "status", {**status, "MessageStatus": "delivered"}, 2)
        return _json(201, _message_resource(row, form, self.credentials["account_sid"]))

    def _list(self, query: dict[str, str]) -> Response:
        rows = SandboxMessage.objects.filter(endpoint=self.endpoint, direction="out", channel__in=["sms", "whatsapp"])
        if query.get("To"):
            rows = rows.filter(customer=query["To"].removeprefix("whatsapp:"))
        listed = [_message_resource(r, {}, self.credentials["account_sid"]) for r in rows.order_by("-created_at")[:50]]
        return _json(200, {"messages": listed, "next_page_uri": None, "page": 0, "page_size": 50})

    def _call(self, form: dict[str, str]) -> Response:
        sid = _sid("CA")
        dialled = _DIAL_NUMBER.search(form.get("Twiml", ""))
        customer = dialled.group(1).strip() if dialled else ""
        SandboxMessage.objects.create(
            account_id=self.endpoint.account_id, endpoint=self.endpoint, direction="out", channel="voice",
            customer=customer, provider_id=sid,
            body=f"Call: the agent's phone {form.get('To', '')} rang, then the business called you from "
                 f"{form.get('From', '')}.",
        )  # fmt: skip
        call = {"CallSid": sid, "AccountSid": self.credentials["account_sid"], "From": form.get("From", ""),
                "To": form.get("To", ""), "Direction": "outbound-api"}  # fmt: skip
        _later(self.endpoint, "call", {**call, "CallStatus": "completed", "CallDuration": "95"}, 2)
        return _json(201, {"sid": sid, "status": "queued", "to": call["To"], "from": call["From"],
                           "account_sid": call["AccountSid"], "direction": "outbound-api"})  # fmt: skip


def _message_resource(row: SandboxMessage, form: dict[str, str], account_sid: str) -> dict[str, Any]:
    wa = "whatsapp:" if row.channel == "whatsapp" else ""
    return {
        "sid": row.provider_id,
        "status": "queued" if form else "delivered",
        "to": wa + row.customer,
        "from": form.get("From") or wa + row.endpoint.address,
        "body": row.body,
        "account_sid": account_sid,
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": formatdate(row.created_at.timestamp(), usegmt=True),
    }


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(status, json.dumps(payload), headers={"Content-Type": "application/json"})


def _later(endpoint: ChannelEndpoint, kind: str, fields: dict[str, str], seconds: int) -> None:
    """A carrier's callback, a little later (as Twilio's come), once what caused it is committed."""
    from .tasks import sandbox_callback

    transaction.on_commit(lambda: sandbox_callback.apply_async((endpoint.pk, kind, fields), countdown=seconds))


def callback(endpoint_id: int, kind: str, fields: dict[str, str]) -> int:
    endpoint = ChannelEndpoint.objects.filter(pk=endpoint_id, options__sandbox=True).select_related("inbox").first()
    if endpoint is None:
        return 404
    return _post(endpoint, kind, fields).status_code


class SandboxEmailBackend(BaseEmailBackend):
    """The mail server of a sandbox email endpoint: keeps each message for the simulator page."""

    def __init__(self, endpoint: ChannelEndpoint | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint

    def send_messages(self, email_messages: Any) -> int:
        if self.endpoint is None:
            return 0
        for message in email_messages:
            reply_to = (message.reply_to or [""])[0]
            for to in message.to:
                SandboxMessage.objects.create(
                    account_id=self.endpoint.account_id, endpoint=self.endpoint, direction="out", channel="email",
                    customer=normalize_email(to), body=message.body, subject=str(message.subject)[:300],
                    provider_id=str(message.extra_headers.get("Message-ID", "")),
                    metadata={"reply_to": reply_to, "at": timezone.now().isoformat()},
                )  # fmt: skip
        return len(email_messages)
