"""API: a team writes first to a customer (`POST /api/v1/accounts/<id>/conversation-starts`)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet
from accounts.errors import ServiceError
from contacts.selectors import contact_list
from inbox.models import Message
from inbox.selectors import visible_inboxes

from .models import MessageTemplate
from .start import START_CHANNELS, conversation_start


class ConversationStartSerializer(serializers.Serializer[Any]):
    inbox = serializers.IntegerField(help_text="the inbox that writes (one you are a member of)")
    channel = serializers.ChoiceField(choices=START_CHANNELS)
    to = serializers.CharField(
        max_length=320, required=False, allow_blank=True, help_text="a phone number (any format) or email address"
    )
    contact = AccountScopedRelatedField(
        queryset_for=contact_list, required=False, help_text="instead of `to`: an existing contact's id"
    )
    body = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, help_text="email only")
    template = AccountScopedRelatedField(
        queryset_for=lambda account: MessageTemplate.objects.filter(account=account),
        required=False,
        help_text="WhatsApp: an approved template of the inbox's sender (from whatsapp-templates); needed outside "
        "the customer's 24-hour window, and then `body` is not used",
    )
    cc = serializers.ListField(child=serializers.CharField(max_length=320), required=False, help_text="email only")
    bcc = serializers.ListField(child=serializers.CharField(max_length=320), required=False, help_text="email only")
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=2000),
        required=False,
        help_text='the template\'s values: {"1": "Maria", "2": "1042"}',
    )


class ConversationStartViewSet(AccountScopedViewSet):
    """Start a conversation on SMS, WhatsApp or email: the contact's open conversation in that inbox continues, or
    a new one starts, owned by you; the message is queued for delivery like any reply."""

    queryset = Message.objects.none()
    serializer_class = ConversationStartSerializer
    http_method_names = ["post", "options"]

    def scoped_queryset(self) -> QuerySet[Message]:
        return Message.objects.none()

    @extend_schema(
        request=ConversationStartSerializer,
        responses={
            201: inline_serializer(
                "ConversationStarted",
                {
                    "conversation": serializers.IntegerField(),
                    "number": serializers.IntegerField(),
                    "message": serializers.IntegerField(),
                    "contact": serializers.IntegerField(),
                },
            )
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ConversationStartSerializer(data=request.data, context={"account": self.account})
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        inbox = visible_inboxes(account=self.account, membership=self.membership).filter(pk=fields["inbox"]).first()
        if inbox is None:
            raise ServiceError("No such inbox, or you are not one of its members.", field="inbox")
        message = conversation_start(
            account=self.account,
            actor=self.user,
            inbox=inbox,
            channel=fields["channel"],
            body=fields["body"],
            to=fields.get("to", ""),
            contact=fields.get("contact"),
            subject=fields.get("subject", ""),
            template=fields.get("template"),
            variables=fields.get("variables"),
            cc=fields.get("cc"),
            bcc=fields.get("bcc"),
        )
        return Response(
            {
                "conversation": message.conversation_id,
                "number": message.conversation.number,
                "message": message.pk,
                "contact": message.contact_id,
            },
            status=status.HTTP_201_CREATED,
        )
