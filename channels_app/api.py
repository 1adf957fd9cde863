"""REST API for channel endpoints: admins connect numbers to inboxes and copy the webhook URLs to paste into
the provider's console. Credentials are write-only and stored encrypted."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from twilio.base.exceptions import TwilioException, TwilioRestException

from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet
from accounts.errors import Conflict, ProviderUnavailable, ServiceError
from accounts.services import audit_log_record
from contacts.addresses import normalize_phone
from inbox.models import Inbox

from .adapters import twilio
from .adapters.twilio import webhook_url
from .credentials import credentials_encrypt
from .models import ChannelEndpoint, EndpointKind, EventStatus, InboundEvent

SUPPORTED = {EndpointKind.SMS, EndpointKind.WHATSAPP}


def _inboxes(*, account: Any) -> QuerySet[Inbox]:
    return Inbox.objects.filter(account=account)


class EndpointSerializer(serializers.ModelSerializer[ChannelEndpoint]):
    inbox = AccountScopedRelatedField(queryset_for=_inboxes)
    credentials = serializers.DictField(
        child=serializers.CharField(),
        write_only=True,
        required=False,
        help_text='{"account_sid": "AC...", "auth_token": "..."}; stored encrypted, never shown again',
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
            "public_id",
            "created_at",
        ]
        read_only_fields = ["id", "provider", "public_id", "created_at"]

    def get_credentials_set(self, endpoint: ChannelEndpoint) -> bool:
        return bool(endpoint.credentials_encrypted)

    def get_webhook_urls(self, endpoint: ChannelEndpoint) -> dict[str, str]:
        return {"messaging": webhook_url(endpoint, "messaging"), "status": webhook_url(endpoint, "status")}

    def validate_kind(self, value: str) -> str:
        if value not in SUPPORTED:
            raise serializers.ValidationError(f"Only {', '.join(sorted(SUPPORTED))} endpoints can be connected so far.")
        return value

    def validate_credentials(self, value: dict[str, str]) -> dict[str, str]:
        missing = [name for name in ("account_sid", "auth_token") if not value.get(name)]
        if missing:
            raise serializers.ValidationError(f"Twilio credentials need {' and '.join(missing)}.")
        if not value["account_sid"].startswith("AC"):
            raise serializers.ValidationError("A Twilio Account SID starts with AC.")
        return {"account_sid": value["account_sid"], "auth_token": value["auth_token"]}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "credentials" not in attrs:
            raise serializers.ValidationError({"credentials": ["Give the Twilio Account SID and auth token."]})
        if "address" in attrs:
            raw = attrs["address"].removeprefix("whatsapp:")
            try:
                attrs["address"] = normalize_phone(raw, region=self.context["account"].default_region)
            except ServiceError as exc:
                raise serializers.ValidationError({"address": [exc.message]}) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> ChannelEndpoint:
        credentials = validated_data.pop("credentials")
        return ChannelEndpoint.objects.create(credentials_encrypted=credentials_encrypt(credentials), **validated_data)

    def update(self, instance: ChannelEndpoint, validated_data: dict[str, Any]) -> ChannelEndpoint:
        if "credentials" in validated_data:
            instance.credentials_encrypted = credentials_encrypt(validated_data.pop("credentials"))
        return super().update(instance, validated_data)


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
        return Response(self.get_serializer(endpoint).data, status=status.HTTP_201_CREATED)

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
