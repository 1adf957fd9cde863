"""API of the channel sandbox: set it up (admins), play the customer and read what they received (members)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet
from accounts.errors import ServiceError
from contacts.addresses import normalize_email, normalize_phone
from inbox.models import Inbox
from inbox.selectors import visible_inboxes

from . import sandbox
from .models import SandboxMessage


def _inboxes(*, account: Any) -> QuerySet[Inbox]:
    return Inbox.objects.filter(account=account)


class SandboxEnableSerializer(serializers.Serializer[Any]):
    inbox = AccountScopedRelatedField(queryset_for=_inboxes, help_text="the inbox the sandbox channels route to")


class SandboxSendSerializer(serializers.Serializer[Any]):
    channel = serializers.ChoiceField(choices=sandbox.CHANNELS)
    address = serializers.CharField(max_length=320, help_text="the customer's phone number, or email address")
    body = serializers.CharField(max_length=1600, help_text="what the customer writes or says")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="email only")


class SandboxMessageSerializer(serializers.ModelSerializer[SandboxMessage]):
    class Meta:
        model = SandboxMessage
        fields = ["id", "direction", "channel", "customer", "body", "subject", "provider_id", "created_at"]
        read_only_fields = fields


def _state(account: Any, inbox_ids: list[int] | None) -> dict[str, Any]:
    endpoints = sandbox.sandbox_endpoints(account, inbox_ids)
    return {
        "enabled": bool(endpoints),
        "endpoints": {
            kind: {"id": e.pk, "address": e.address, "inbox": e.inbox_id, "inbox_name": e.inbox.name}
            for kind, e in endpoints.items()
        },
    }


class SandboxViewSet(AccountScopedViewSet):
    """The channel sandbox of the account: simulated SMS, WhatsApp, voice and email, signed like the providers'
    webhooks and never sent to the internet (docs/sandbox.md)."""

    queryset = SandboxMessage.objects.none()
    serializer_class = SandboxMessageSerializer
    admin_actions = {"create"}

    def scoped_queryset(self) -> QuerySet[SandboxMessage]:
        return SandboxMessage.objects.filter(account=self.account)

    def _inbox_ids(self) -> list[int] | None:
        """None for admins (every inbox); else the inboxes this person sees (a sandbox routed elsewhere is not
        theirs)."""
        if self.membership.is_admin:
            return None
        return list(visible_inboxes(account=self.account, membership=self.membership).values_list("pk", flat=True))

    @extend_schema(responses=None)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(_state(self.account, self._inbox_ids()))

    @extend_schema(request=SandboxEnableSerializer, responses=None)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SandboxEnableSerializer(data=request.data, context={"account": self.account})
        data.is_valid(raise_exception=True)
        sandbox.sandbox_enable(account=self.account, actor=self.user, inbox=data.validated_data["inbox"])
        return Response(_state(self.account, None), status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        parameters=[OpenApiParameter("customer", str, required=True)],
        responses=SandboxMessageSerializer(many=True),
    )
    @extend_schema(methods=["POST"], request=SandboxSendSerializer, responses={201: SandboxMessageSerializer})
    @action(detail=False, methods=["get", "post"])
    def messages(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if request.method == "POST":
            data = SandboxSendSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            sent = sandbox.customer_send(account=self.account, inbox_ids=self._inbox_ids(), **data.validated_data)
            return Response(SandboxMessageSerializer(sent).data, status=status.HTTP_201_CREATED)
        raw = request.query_params.get("customer", "")
        customer = _customer(raw, self.account.default_region)
        rows = sandbox.transcript(account=self.account, customer=customer, inbox_ids=self._inbox_ids())
        return Response(SandboxMessageSerializer(rows, many=True).data)


def _customer(raw: str, region: str) -> str:
    if not raw.strip():
        raise ServiceError("Name the customer: ?customer=<phone or email>.", field="customer")
    try:
        return normalize_email(raw) if "@" in raw else normalize_phone(raw, region=region)
    except ServiceError as exc:
        raise ServiceError(exc.message, field="customer") from None
