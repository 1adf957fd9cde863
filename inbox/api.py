"""REST API for inboxes, conversations, messages, attachments, contact timelines and search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import UserSerializer
from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet
from accounts.models import Account, AuditLog, User
from accounts.pagination import NewestMessagesCursorPagination, RecentFirstCursorPagination
from accounts.selectors import membership_list
from contacts.api import ContactSerializer, MergeSerializer
from contacts.models import Contact
from contacts.selectors import contact_get, contact_list, contact_search, merge_record_list
from contacts.services import contact_merge, contact_unmerge, identity_remove

from . import selectors, services, team
from .attachments import IncomingFile
from .models import (
    COMPOSE_KIND_CHOICES,
    CUSTOMER_CHANNEL_CHOICES,
    Attachment,
    Conversation,
    HandledBy,
    Inbox,
    InboxMember,
    Kind,
    Message,
    Priority,
    Status,
)

# --- Inboxes ------------------------------------------------------------------------------------------------


class InboxSerializer(serializers.ModelSerializer[Inbox]):
    open_count = serializers.IntegerField(read_only=True, help_text="Conversations not resolved.")
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Inbox
        fields = [
            "id",
            "name",
            "purpose",
            "timezone",
            "business_hours",
            "reopen_window_hours",
            "auto_assign",
            "assign_capacity",
            "csat_enabled",
            "email_signature",
            "open_count",
            "member_count",
            "created_at",
        ]
        read_only_fields = ["id", "created_at", "open_count", "member_count"]


class InboxMemberSerializer(serializers.ModelSerializer[InboxMember]):
    user = UserSerializer(read_only=True)

    class Meta:
        model = InboxMember
        fields = ["user", "created_at"]


def _account_users(*, account: Account) -> QuerySet[User]:
    return User.objects.filter(pk__in=membership_list(account=account).values("user_id"))


class InboxMemberAddSerializer(serializers.Serializer[Any]):
    user = AccountScopedRelatedField(queryset_for=_account_users, help_text="id of a member of the account")


class InboxViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, AccountScopedViewSet):
    """Team workspaces. Agents see the inboxes they are members of; admins see and configure all of them."""

    serializer_class = InboxSerializer
    queryset = Inbox.objects.none()
    admin_actions = {"create", "partial_update", "destroy", "add_member", "remove_member"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Inbox]:
        return selectors.inbox_list(account=self.account, membership=self.membership)

    def _fresh(self, inbox: Inbox) -> dict[str, Any]:
        return dict(InboxSerializer(self.scoped_queryset().get(pk=inbox.pk)).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = InboxSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        inbox = services.inbox_create(
            account=self.account, actor=self.user, timezone_name=values.pop("timezone", "UTC"), **values
        )
        return Response(self._fresh(inbox), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        inbox = self.get_object()
        data = InboxSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.inbox_update(account=self.account, actor=self.user, inbox=inbox, **data.validated_data)
        return Response(self._fresh(inbox))

    def perform_destroy(self, instance: Inbox) -> None:
        services.inbox_delete(account=self.account, actor=self.user, inbox=instance)

    @extend_schema(responses=InboxMemberSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        inbox = self.get_object()
        rows = selectors.inbox_member_list(account=self.account, inbox=inbox)
        return Response(InboxMemberSerializer(rows, many=True).data)

    @extend_schema(request=InboxMemberAddSerializer, responses={201: InboxMemberSerializer})
    @members.mapping.post
    def add_member(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        inbox = self.get_object()
        data = InboxMemberAddSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        member = services.inbox_member_add(
            account=self.account, actor=self.user, inbox=inbox, user=data.validated_data["user"]
        )
        return Response(InboxMemberSerializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>\d+)")
    def remove_member(self, request: Request, *args: Any, user_id: str, **kwargs: Any) -> Response:
        inbox = self.get_object()
        user = _account_users(account=self.account).filter(pk=int(user_id)).first()
        if user is None:
            raise NotFound("Not found.")
        services.inbox_member_remove(account=self.account, actor=self.user, inbox=inbox, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Messages -----------------------------------------------------------------------------------------------


class AttachmentSerializer(serializers.ModelSerializer[Attachment]):
    url = serializers.SerializerMethodField(help_text="Download link (same authentication as the API).")

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "url"]

    def get_url(self, attachment: Attachment) -> str:
        return f"/api/v1/accounts/{attachment.account_id}/attachments/{attachment.pk}"


class SenderUserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "name", "email"]


class MessageSerializer(serializers.ModelSerializer[Message]):
    sender_user = SenderUserSerializer(read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    sentiment = serializers.SerializerMethodField(
        help_text="a customer message's sentiment reading: {score (-1..1), label, engine, language (ISO 639-1, "
        "'' when too short to tell)}; null until read"
    )

    email = serializers.SerializerMethodField(
        help_text="an email's details, null on other channels: {subject, headers (from, to, cc, reply-to, date, "
        "subject, message-id as received), quoted (the quoted history or forwarded email stripped from `body`, "
        "'' if none), forward (true when `quoted` is a forwarded email), forwarded_emails ([{from, to, date, "
        "subject, text}] attached as message/rfc822), signed ('PGP', 'S/MIME' or ''), sender_note (why an "
        "RFC-valid sender address is unusual, or ''), repaired (what a lenient read mended, or ''), has_html}; "
        "the sanitized original is at messages/<id>/original"
    )

    def get_email(self, message: Message) -> dict[str, Any] | None:
        return selectors.email_details(message)

    def get_sentiment(self, message: Message) -> dict[str, Any] | None:
        try:
            reading = message.sentiment  # type: ignore[attr-defined]
        except ObjectDoesNotExist:
            return None
        if reading is None:
            return None
        return {"score": reading.score, "label": reading.label, "engine": reading.engine, "language": reading.language}

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "kind",
            "channel",
            "sender_type",
            "sender_user",
            "body",
            "attachments",
            "delivery_status",
            "error_code",
            "error_message",
            "sentiment",
            "email",
            "created_at",
        ]
        read_only_fields = fields


class TimelineMessageSerializer(MessageSerializer):
    """A message on a contact's timeline, with where it happened and the conversation's state at that point."""

    conversation_number = serializers.IntegerField(read_only=True)
    inbox_id = serializers.IntegerField(read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = [
            *MessageSerializer.Meta.fields,
            "conversation_number",
            "inbox_id",
            "conversation_status",
            "conversation_handled_by",
            "conversation_assignee",
        ]
        read_only_fields = fields


class EmailOriginalSerializer(serializers.Serializer[Any]):
    headers = serializers.DictField(child=serializers.CharField())
    text = serializers.CharField()
    html = serializers.CharField(help_text="sanitized; '' when the email had no HTML part")
    forwarded_emails = serializers.ListField(child=serializers.DictField())


class MessageCreateSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(allow_blank=True, default="", max_length=20000)
    kind = serializers.ChoiceField(choices=COMPOSE_KIND_CHOICES, default=Kind.MESSAGE)
    channel = serializers.ChoiceField(
        choices=CUSTOMER_CHANNEL_CHOICES, required=False, help_text="Defaults to the conversation's active channel."
    )
    attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list)
    cc = serializers.ListField(
        child=serializers.CharField(max_length=320), required=False, default=list, help_text="email only: copies to"
    )
    bcc = serializers.ListField(
        child=serializers.CharField(max_length=320), required=False, default=list, help_text="email only: blind copies"
    )


# --- Conversations ------------------------------------------------------------------------------------------


class LabelBriefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    colour = serializers.CharField()


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    contact = serializers.SerializerMethodField()
    assignee = UserSerializer(read_only=True)
    inbox = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "number",
            "inbox",
            "contact",
            "labels",
            "status",
            "handled_by",
            "assignee",
            "priority",
            "active_channel",
            "last_activity_at",
            "last_inbound_at",
            "last_message_preview",
            "snoozed_until",
            "resolved_at",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LabelBriefSerializer(many=True))
    def get_labels(self, conversation: Conversation) -> list[dict[str, Any]]:
        return [
            {"id": lab.label.pk, "name": lab.label.name, "colour": lab.label.colour}
            for lab in conversation.labellings.all()
        ]

    def get_contact(self, conversation: Conversation) -> dict[str, Any]:
        return {"id": conversation.contact_id, "name": conversation.contact.display_name}

    def get_inbox(self, conversation: Conversation) -> dict[str, Any]:
        return {"id": conversation.inbox_id, "name": conversation.inbox.name}


def _inbox_users(*, account: Account) -> QuerySet[User]:
    return _account_users(account=account)


class LabelsChangeSerializer(serializers.Serializer[Any]):
    add = serializers.ListField(child=serializers.IntegerField(), required=False, default=list, max_length=50)
    remove = serializers.ListField(child=serializers.IntegerField(), required=False, default=list, max_length=50)


class BulkSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(child=serializers.IntegerField(), max_length=200)
    action = serializers.ChoiceField(choices=["assign", "unassign", "label", "unlabel", "resolve", "reopen"])
    value = serializers.IntegerField(required=False, allow_null=True, default=None)


class CallSerializer(serializers.Serializer[Any]):
    agent_phone = serializers.CharField(
        max_length=40, help_text="the phone Twilio rings first (yours), e.g. +13125550199"
    )


class AssignSerializer(serializers.Serializer[Any]):
    assignee = AccountScopedRelatedField(queryset_for=_inbox_users, help_text="id of a member of the inbox")


class StatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Status.choices)


class SnoozeSerializer(serializers.Serializer[Any]):
    until = serializers.DateTimeField(allow_null=True, help_text="ISO 8601; null wakes the conversation now")


class PrioritySerializer(serializers.Serializer[Any]):
    priority = serializers.ChoiceField(choices=Priority.choices)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


CONVERSATION_FILTERS = [
    OpenApiParameter("inbox", int),
    OpenApiParameter("status", str, enum=Status.values),
    OpenApiParameter("assignee", int),
    OpenApiParameter("handled_by", str, enum=HandledBy.values),
    OpenApiParameter("unassigned", bool),
    OpenApiParameter("mine", bool, description="assigned to me"),
    OpenApiParameter("contact", int),
    OpenApiParameter("snoozed", bool),
    OpenApiParameter("label", int, description="carries this label"),
]


class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AccountScopedViewSet):
    """Conversations in the inboxes the member may see, most recent activity first (cursor pages)."""

    serializer_class = ConversationSerializer
    queryset = Conversation.objects.none()
    pagination_class = RecentFirstCursorPagination
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser]

    def scoped_queryset(self) -> QuerySet[Conversation]:
        params = self.request.query_params
        if self.action != "list":
            return selectors.conversations_visible(account=self.account, membership=self.membership)
        filters: dict[str, Any] = {}
        for name in ("inbox", "assignee", "contact", "label"):
            if params.get(name):
                if not params[name].isdigit():
                    raise serializers.ValidationError({name: [f"Give the {name}'s id (a number)."]})
                filters[f"{name}_id"] = int(params[name])
        if params.get("status"):
            if params["status"] not in Status.values:
                raise serializers.ValidationError({"status": [f"Use one of: {', '.join(Status.values)}."]})
            filters["status"] = params["status"]
        if params.get("handled_by"):
            if params["handled_by"] not in HandledBy.values:
                raise serializers.ValidationError({"handled_by": [f"Use one of: {', '.join(HandledBy.values)}."]})
            filters["handled_by"] = params["handled_by"]
        if "snoozed" in params:
            filters["snoozed"] = _flag(params["snoozed"])
        return selectors.conversation_list(
            account=self.account,
            membership=self.membership,
            unassigned=_flag(params.get("unassigned")),
            mine=_flag(params.get("mine")),
            **filters,
        )

    @extend_schema(parameters=CONVERSATION_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _respond(self, conversation: Conversation) -> Response:
        fresh = selectors.conversation_get(
            account=self.account, membership=self.membership, conversation_id=conversation.pk
        )
        return Response(ConversationSerializer(fresh).data)

    @extend_schema(request=LabelsChangeSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def labels(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add and remove labels: {"add": [label ids], "remove": [label ids]}."""
        conversation = self.get_object()
        data = LabelsChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team.conversation_labels_set(
            account=self.account, actor=self.user, conversation=conversation, **data.validated_data
        )
        return self._respond(conversation)

    @extend_schema(
        request=BulkSerializer, responses=inline_serializer("BulkDone", {"changed": serializers.IntegerField()})
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One action on many conversations: assign (value: member id), unassign, label / unlabel (value: label
        id), resolve, reopen. At most 200 ids; every one must be a conversation you see."""
        data = BulkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = team.conversations_bulk(
            account=self.account, membership=self.membership, actor=self.user, **data.validated_data
        )
        return Response({"changed": changed})

    @extend_schema(request=AssignSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.get_object()
        data = AssignSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return self._respond(
            services.conversation_assign(
                account=self.account,
                actor=self.user,
                conversation=conversation,
                assignee=data.validated_data["assignee"],
            )
        )

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def unassign(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._respond(
            services.conversation_unassign(account=self.account, actor=self.user, conversation=self.get_object())
        )

    @extend_schema(request=StatusSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.get_object()
        data = StatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.conversation_set_status(
                account=self.account, actor=self.user, conversation=conversation, status=data.validated_data["status"]
            )
        )

    @extend_schema(request=SnoozeSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.get_object()
        data = SnoozeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        until: datetime | None = data.validated_data["until"]
        return self._respond(
            services.conversation_snooze(account=self.account, actor=self.user, conversation=conversation, until=until)
        )

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="take-over")
    def take_over(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._respond(
            services.conversation_take_over(account=self.account, actor=self.user, conversation=self.get_object())
        )

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="hand-back")
    def hand_back(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._respond(
            services.conversation_hand_back(account=self.account, actor=self.user, conversation=self.get_object())
        )

    @extend_schema(request=PrioritySerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def priority(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.get_object()
        data = PrioritySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.conversation_set_priority(
                account=self.account,
                actor=self.user,
                conversation=conversation,
                priority=data.validated_data["priority"],
            )
        )

    @extend_schema(request=CallSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"])
    def call(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Call the customer back: Twilio rings `agent_phone` (yours), then connects you to the customer from the
        inbox's number. The call is logged on the conversation and its status follows it (sent while ringing,
        delivered when answered, failed with the reason)."""
        conversation = self.get_object()
        data = CallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.call_start(
            account=self.account,
            actor=self.user,
            conversation=conversation,
            agent_phone=data.validated_data["agent_phone"],
        )
        fresh = selectors.message_list(account=self.account, conversation=conversation).get(pk=message.pk)
        return Response(MessageSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=NewestMessagesCursorPagination)
    def messages(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The thread, newest first, 50 a page; `next` walks back in time."""
        conversation = self.get_object()
        rows = selectors.message_list(account=self.account, conversation=conversation)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/resend")
    def resend(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Send a failed reply again (the same message goes back to the queue)."""
        conversation = self.get_object()
        rows = selectors.message_list(account=self.account, conversation=conversation)
        message = rows.filter(pk=int(kwargs["message_id"])).first()
        if message is None:
            raise NotFound("Not found.")
        services.message_resend(account=self.account, actor=self.user, message=message)
        return Response(MessageSerializer(rows.get(pk=message.pk)).data)

    @extend_schema(responses=EmailOriginalSerializer)
    @action(detail=True, methods=["get"], url_path=r"messages/(?P<message_id>\d+)/original")
    def original(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """An email as it was received: its headers, its whole text (quoted history and forwards included) and its
        HTML, sanitized (no scripts, styles, event handlers or remote loading). 404 for other channels."""
        conversation = self.get_object()
        message = selectors.message_list(account=self.account, conversation=conversation).filter(
            pk=int(kwargs["message_id"]), channel="email", direction="in"
        )
        found = message.first()
        if found is None:
            raise NotFound("No received email with this id in this conversation.")
        return Response(selectors.email_original(found))

    @extend_schema(
        request={"application/json": MessageCreateSerializer, "multipart/form-data": MessageCreateSerializer},
        responses={201: MessageSerializer},
    )
    @messages.mapping.post
    def send(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Reply to the customer (on `channel`, default the active one) or add a private note (`kind: note`).
        Attachments go as multipart form data."""
        conversation = self.get_object()
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        files = [
            IncomingFile(f.name or "file", getattr(f, "content_type", "") or "", f, f.size or 0)
            for f in data.validated_data["attachments"]
        ]
        message = services.send_message(
            account=self.account,
            conversation=conversation,
            body=data.validated_data["body"],
            kind=data.validated_data["kind"],
            channel=data.validated_data.get("channel"),
            sender_user=self.user,
            attachments=files,
            cc=data.validated_data["cc"],
            bcc=data.validated_data["bcc"],
        )
        fresh = selectors.message_list(account=self.account, conversation=conversation).get(pk=message.pk)
        return Response(MessageSerializer(fresh).data, status=status.HTTP_201_CREATED)


class AttachmentViewSet(mixins.RetrieveModelMixin, AccountScopedViewSet):
    """Download an attachment of a conversation you may see."""

    queryset = Attachment.objects.none()
    serializer_class = AttachmentSerializer

    def scoped_queryset(self) -> QuerySet[Attachment]:
        visible = selectors.visible_inboxes(account=self.account, membership=self.membership)
        return Attachment.objects.filter(account=self.account, message__inbox__in=visible)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> FileResponse:  # type: ignore[override]
        attachment = self.get_object()
        response = FileResponse(
            attachment.file.open("rb"),
            content_type=attachment.content_type,
            as_attachment=True,
            filename=attachment.filename,
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- Contact timeline and search ----------------------------------------------------------------------------


class ContactTimelineViewSet(mixins.ListModelMixin, AccountScopedViewSet):
    """Everything with one contact across channels and conversations, newest first, in the inboxes you see."""

    serializer_class = TimelineMessageSerializer
    queryset = Message.objects.none()
    pagination_class = NewestMessagesCursorPagination

    def scoped_queryset(self) -> QuerySet[Message]:
        contact = contact_get(account=self.account, contact_id=int(self.kwargs["contact_id"]), with_identities=False)
        if contact is None:
            raise NotFound("Not found.")
        return selectors.contact_timeline(account=self.account, membership=self.membership, contact=contact)


class SearchResultSerializer(serializers.Serializer[Any]):
    contacts = ContactSerializer(many=True)
    messages = TimelineMessageSerializer(many=True)


class SearchViewSet(AccountScopedViewSet):
    """Search contacts (name, phone in any format, email) and message text, in what you may see."""

    serializer_class = SearchResultSerializer
    queryset = Message.objects.none()

    def scoped_queryset(self) -> QuerySet[Message]:
        return Message.objects.none()

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True), OpenApiParameter("inbox", int)],
        responses=SearchResultSerializer,
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query:
            raise serializers.ValidationError({"q": ["Type something to search for."]})
        inbox = request.query_params.get("inbox")
        if inbox is not None and not inbox.isdigit():
            raise serializers.ValidationError({"inbox": ["Give the inbox's id (a number)."]})
        contacts = contact_search(account=self.account, query=query)[:10]
        messages = selectors.message_search(
            account=self.account, membership=self.membership, query=query, inbox_id=int(inbox) if inbox else None
        )[:25]
        return Response(
            {
                "contacts": ContactSerializer(contacts, many=True).data,
                "messages": TimelineMessageSerializer(messages, many=True).data,
            }
        )


# --- Merging contacts and removing their addresses ---------------------------------------------------------------


class ContactRewriteViewSet(AccountScopedViewSet):
    """Merge two contacts, or remove one of a contact's addresses. Both rewrite what every team knows about the
    customer, so they are for admins, and for an agent only when they see every conversation of the contacts
    involved; anyone else gets 404, as for a contact that does not exist."""

    serializer_class = ContactSerializer
    queryset = Contact.objects.none()

    def scoped_queryset(self) -> QuerySet[Contact]:
        return contact_list(account=self.account, include_merged=True)

    def _check(self, *contacts: Contact) -> None:
        ids = [c.pk for c in contacts]
        if not selectors.contacts_fully_visible(account=self.account, membership=self.membership, contact_ids=ids):
            raise NotFound("Not found.")

    @extend_schema(request=LabelsChangeSerializer, responses=LabelBriefSerializer(many=True))
    @action(detail=True, methods=["post"])
    def labels(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add and remove labels on the contact: for admins, and agents who see every conversation of it (labels
        show in every team's lists, like the other rewrites here)."""
        contact = self.get_object()
        self._check(contact)
        data = LabelsChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        labels = team.contact_labels_set(account=self.account, actor=self.user, contact=contact, **data.validated_data)
        return Response([{"id": lab.pk, "name": lab.name, "colour": lab.colour} for lab in labels])

    @extend_schema(request=MergeSerializer, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Fold another contact (`drop`) into this one: identities, conversations, messages and memory move; open
        conversations of one inbox become one; duplicate facts collapse. Undo it from its audit record."""
        keep = self.get_object()
        data = MergeSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        drop = data.validated_data["drop"]
        self._check(keep, drop)
        contact_merge(account=self.account, actor=self.user, keep=keep, drop=drop)
        return Response(ContactSerializer(contact_get(account=self.account, contact_id=keep.pk)).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"identities/(?P<identity_id>\d+)")
    def remove_identity(self, request: Request, *args: Any, identity_id: str, **kwargs: Any) -> Response:
        contact = self.get_object()
        self._check(contact)
        identity = contact.identities.filter(pk=int(identity_id)).first()
        if identity is None:
            raise NotFound("Not found.")
        identity_remove(account=self.account, actor=self.user, identity=identity)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MergeRecordSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kept = serializers.IntegerField(source="data.kept")
    dropped = serializers.IntegerField(source="data.dropped")
    moved = serializers.DictField(source="data.moved", child=serializers.IntegerField())
    created_at = serializers.DateTimeField()


class ContactMergeViewSet(mixins.ListModelMixin, AccountScopedViewSet):
    """Merges of the account, newest first (admins): each can be undone for 30 days with POST .../undo."""

    serializer_class = MergeRecordSerializer
    queryset = AuditLog.objects.none()
    admin_actions = {"list", "undo"}

    def scoped_queryset(self) -> QuerySet[AuditLog]:
        return merge_record_list(account=self.account)

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The dropped contact lives again with what it had; the continuing conversations split back."""
        restored = contact_unmerge(account=self.account, actor=self.user, merge=self.get_object())
        return Response(ContactSerializer(contact_get(account=self.account, contact_id=restored.pk)).data)
