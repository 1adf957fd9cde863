"""REST API for Shared Memory: the recall of a contact in an inbox, facts, notes, sentiment, handoffs, and
the inboxes' fact definitions. Every read goes through the scope rules in memory.selectors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet
from contacts.api import ContactSerializer
from contacts.models import Contact
from contacts.selectors import contact_get
from inbox.api import MessageSerializer
from inbox.models import Conversation, Inbox
from inbox.selectors import conversation_get, visible_inboxes

from . import selectors, services
from .models import AiNote, Fact, FactDefinition, Handoff

INBOX_PARAM = OpenApiParameter("inbox", int, required=True, description="the inbox whose memory to read")


def _author(record: Any) -> dict[str, Any]:
    user = record.author_user
    return {
        "type": record.author_type,
        "engine": record.engine,
        "user": {"id": user.pk, "name": user.display_name} if user is not None else None,
        "label": record.author_label,
    }


class FactSerializer(serializers.ModelSerializer[Fact]):
    shared = serializers.BooleanField(source="is_shared", read_only=True)
    protected = serializers.BooleanField(read_only=True, help_text="entered or confirmed by a person")
    author = serializers.SerializerMethodField()
    confirmed_by = serializers.SerializerMethodField()
    conversation = serializers.SerializerMethodField(help_text="where it was learned, when you can see it")
    source_message = serializers.SerializerMethodField(help_text="the message the value came from")
    learned_elsewhere = serializers.SerializerMethodField(
        help_text="a shared fact learned in an inbox you are not looking from: {channel, at}; no source is shown"
    )

    class Meta:
        model = Fact
        fields = [
            "id",
            "key",
            "value",
            "confidence",
            "status",
            "shared",
            "inbox",
            "conversation",
            "protected",
            "author",
            "confirmed_by",
            "confirmed_at",
            "superseded_by",
            "source_message",
            "learned_elsewhere",
            "created_at",
            "changed_at",
        ]
        read_only_fields = fields

    def _provenance(self, fact: Fact) -> dict[str, Any]:
        # The serializer's context says which inboxes the reader looks from; without it, nothing is shown.
        return selectors.fact_provenance(fact, inbox_ids=self.context.get("provenance_inbox_ids", ()))

    def get_conversation(self, fact: Fact) -> int | None:
        value = self._provenance(fact)["conversation_id"]
        return int(value) if value is not None else None

    def get_learned_elsewhere(self, fact: Fact) -> dict[str, Any] | None:
        elsewhere = self._provenance(fact)["learned_elsewhere"]
        return {"channel": elsewhere["channel"], "at": elsewhere["at"]} if elsewhere else None

    def get_author(self, fact: Fact) -> dict[str, Any]:
        return _author(fact)

    def get_confirmed_by(self, fact: Fact) -> dict[str, Any] | None:
        user = fact.confirmed_by
        return {"id": user.pk, "name": user.display_name} if user is not None else None

    def get_source_message(self, fact: Fact) -> dict[str, Any] | None:
        message = self._provenance(fact)["source_message"]
        if message is None:
            return None
        return {
            "message_id": message.pk,
            "conversation_id": message.conversation_id,
            "excerpt": message.body[:160],
            "created_at": message.created_at,
        }


class NoteSerializer(serializers.ModelSerializer[AiNote]):
    author = serializers.SerializerMethodField()

    class Meta:
        model = AiNote
        fields = [
            "id",
            "conversation",
            "version",
            "is_current",
            "need",
            "status",
            "next_step",
            "open_questions",
            "source_message_ids",
            "author",
            "created_at",
        ]
        read_only_fields = fields

    def get_author(self, note: AiNote) -> dict[str, Any]:
        return _author(note)


class HandoffSerializer(serializers.ModelSerializer[Handoff]):
    author = serializers.SerializerMethodField()
    from_inbox = serializers.SerializerMethodField()
    to_inbox = serializers.SerializerMethodField()
    to_user = serializers.SerializerMethodField()

    class Meta:
        model = Handoff
        fields = [
            "id",
            "conversation",
            "to_conversation",
            "from_inbox",
            "to_inbox",
            "from_party",
            "to_user",
            "reason",
            "what_was_done",
            "missing",
            "sentiment_score",
            "sentiment_label",
            "suggested_next_step",
            "suggested_channel",
            "author",
            "created_at",
        ]
        read_only_fields = fields

    def get_author(self, handoff: Handoff) -> dict[str, Any]:
        return _author(handoff)

    def get_from_inbox(self, handoff: Handoff) -> dict[str, Any]:
        return {"id": handoff.from_inbox_id, "name": handoff.from_inbox.name}

    def get_to_inbox(self, handoff: Handoff) -> dict[str, Any]:
        return {"id": handoff.to_inbox_id, "name": handoff.to_inbox.name}

    def get_to_user(self, handoff: Handoff) -> dict[str, Any] | None:
        user = handoff.to_user
        return {"id": user.pk, "name": user.display_name} if user is not None else None


class TrendSerializer(serializers.Serializer[Any]):
    mean = serializers.FloatField(allow_null=True, help_text="rolling mean of the latest readings, -1..1")
    previous_mean = serializers.FloatField(allow_null=True)
    direction = serializers.CharField(help_text="improving, worsening, steady or unknown")
    label = serializers.CharField()  # type: ignore[assignment]
    last_change_at = serializers.DateTimeField(allow_null=True)
    urgent = serializers.BooleanField(help_text="frustrated: low, or falling fast")
    readings = serializers.IntegerField()


class DefinitionSerializer(serializers.Serializer[Any]):
    # `label` and `description` are also attribute names of DRF's Field; as declared fields they are data.
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    description = serializers.CharField()
    pattern = serializers.CharField()
    shared = serializers.BooleanField()
    required_before_handoff = serializers.BooleanField()
    builtin = serializers.BooleanField()
    value_type = serializers.CharField()


class RecallConversationSerializer(serializers.ModelSerializer[Conversation]):
    class Meta:
        model = Conversation
        fields = [
            "id",
            "number",
            "status",
            "handled_by",
            "assignee",
            "active_channel",
            "last_activity_at",
            "created_at",
        ]
        read_only_fields = fields


class RecallSerializer(serializers.Serializer[Any]):
    contact = ContactSerializer()
    inbox = serializers.SerializerMethodField()
    conversations = RecallConversationSerializer(many=True)
    history = MessageSerializer(many=True, help_text="the latest messages in this inbox, oldest first")
    notes = serializers.SerializerMethodField(help_text="the current AI note of each conversation listed")
    facts = FactSerializer(many=True)
    fact_history = FactSerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField(), help_text="required facts not known yet")
    sentiment = TrendSerializer(help_text="the contact's trend in this inbox")
    conversation_sentiment = TrendSerializer(help_text="the latest conversation's trend")
    handoffs = HandoffSerializer(many=True)
    definitions = serializers.SerializerMethodField()

    def get_inbox(self, recall: selectors.Recall) -> dict[str, Any]:
        return {"id": recall.inbox.pk, "name": recall.inbox.name}

    def get_notes(self, recall: selectors.Recall) -> list[dict[str, Any]]:
        return list(NoteSerializer(list(recall.notes.values()), many=True).data)

    def get_definitions(self, recall: selectors.Recall) -> list[dict[str, Any]]:
        return list(DefinitionSerializer(list(recall.definitions.values()), many=True).data)


class MemoryScopedViewSet(AccountScopedViewSet):
    """Helpers shared by the memory views: the inbox, contact and conversation a member may see, or 404."""

    def visible_inbox(self, inbox_id: Any) -> Inbox:
        if inbox_id in (None, ""):
            raise ValidationError({"inbox": ["Say which inbox's memory to read: ?inbox=<id>."]})
        if not str(inbox_id).isdigit():
            raise ValidationError({"inbox": ["Give the inbox's id (a number)."]})
        inbox = visible_inboxes(account=self.account, membership=self.membership).filter(pk=int(inbox_id)).first()
        if inbox is None:
            raise NotFound("Not found.")
        return inbox

    def url_contact(self) -> Contact:
        contact = contact_get(account=self.account, contact_id=int(self.kwargs["contact_id"]), with_identities=False)
        if contact is None:
            raise NotFound("Not found.")
        return contact

    def url_conversation(self) -> Conversation:
        conversation = conversation_get(
            account=self.account, membership=self.membership, conversation_id=int(self.kwargs["conversation_id"])
        )
        if conversation is None:
            raise NotFound("Not found.")
        return conversation


class ContactMemoryViewSet(MemoryScopedViewSet):
    """The recall: what this inbox's team and its AI agent know about the contact."""

    serializer_class = RecallSerializer
    queryset = Contact.objects.none()

    def scoped_queryset(self) -> QuerySet[Contact]:
        return Contact.objects.none()

    @extend_schema(parameters=[INBOX_PARAM], responses=RecallSerializer)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = self.url_contact()
        inbox = self.visible_inbox(request.query_params.get("inbox"))
        memory = selectors.recall(account=self.account, contact=contact, inbox=inbox)
        return Response(RecallSerializer(memory, context={"provenance_inbox_ids": {inbox.pk}}).data)


class FactCreateSerializer(serializers.Serializer[Any]):
    inbox = serializers.IntegerField(help_text="the inbox the fact is learned in (shared keys go to every inbox)")
    key = serializers.SlugField(max_length=64)
    value = serializers.CharField(max_length=500)
    conversation = serializers.IntegerField(required=False)


class ContactFactViewSet(mixins.ListModelMixin, MemoryScopedViewSet):
    """Facts about a contact that an inbox may see, current and past (`?inbox=`); a person adds or corrects one
    with POST (the new value supersedes the old, which stays in the history)."""

    serializer_class = FactSerializer
    queryset = Fact.objects.none()

    def scoped_queryset(self) -> QuerySet[Fact]:
        contact = self.url_contact()  # first: another account's contact is 404 whatever the query says
        inbox = self.visible_inbox(self.request.query_params.get("inbox"))
        return selectors.fact_list(account=self.account, contact=contact, inbox=inbox)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        inbox_id = self.request.query_params.get("inbox", "")
        context["provenance_inbox_ids"] = {int(inbox_id)} if str(inbox_id).isdigit() else set()
        return context

    @extend_schema(parameters=[INBOX_PARAM])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=FactCreateSerializer, responses={201: FactSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = self.url_contact()
        data = FactCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inbox = self.visible_inbox(data.validated_data["inbox"])
        conversation = None
        if data.validated_data.get("conversation"):
            conversation = conversation_get(
                account=self.account, membership=self.membership, conversation_id=data.validated_data["conversation"]
            )
            if conversation is None or conversation.contact_id != contact.pk:
                raise ValidationError({"conversation": ["Not a conversation of this contact that you can see."]})
        fact = services.fact_set(
            account=self.account,
            actor=self.user,
            contact=contact,
            inbox=inbox,
            key=data.validated_data["key"],
            value=data.validated_data["value"],
            conversation=conversation,
        )
        context = {"provenance_inbox_ids": {inbox.pk}}
        return Response(FactSerializer(fact, context=context).data, status=status.HTTP_201_CREATED)


class FactViewSet(mixins.RetrieveModelMixin, MemoryScopedViewSet):
    """One fact (of an inbox you are in, or shared): confirm it, or reject a wrong value."""

    serializer_class = FactSerializer
    queryset = Fact.objects.none()

    def scoped_queryset(self) -> QuerySet[Fact]:
        visible = visible_inboxes(account=self.account, membership=self.membership)
        return selectors.fact_visible_list(account=self.account, inboxes=visible)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        visible = visible_inboxes(account=self.account, membership=self.membership)
        context["provenance_inbox_ids"] = set(visible.values_list("id", flat=True))
        return context

    @extend_schema(request=None, responses=FactSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fact = services.fact_confirm(account=self.account, actor=self.user, fact=self.get_object())
        return Response(self.get_serializer(self.scoped_queryset().get(pk=fact.pk)).data)

    @extend_schema(request=None, responses=FactSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fact = services.fact_reject(account=self.account, actor=self.user, fact=self.get_object())
        return Response(self.get_serializer(self.scoped_queryset().get(pk=fact.pk)).data)


class NoteWriteSerializer(serializers.Serializer[Any]):
    need = serializers.CharField(allow_blank=True, default="")
    status = serializers.CharField(allow_blank=True, default="")
    next_step = serializers.CharField(allow_blank=True, default="")
    open_questions = serializers.ListField(child=serializers.CharField(), default=list)


class ConversationNoteViewSet(mixins.ListModelMixin, MemoryScopedViewSet):
    """The conversation's note, every version newest first; POST writes a new version by hand."""

    serializer_class = NoteSerializer
    queryset = AiNote.objects.none()

    def scoped_queryset(self) -> QuerySet[AiNote]:
        return selectors.note_history(account=self.account, conversation=self.url_conversation())

    @extend_schema(request=NoteWriteSerializer, responses={201: NoteSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.url_conversation()
        data = NoteWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.note_write(
            account=self.account, conversation=conversation, author_user=self.user, **data.validated_data
        )
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class MoveSerializer(serializers.Serializer[Any]):
    to_inbox = AccountScopedRelatedField(queryset_for=lambda account: Inbox.objects.filter(account=account))
    reason = serializers.CharField(max_length=2000)
    suggested_next_step = serializers.CharField(allow_blank=True, default="")


class ConversationHandoffViewSet(mixins.ListModelMixin, MemoryScopedViewSet):
    """Handoffs of the conversation (to it and from it), newest first; POST moves the customer to another inbox
    with a handoff."""

    serializer_class = HandoffSerializer
    queryset = Handoff.objects.none()
    pagination_class = None

    def scoped_queryset(self) -> QuerySet[Handoff]:
        return selectors.handoff_list(account=self.account, conversation=self.url_conversation())

    @extend_schema(request=MoveSerializer, responses={201: HandoffSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.url_conversation()
        data = MoveSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        handoff = services.conversation_move(
            account=self.account,
            actor=self.user,
            conversation=conversation,
            to_inbox=data.validated_data["to_inbox"],
            reason=data.validated_data["reason"],
            suggested_next_step=data.validated_data["suggested_next_step"],
        )
        return Response(HandoffSerializer(handoff).data, status=status.HTTP_201_CREATED)


class SentimentSerializer(serializers.Serializer[Any]):
    trend = TrendSerializer()
    series = serializers.ListField(child=serializers.DictField(), help_text="[{day, mean, low, count}]")


class ContactSentimentViewSet(MemoryScopedViewSet):
    """The contact's sentiment in an inbox: the trend, and a daily series for charts (`days`, default 365)."""

    serializer_class = SentimentSerializer
    queryset = Contact.objects.none()

    def scoped_queryset(self) -> QuerySet[Contact]:
        return Contact.objects.none()

    @extend_schema(parameters=[INBOX_PARAM, OpenApiParameter("days", int)], responses=SentimentSerializer)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = self.url_contact()
        inbox = self.visible_inbox(request.query_params.get("inbox"))
        days = request.query_params.get("days", "365")
        if not days.isdigit() or not 1 <= int(days) <= 3660:
            raise ValidationError({"days": ["A number of days from 1 to 3660."]})
        since = timezone.now() - timedelta(days=int(days))
        recall_trend = selectors.contact_trend(account=self.account, contact=contact, inbox=inbox)
        series = selectors.sentiment_series(account=self.account, contact=contact, inbox=inbox, since=since)
        return Response({"trend": TrendSerializer(recall_trend).data, "series": series})


class FactDefinitionSerializer(serializers.ModelSerializer[FactDefinition]):
    class Meta:
        model = FactDefinition
        fields = [
            "id",
            "key",
            "label",
            "description",
            "pattern",
            "value_type",
            "shared",
            "required_before_handoff",
            "shelf_life_days",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "shelf_life_days": {
                "min_value": 1,
                "max_value": 3650,
                "help_text": "days after which a value may no longer hold and the AI confirms it (null: never)",
            }
        }


class FactDefinitionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, MemoryScopedViewSet
):
    """What the inbox remembers about its customers. Members read; admins teach."""

    serializer_class = FactDefinitionSerializer
    queryset = FactDefinition.objects.none()
    admin_actions = {"create", "partial_update", "destroy"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None

    def scoped_queryset(self) -> QuerySet[FactDefinition]:
        return selectors.fact_definition_list(account=self.account, inbox=self.visible_inbox(self.kwargs["inbox_id"]))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        inbox = self.visible_inbox(self.kwargs["inbox_id"])
        data = FactDefinitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        definition = services.fact_definition_create(
            account=self.account, actor=self.user, inbox=inbox, **data.validated_data
        )
        return Response(FactDefinitionSerializer(definition).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        definition = self.get_object()
        data = FactDefinitionSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        definition = services.fact_definition_update(
            account=self.account, actor=self.user, definition=definition, **data.validated_data
        )
        return Response(FactDefinitionSerializer(definition).data)

    def perform_destroy(self, instance: FactDefinition) -> None:
        services.fact_definition_delete(account=self.account, actor=self.user, definition=instance)
