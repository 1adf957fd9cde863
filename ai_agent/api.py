"""REST API for the AI agent's settings and knowledge base, per inbox. Members read; admins configure."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import outbound
from accounts.api_base import AccountScopedViewSet
from accounts.crypto import encrypt
from accounts.services import audit_log_record
from inbox.hours import is_open
from inbox.models import Conversation, Inbox
from inbox.selectors import conversation_get, conversations_visible, visible_inboxes
from memory.selectors import recall

from . import selectors
from .models import (
    AccountAiSettings,
    AgentSettings,
    AiUsage,
    EngineChoice,
    KnowledgeSnippet,
    Playbook,
    PlaybookAction,
    PlaybookTrigger,
)
from .next_channel import next_best_channel


class AgentSettingsSerializer(serializers.ModelSerializer[AgentSettings]):
    open_now = serializers.SerializerMethodField(help_text="whether the inbox is within its business hours now")

    class Meta:
        model = AgentSettings
        fields = [
            "enabled",
            "answer_mode",
            "persona_name",
            "greeting",
            "after_hours_message",
            "handoff_message",
            "handoff_on_request",
            "handoff_below_sentiment",
            "handoff_on_urgent",
            "max_turns_without_progress",
            "handoff_on_unknown_question",
            "handoff_when_collected",
            "assignment",
            "open_now",
            "updated_at",
        ]
        read_only_fields = ["open_now", "updated_at"]

    def validate_handoff_below_sentiment(self, value: float) -> float:
        if not -1 <= value <= 1:
            raise serializers.ValidationError("A sentiment score from -1 to 1.")
        return value

    def validate_greeting(self, value: str) -> str:
        try:
            value.format(persona="x", inbox="y")
        except (KeyError, IndexError, ValueError):
            raise serializers.ValidationError("Use only {persona} and {inbox} as placeholders.") from None
        return value

    def get_open_now(self, settings: AgentSettings) -> bool:
        from django.utils import timezone

        return is_open(settings.inbox.business_hours, settings.inbox.timezone, timezone.now())


class InboxChildViewSet(AccountScopedViewSet):
    def url_inbox(self) -> Inbox:
        inbox = (
            visible_inboxes(account=self.account, membership=self.membership)
            .filter(pk=int(self.kwargs["inbox_id"]))
            .first()
        )
        if inbox is None:
            raise NotFound("Not found.")
        return inbox


class AgentSettingsViewSet(InboxChildViewSet):
    """The inbox's AI agent: when it answers, what it says, and when it hands off."""

    serializer_class = AgentSettingsSerializer
    queryset = AgentSettings.objects.none()
    admin_actions = {"partial_update"}

    def scoped_queryset(self) -> QuerySet[AgentSettings]:
        return AgentSettings.objects.filter(account=self.account, inbox=self.url_inbox())

    def get_object(self) -> AgentSettings:
        return selectors.agent_settings_get(account=self.account, inbox=self.url_inbox())

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(AgentSettingsSerializer(self.get_object()).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        settings = self.get_object()
        data = AgentSettingsSerializer(settings, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        settings = data.save()
        audit_log_record(
            account=self.account,
            actor=self.user,
            action="ai.settings_updated",
            target=settings,
            data={"fields": sorted(data.validated_data)},
        )
        return Response(AgentSettingsSerializer(settings).data)


class KnowledgeSerializer(serializers.ModelSerializer[KnowledgeSnippet]):
    class Meta:
        model = KnowledgeSnippet
        fields = ["id", "question", "answer", "created_at"]
        read_only_fields = ["id", "created_at"]


class InboxConfigViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, InboxChildViewSet):
    """Rows that configure one inbox (knowledge, playbooks): members read, admins add, edit and remove them,
    and every change is audited as `ai.<audit_name>_added` / `_changed` / `_removed`."""

    admin_actions = {"create", "partial_update", "destroy"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    audit_name = ""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        inbox = self.url_inbox()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = data.save(account=self.account, inbox=inbox)
        audit_log_record(account=self.account, actor=self.user, action=f"ai.{self.audit_name}_added", target=row)
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(self.get_object(), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        row = data.save()
        audit_log_record(
            account=self.account,
            actor=self.user,
            action=f"ai.{self.audit_name}_changed",
            target=row,
            data={"fields": sorted(data.validated_data)},
        )
        return Response(self.get_serializer(row).data)

    def perform_destroy(self, instance: Any) -> None:
        audit_log_record(account=self.account, actor=self.user, action=f"ai.{self.audit_name}_removed", target=instance)
        instance.delete()


class KnowledgeViewSet(InboxConfigViewSet):
    """Q&A snippets the AI agent may answer from in this inbox."""

    serializer_class = KnowledgeSerializer
    queryset = KnowledgeSnippet.objects.none()
    audit_name = "knowledge"

    def scoped_queryset(self) -> QuerySet[KnowledgeSnippet]:
        return selectors.knowledge_list(account=self.account, inbox=self.url_inbox())


class NextChannelSerializer(serializers.Serializer[Any]):
    channel = serializers.CharField(help_text='sms, whatsapp, voice, email, webchat, or "" when none is open')
    reason = serializers.CharField()


class NextChannelViewSet(AccountScopedViewSet):
    """The next best channel to reach the customer of a conversation, and why."""

    serializer_class = NextChannelSerializer
    queryset = Conversation.objects.none()

    def scoped_queryset(self) -> QuerySet[Conversation]:
        return conversations_visible(account=self.account, membership=self.membership)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from django.utils import timezone

        conversation = conversation_get(
            account=self.account, membership=self.membership, conversation_id=int(self.kwargs["conversation_id"])
        )
        if conversation is None:
            raise NotFound("Not found.")
        memory = recall(account=self.account, contact=conversation.contact, inbox=conversation.inbox)
        suggestion = next_best_channel(memory, now=timezone.now())
        return Response({"channel": suggestion.channel, "reason": suggestion.reason})


class AccountAiSettingsSerializer(serializers.ModelSerializer[AccountAiSettings]):
    llm_api_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="stored encrypted; never shown again"
    )
    api_key_set = serializers.SerializerMethodField()

    class Meta:
        model = AccountAiSettings
        fields = [
            "engine",
            "llm_base_url",
            "llm_model",
            "llm_timeout_seconds",
            "llm_api_key",
            "api_key_set",
            "updated_at",
        ]
        read_only_fields = ["api_key_set", "updated_at"]

    def get_api_key_set(self, settings: AccountAiSettings) -> bool:
        return bool(settings.llm_api_key_encrypted)

    def validate_llm_base_url(self, value: str) -> str:
        if value:
            try:
                outbound.check_url(value)
            except outbound.OutboundRefused as exc:
                raise serializers.ValidationError(
                    f"{exc.reason} A self-hosted model on an internal address must be named by the operator "
                    "(OUTBOUND_ALLOWED_INTERNAL_HOSTS)."
                ) from None
        return value

    def validate_llm_timeout_seconds(self, value: float) -> float:
        if not 1 <= value <= 120:
            raise serializers.ValidationError("Between 1 and 120 seconds.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        merged = {
            "engine": self.instance.engine if self.instance else "local",
            "llm_base_url": self.instance.llm_base_url if self.instance else "",
            "llm_model": self.instance.llm_model if self.instance else "",
            **attrs,
        }
        if merged["engine"] == EngineChoice.LLM:
            errors = {
                name: ["Needed for the LLM engine."] for name in ("llm_base_url", "llm_model") if not merged[name]
            }
            if errors:
                raise serializers.ValidationError(errors)
        return attrs

    def update(self, instance: AccountAiSettings, validated_data: dict[str, Any]) -> AccountAiSettings:
        if "llm_api_key" in validated_data:
            instance.llm_api_key_encrypted = encrypt(validated_data.pop("llm_api_key"))
        return super().update(instance, validated_data)


class AccountAiSettingsViewSet(AccountScopedViewSet):
    """Which AI engine the account uses (admins only): local, or an OpenAI-compatible LLM."""

    serializer_class = AccountAiSettingsSerializer
    queryset = AccountAiSettings.objects.none()
    admin_actions = {"retrieve", "partial_update"}

    def scoped_queryset(self) -> QuerySet[AccountAiSettings]:
        return AccountAiSettings.objects.filter(account=self.account)

    def get_object(self) -> AccountAiSettings:
        settings, _ = AccountAiSettings.objects.get_or_create(account=self.account)
        return settings

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(AccountAiSettingsSerializer(self.get_object()).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = AccountAiSettingsSerializer(self.get_object(), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        settings = data.save()
        fields = sorted(k for k in data.validated_data if k != "llm_api_key")
        audit_log_record(
            account=self.account,
            actor=self.user,
            action="ai.engine_updated",
            target=settings,
            data={"fields": fields, "api_key_changed": "llm_api_key" in request.data},
        )
        return Response(AccountAiSettingsSerializer(settings).data)


class AiUsageSerializer(serializers.ModelSerializer[AiUsage]):
    class Meta:
        model = AiUsage
        fields = ["id", "engine", "purpose", "prompt_tokens", "completion_tokens", "ok", "error", "created_at"]
        read_only_fields = fields


class AiUsageViewSet(mixins.ListModelMixin, AccountScopedViewSet):
    """Every LLM call of the account, newest first: tokens spent and failures (admins only)."""

    serializer_class = AiUsageSerializer
    queryset = AiUsage.objects.none()
    admin_actions = {"list"}

    def scoped_queryset(self) -> QuerySet[AiUsage]:
        return AiUsage.objects.filter(account=self.account).order_by("-created_at", "-id")


class PlaybookSerializer(serializers.ModelSerializer[Playbook]):
    class Meta:
        model = Playbook
        fields = ["id", "name", "enabled", "trigger", "after_minutes", "action", "message", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        action = attrs.get("action", getattr(self.instance, "action", None))
        message = attrs.get("message", getattr(self.instance, "message", ""))
        if action in (PlaybookAction.REMIND, PlaybookAction.SATISFACTION) and not message.strip():
            raise serializers.ValidationError({"message": ["Write the message this step sends."]})
        trigger = attrs.get("trigger", getattr(self.instance, "trigger", None))
        waiting_on_us = (PlaybookTrigger.CUSTOMER_UNANSWERED, PlaybookTrigger.HANDOFF_UNANSWERED)
        if trigger in waiting_on_us and action in (PlaybookAction.RESOLVE, PlaybookAction.SATISFACTION):
            raise serializers.ValidationError(
                {"action": ["The customer is waiting for an answer: escalate or send a message, never close it."]}
            )
        minutes = attrs.get("after_minutes", getattr(self.instance, "after_minutes", 1))
        if not 1 <= minutes <= 60 * 24 * 30:
            raise serializers.ValidationError({"after_minutes": ["From 1 minute to 30 days."]})
        return attrs


class PlaybookViewSet(InboxConfigViewSet):
    """Follow-up rules of the inbox, run every minute. Members read; admins define them."""

    serializer_class = PlaybookSerializer
    queryset = Playbook.objects.none()
    audit_name = "playbook"

    def scoped_queryset(self) -> QuerySet[Playbook]:
        return Playbook.objects.filter(account=self.account, inbox=self.url_inbox()).order_by("after_minutes", "id")
