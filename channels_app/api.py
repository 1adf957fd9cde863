"""REST API for channel endpoints: admins connect numbers to inboxes and copy the webhook URLs to paste into
the provider's console. Credentials are write-only and stored encrypted."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from twilio.base.exceptions import TwilioException, TwilioRestException

from accounts import outbound
from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet
from accounts.errors import Conflict, ProviderUnavailable, ServiceError
from accounts.services import audit_log_record
from contacts.addresses import normalize_email, normalize_phone
from inbox.models import Inbox

from . import webchat
from .adapters import email, imap, meta, twilio
from .credentials import credentials_encrypt
from .endpoints import endpoint_urls
from .models import ChannelEndpoint, EndpointKind, EventStatus, InboundEvent, Provider

SUPPORTED = {EndpointKind.SMS, EndpointKind.WHATSAPP, EndpointKind.VOICE, EndpointKind.EMAIL, EndpointKind.WEBCHAT,
             EndpointKind.MESSENGER, EndpointKind.INSTAGRAM}  # fmt: skip
META_KINDS = {EndpointKind.MESSENGER, EndpointKind.INSTAGRAM}
EMAIL_PROVIDERS = {Provider.SENDGRID, Provider.MAILGUN, Provider.POSTMARK, Provider.MIME, Provider.IMAP}
WANTED_CREDENTIALS = {
    "twilio": "the Twilio Account SID and auth token",
    "imap": "the mailbox's login",
    "meta": "the app secret, page access token and verify token",
}
IMAP_FIELDS = ("imap_host", "imap_port", "imap_security", "username", "password")
SMTP_FIELDS = ("smtp_host", "smtp_port", "smtp_username", "smtp_password", "smtp_tls")


def _inboxes(*, account: Any) -> QuerySet[Inbox]:
    return Inbox.objects.filter(account=account)


def _twilio_credentials(value: dict[str, str]) -> dict[str, str]:
    missing = [name for name in ("account_sid", "auth_token") if not value.get(name)]
    if missing:
        raise serializers.ValidationError({"credentials": [f"Twilio credentials need {' and '.join(missing)}."]})
    if not value["account_sid"].startswith("AC"):
        raise serializers.ValidationError({"credentials": ["A Twilio Account SID starts with AC."]})
    kept = {"account_sid": value["account_sid"], "auth_token": value["auth_token"]}
    if value.get("api_key_sid") or value.get("api_key_secret"):
        if not (value.get("api_key_sid", "").startswith("SK") and value.get("api_key_secret")):
            raise serializers.ValidationError(
                {"credentials": ["An API key needs api_key_sid (starts with SK) and api_key_secret."]}
            )
        kept.update(api_key_sid=value["api_key_sid"], api_key_secret=value["api_key_secret"])
    return kept


def _meta_credentials(value: dict[str, str]) -> dict[str, str]:
    """A page's (or Instagram account's) app secret, page access token and the verify token of the handshake."""
    missing = [name for name in ("app_secret", "page_access_token", "verify_token") if not value.get(name)]
    if missing:
        raise serializers.ValidationError({"credentials": [f"Meta needs {', '.join(missing)}."]})
    if len(value["verify_token"]) < 16:
        raise serializers.ValidationError(
            {"credentials": ["verify_token: choose a random token of at least 16 characters (typed in Meta too)."]}
        )
    return {name: str(value[name]) for name in ("app_secret", "page_access_token", "verify_token")}


def _imap_credentials(value: dict[str, str]) -> dict[str, str]:
    """A mailbox's IMAP login: host, port (993 for ssl, 143 otherwise), security, user name and app password."""
    missing = [name for name in ("imap_host", "username", "password") if not value.get(name)]
    if missing:
        raise serializers.ValidationError({"credentials": [f"A mailbox needs {', '.join(missing)}."]})
    security = str(value.get("imap_security") or "ssl")
    if security not in imap.SECURITY:
        raise serializers.ValidationError({"credentials": ["imap_security is ssl (port 993), starttls or none (143)."]})
    port = str(value.get("imap_port") or (993 if security == "ssl" else 143))
    if not port.isdigit():
        raise serializers.ValidationError({"credentials": ["imap_port is a number, such as 993."]})
    try:
        outbound.check_imap_server(str(value["imap_host"]), int(port))
    except outbound.OutboundRefused as exc:
        raise serializers.ValidationError({"credentials": [f"imap_host: {exc.reason}"]}) from None
    return {name: str(value[name]) for name in IMAP_FIELDS if value.get(name)} | {
        "imap_port": port, "imap_security": security,
    }  # fmt: skip


def _email_credentials(provider: str, value: dict[str, str]) -> dict[str, str]:
    kept = {name: value[name] for name in SMTP_FIELDS if value.get(name)}
    if "smtp_port" in kept and not kept["smtp_port"].isdigit():
        raise serializers.ValidationError({"credentials": ["smtp_port is a number, such as 587."]})
    if "smtp_host" in kept:
        try:
            outbound.check_smtp_server(str(kept["smtp_host"]), int(kept.get("smtp_port") or 587))
        except outbound.OutboundRefused as exc:
            raise serializers.ValidationError({"credentials": [f"smtp_host: {exc.reason}"]}) from None
    if provider == Provider.IMAP:
        return {**_imap_credentials(value), **kept}
    if provider == Provider.MAILGUN:
        if not value.get("signing_key"):
            raise serializers.ValidationError(
                {"credentials": ["Mailgun needs signing_key (Sending > Webhooks > HTTP webhook signing key)."]}
            )
        return {"signing_key": value["signing_key"], **kept}
    secret = value.get("webhook_secret", "")
    if len(secret) < 16:
        raise serializers.ValidationError(
            {
                "credentials": [
                    "webhook_secret: choose a random secret of at least 16 characters; the provider "
                    "sends it as the basic-auth password of the webhook URL."
                ]
            }
        )
    return {"webhook_secret": secret, **kept}


PRECHAT_FIELDS = ("name", "email", "phone")


def _options(kind: str, value: Any) -> dict[str, Any]:
    """Checked, non-secret settings: for a widget, allowed_origins, prechat_fields, title, greeting, color."""
    if not isinstance(value, dict):
        raise serializers.ValidationError({"options": ["Give an object."]})
    if kind == EndpointKind.VOICE:
        mode = value.get("voice_mode") or "record"
        if mode not in ("record", "gather"):
            raise serializers.ValidationError(
                {"options.voice_mode": ["record (a voicemail, transcribed) or gather (the caller speaks)."]}
            )
        greeting = str(value.get("greeting") or "").strip()
        if len(greeting) > 500:
            raise serializers.ValidationError({"options.greeting": ["At most 500 characters."]})
        return {"voice_mode": mode, **({"greeting": greeting} if greeting else {})}
    if kind in (EndpointKind.SMS, EndpointKind.WHATSAPP):
        service = str(value.get("messaging_service_sid") or "").strip()
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            raise serializers.ValidationError(
                {"options.messaging_service_sid": ["A Messaging Service SID is MG + 32 hex."]}
            )
        return {"messaging_service_sid": service} if service else {}
    if kind != EndpointKind.WEBCHAT:
        return {}
    options: dict[str, Any] = {}
    origins = value.get("allowed_origins", [])
    if not isinstance(origins, list):
        raise serializers.ValidationError({"options.allowed_origins": ["Give a list of origins."]})
    for origin in origins:
        parsed = urlsplit(str(origin))
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
            raise serializers.ValidationError(
                {"options.allowed_origins": [f"{origin!r} is not an origin such as https://www.example.com."]}
            )
    options["allowed_origins"] = [str(o).rstrip("/").lower() for o in origins]
    prechat = value.get("prechat_fields", [])
    if not isinstance(prechat, list) or any(f not in PRECHAT_FIELDS for f in prechat):
        raise serializers.ValidationError(
            {"options.prechat_fields": [f"Choose among {', '.join(PRECHAT_FIELDS)} (or none)."]}
        )
    options["prechat_fields"] = list(dict.fromkeys(prechat))
    for key, limit in (("title", 80), ("greeting", 500), ("color", 7)):
        text = str(value.get(key) or "").strip()
        if len(text) > limit:
            raise serializers.ValidationError({f"options.{key}": [f"At most {limit} characters."]})
        if key == "color" and text and not re.fullmatch(r"#[0-9a-fA-F]{6}", text):
            raise serializers.ValidationError({"options.color": ["A color such as #2563eb."]})
        if text:
            options[key] = text
    return options


class EndpointSerializer(serializers.ModelSerializer[ChannelEndpoint]):
    inbox = AccountScopedRelatedField(queryset_for=_inboxes)
    provider = serializers.ChoiceField(
        choices=Provider.choices,
        required=False,
        help_text="twilio for sms and whatsapp (the default); sendgrid, mailgun, postmark or mime for email",
    )
    credentials = serializers.DictField(
        child=serializers.CharField(),
        write_only=True,
        required=False,
        help_text='Twilio: {"account_sid": "AC...", "auth_token": "..."}. Email: {"webhook_secret": "..."} '
        '(Mailgun: {"signing_key": "..."}), plus optional smtp_host, smtp_port, smtp_username, smtp_password, '
        "smtp_tls for replies. Stored encrypted, never shown again.",
    )
    credentials_set = serializers.SerializerMethodField()
    webhook_urls = serializers.SerializerMethodField(help_text="paste these into the provider's console")

    class Meta:
        model = ChannelEndpoint
        fields = [
            "id",
            "inbox",
            "kind",
            "provider",
            "address",
            "enabled",
            "credentials",
            "credentials_set",
            "webhook_urls",
            "options",
            "public_id",
            "created_at",
        ]
        read_only_fields = ["id", "public_id", "created_at"]
        extra_kwargs = {"address": {"required": False}, "options": {"required": False}}
        # one address, one endpoint: checked in create/update with a clear conflict (not DRF's generic validator)
        validators: list[Any] = []

    def get_credentials_set(self, endpoint: ChannelEndpoint) -> bool:
        return bool(endpoint.credentials_encrypted)

    def get_webhook_urls(self, endpoint: ChannelEndpoint) -> dict[str, str]:
        return {name: url for name, (_label, url) in endpoint_urls(endpoint).items()}

    def validate_kind(self, value: str) -> str:
        if value not in SUPPORTED:
            raise serializers.ValidationError(f"Only {', '.join(sorted(SUPPORTED))} endpoints can be connected so far.")
        if self.instance is not None and value != self.instance.kind:
            raise serializers.ValidationError("The kind of an endpoint cannot change; add a new endpoint.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind") or (self.instance.kind if self.instance else "")
        provider = attrs.get("provider") or (self.instance.provider if self.instance else "")
        if "options" in attrs:
            attrs["options"] = _options(kind, attrs["options"])
        if kind == EndpointKind.WEBCHAT:
            attrs["provider"] = Provider.WIDGET
            attrs.pop("credentials", None)  # the widget's identity secret is ours to generate
            if self.instance is None:
                attrs["address"] = webchat.new_widget_token()
            else:
                attrs.pop("address", None)
            return attrs
        if kind in META_KINDS:
            if provider and provider != Provider.META:
                raise serializers.ValidationError({"provider": [f"{kind} endpoints are connected through meta."]})
            provider = Provider.META
        elif kind == EndpointKind.EMAIL:
            if provider not in EMAIL_PROVIDERS:
                raise serializers.ValidationError(
                    {"provider": [f"An email endpoint's provider is one of: {', '.join(sorted(EMAIL_PROVIDERS))}."]}
                )
        else:
            if provider and provider != Provider.TWILIO:
                raise serializers.ValidationError({"provider": [f"{kind} endpoints are connected through twilio."]})
            provider = Provider.TWILIO
        attrs["provider"] = provider
        if self.instance is None and not attrs.get("address"):
            raise serializers.ValidationError({"address": ["Give the number or email address customers write to."]})
        if self.instance is None and "credentials" not in attrs:
            wanted = WANTED_CREDENTIALS.get(str(provider), "the webhook secret")
            raise serializers.ValidationError({"credentials": [f"Give {wanted}."]})
        if "credentials" in attrs:
            if provider == Provider.TWILIO:
                attrs["credentials"] = _twilio_credentials(attrs["credentials"])
            elif provider == Provider.META:
                attrs["credentials"] = _meta_credentials(attrs["credentials"])
            else:
                attrs["credentials"] = _email_credentials(provider, attrs["credentials"])
        if "address" in attrs:
            raw = attrs["address"]
            try:
                if kind in META_KINDS:
                    if not str(raw).strip().isdigit():
                        raise ServiceError("Give the Facebook Page id (or Instagram account id): digits only.")
                    attrs["address"] = str(raw).strip()
                elif kind == EndpointKind.EMAIL:
                    attrs["address"] = normalize_email(raw)
                else:
                    attrs["address"] = normalize_phone(
                        raw.removeprefix("whatsapp:"), region=self.context["account"].default_region
                    )
            except ServiceError as exc:
                raise serializers.ValidationError({"address": [exc.message]}) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> ChannelEndpoint:
        if validated_data["kind"] == EndpointKind.WEBCHAT:
            secret = webchat.new_identity_secret()
            endpoint = ChannelEndpoint.objects.create(
                credentials_encrypted=credentials_encrypt({"identity_secret": secret}), **validated_data
            )
            endpoint.identity_secret_once = secret  # type: ignore[attr-defined]
            return endpoint
        credentials = validated_data.pop("credentials")
        kind, address = validated_data["kind"], validated_data["address"]
        mine = ChannelEndpoint.objects.filter(account=validated_data["account"], kind=kind, address=address).first()
        if mine is not None:
            raise Conflict(f"{address} is already connected to the inbox {mine.inbox.name}.", field="address")
        try:
            with transaction.atomic():
                return ChannelEndpoint.objects.create(
                    credentials_encrypted=credentials_encrypt(credentials), **validated_data
                )
        except IntegrityError:  # another account holds it (row-level security hides which, and so do we)
            raise Conflict(
                f"{address} is already connected elsewhere: a number or address routes to one inbox only. "
                "Disconnect it there first.",
                field="address",
            ) from None

    def update(self, instance: ChannelEndpoint, validated_data: dict[str, Any]) -> ChannelEndpoint:
        if "credentials" in validated_data:
            instance.credentials_encrypted = credentials_encrypt(validated_data.pop("credentials"))
        try:
            with transaction.atomic():
                return super().update(instance, validated_data)
        except IntegrityError:
            raise Conflict(
                f"{validated_data.get('address')} is already connected elsewhere: a number or address routes to one "
                "inbox only.",
                field="address",
            ) from None


class EndpointCheckSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ChannelEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, AccountScopedViewSet
):
    """Numbers and senders connected to the account's inboxes. Admins only: they hold provider credentials."""

    serializer_class = EndpointSerializer
    queryset = ChannelEndpoint.objects.none()
    admin_actions = {"list", "retrieve", "create", "partial_update", "destroy", "test"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[ChannelEndpoint]:
        return ChannelEndpoint.objects.filter(account=self.account).order_by("inbox_id", "kind", "id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = data.save(account=self.account)
        audit_log_record(
            account=self.account,
            actor=self.user,
            action="channels.endpoint_added",
            target=endpoint,
            data={"kind": endpoint.kind, "address": endpoint.address},
        )
        body = dict(self.get_serializer(endpoint).data)
        if hasattr(endpoint, "identity_secret_once"):
            # Shown once: the host site's server signs visitors' identifiers with it (identifier_hash).
            body["identity_secret"] = endpoint.identity_secret_once
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(self.get_object(), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = data.save()
        audit_log_record(
            account=self.account,
            actor=self.user,
            action="channels.endpoint_changed",
            target=endpoint,
            data={
                "fields": sorted(k for k in data.validated_data if k != "credentials"),
                "credentials_changed": "credentials" in data.validated_data,
            },
        )
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(request=None, responses=EndpointCheckSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Ask the provider whether the stored credentials work and the address belongs to them."""
        endpoint = self.get_object()
        if endpoint.kind == EndpointKind.EMAIL:
            return Response({"ok": True, "detail": email.check(endpoint)})
        if endpoint.provider == Provider.META:
            try:
                return Response({"ok": True, "detail": meta.check(endpoint)})
            except meta.GraphFailed as exc:
                if exc.retry:
                    raise ProviderUnavailable(exc.reason) from None
                raise ServiceError(exc.reason, field="credentials") from None
        try:
            detail = twilio.check(endpoint)
        except TwilioRestException as exc:
            reason = "Twilio refused these credentials" if exc.status in (401, 403) else f"Twilio answered {exc.status}"
            raise ServiceError(f"{reason}: {exc.msg}", field="credentials") from None
        except TwilioException as exc:
            raise ProviderUnavailable(f"Could not reach Twilio: {exc}") from None
        return Response({"ok": True, "detail": detail})

    def perform_destroy(self, instance: ChannelEndpoint) -> None:
        audit_log_record(
            account=self.account,
            actor=self.user,
            action="channels.endpoint_removed",
            target=instance,
            data={"kind": instance.kind, "address": instance.address},
        )
        instance.delete()


class InboundEventSerializer(serializers.ModelSerializer[InboundEvent]):
    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "endpoint",
            "kind",
            "idempotency_key",
            "status",
            "error",
            "attempts",
            "payload",
            "received_at",
            "processed_at",
        ]
        read_only_fields = fields


class InboundEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AccountScopedViewSet):
    """What providers posted (admins only): filter with `?status=failed` to see what could not be processed and
    why, and replay an event once the cause is fixed."""

    serializer_class = InboundEventSerializer
    queryset = InboundEvent.objects.none()
    admin_actions = {"list", "retrieve", "replay"}

    def scoped_queryset(self) -> QuerySet[InboundEvent]:
        events = InboundEvent.objects.filter(account=self.account).order_by("-received_at", "-id")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in EventStatus.values:
                raise serializers.ValidationError({"status": [f"Use one of: {', '.join(EventStatus.values)}."]})
            events = events.filter(status=wanted)
        return events

    @extend_schema(request=None, responses=InboundEventSerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        event = self.get_object()
        if event.status == EventStatus.PROCESSED:
            raise Conflict("This event was processed already; replaying it would change nothing.")
        InboundEvent.objects.filter(pk=event.pk).update(status=EventStatus.PENDING, error="", attempts=0)
        audit_log_record(account=self.account, actor=self.user, action="channels.event_replayed", target=event)
        from .tasks import process_inbound_event

        transaction.on_commit(lambda: process_inbound_event.delay(event.pk), robust=True)
        event.refresh_from_db()
        return Response(InboundEventSerializer(event).data)
