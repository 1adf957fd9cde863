"""API: WhatsApp message templates (`/api/v1/accounts/<id>/whatsapp-templates`): listed for the inboxes you are in
(with their values filled for a conversation), synced from Twilio and given their variables' sources by admins,
and sent to a conversation's customer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedViewSet
from accounts.errors import ServiceError
from inbox.api import MessageSerializer
from inbox.models import Conversation
from inbox.selectors import conversation_get, visible_inboxes

from .models import ChannelEndpoint, MessageTemplate
from .whatsapp_templates import (
    SOURCES,
    template_send,
    template_sources_set,
    templates_sync,
    values_for,
    variables_of,
    window_closes_at,
)


class TemplateSerializer(serializers.ModelSerializer[MessageTemplate]):
    inbox = serializers.IntegerField(source="endpoint.inbox_id", read_only=True)
    sender = serializers.CharField(source="endpoint.address", read_only=True)
    variables = serializers.SerializerMethodField(help_text="the variables in the body, in order: ['1', '2']")
    values = serializers.SerializerMethodField(
        help_text="with ?conversation=<id>: each variable's value from its source for that conversation "
        "('' where memory has nothing); else null"
    )

    def get_variables(self, template: MessageTemplate) -> list[str]:
        return variables_of(template.body)

    def get_values(self, template: MessageTemplate) -> dict[str, str] | None:
        conversation = self.context.get("conversation")
        if conversation is None:
            return None
        return values_for(template, conversation, self.context.get("user"))

    class Meta:
        model = MessageTemplate
        fields = [
            "id", "inbox", "sender", "content_sid", "name", "language", "category", "body", "variables", "samples",
            "sources", "status", "rejection_reason", "synced_at", "removed_at", "values",
        ]  # fmt: skip
        read_only_fields = fields


class SourcesSerializer(serializers.Serializer[Any]):
    sources = serializers.JSONField(
        help_text='variable -> source: {"1": "contact.first_name", "2": "fact:order_number"}; sources: '
        + ", ".join(SOURCES)
        + ", fact:<key>; '' clears one"
    )


class SyncSerializer(serializers.Serializer[Any]):
    inbox = serializers.IntegerField(help_text="the inbox whose WhatsApp senders to sync")


class TemplateSendSerializer(serializers.Serializer[Any]):
    conversation = serializers.IntegerField(help_text="the conversation whose customer receives it")
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=2000))


class WhatsAppTemplateViewSet(AccountScopedViewSet):
    """WhatsApp templates of the inboxes you are in. `?inbox=<id>` narrows, `?status=approved` filters,
    `?conversation=<id>` fills each template's `values` and adds the customer's window to the answer's headers
    (`X-WhatsApp-Window-Closes`). Approved templates are the only messages WhatsApp delivers outside 24 hours of the
    customer's last WhatsApp message."""

    serializer_class = TemplateSerializer
    queryset = MessageTemplate.objects.none()
    admin_actions = {"partial_update", "sync"}
    http_method_names = ["get", "post", "patch", "options"]

    def scoped_queryset(self) -> QuerySet[MessageTemplate]:
        inboxes = visible_inboxes(account=self.account, membership=self.membership)
        rows = (
            MessageTemplate.objects.filter(account=self.account, endpoint__inbox__in=inboxes)
            .select_related("endpoint")
            .order_by("endpoint__inbox_id", "name", "language")
        )
        params = self.request.query_params
        if params.get("inbox", "").isdigit():
            rows = rows.filter(endpoint__inbox_id=int(params["inbox"]))
        if params.get("status"):
            rows = rows.filter(status=params["status"], removed_at__isnull=True)
        return rows

    def _conversation(self, raw: Any, field: str) -> Conversation:
        conversation = None
        if str(raw).isdigit():
            conversation = conversation_get(account=self.account, membership=self.membership, conversation_id=int(raw))
        if conversation is None:
            raise ServiceError("No such conversation, or you are not in its inbox.", field=field)
        return conversation

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        raw = self.request.query_params.get("conversation") if hasattr(self, "request") else None
        if raw and hasattr(self, "membership"):
            context["conversation"] = self._conversation(raw, "conversation")
        context["user"] = getattr(self, "user", None)
        return context

    @extend_schema(
        parameters=[
            OpenApiParameter("inbox", int, description="one inbox's templates"),
            OpenApiParameter("status", str, description="approved, pending, rejected, ..."),
            OpenApiParameter("conversation", int, description="fill `values` for this conversation"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        context = self.get_serializer_context()
        rows = self.paginate_queryset(self.get_queryset())
        response = self.get_paginated_response(TemplateSerializer(rows, many=True, context=context).data)
        if context.get("conversation") is not None:
            closes = window_closes_at(context["conversation"])
            response["X-WhatsApp-Window-Closes"] = closes.isoformat() if closes else "never-opened"
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(TemplateSerializer(self.get_object(), context=self.get_serializer_context()).data)

    @extend_schema(request=SourcesSerializer, responses=TemplateSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Where each variable is filled from (admins)."""
        template = self.get_object()  # another inbox's or account's template: 404 before the body is read
        data = SourcesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = template_sources_set(account=self.account, template=template, sources=data.validated_data["sources"])
        return Response(TemplateSerializer(template, context=self.get_serializer_context()).data)

    @extend_schema(
        request=SyncSerializer,
        responses=inline_serializer(
            "TemplatesSynced",
            {name: serializers.IntegerField() for name in ("added", "updated", "removed")},
        ),
    )
    @action(detail=False, methods=["post"])
    def sync(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Read the inbox's WhatsApp senders' templates from Twilio now (beat does it every 30 minutes)."""
        data = SyncSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        senders = ChannelEndpoint.objects.filter(
            account=self.account, inbox_id=data.validated_data["inbox"], kind="whatsapp", provider="twilio"
        )
        if not senders.exists():
            raise ServiceError("That inbox has no WhatsApp sender connected through Twilio.", field="inbox")
        totals = {"added": 0, "updated": 0, "removed": 0}
        for endpoint in senders:
            for key, value in templates_sync(endpoint).items():
                totals[key] += value
        return Response(totals)

    @extend_schema(request=TemplateSendSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"])
    def send(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Send the approved template to the conversation's customer on WhatsApp with these values."""
        template = self.get_object()  # another inbox's or account's template: 404 before the body is read
        data = TemplateSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = self._conversation(data.validated_data["conversation"], "conversation")
        message = template_send(
            account=self.account,
            conversation=conversation,
            template=template,
            variables=data.validated_data["variables"],
            user=self.user,
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
