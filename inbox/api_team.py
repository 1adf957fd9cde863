"""API of the team's everyday tools: notifications (each person's own), labels on conversations and contacts, and
canned responses."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, pagination, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet

from . import team
from .models import CannedResponse, Inbox, Label, Notification, SavedFilter
from .notifications import notifications_mark_read, unread_count


class NewestFirst(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    conversation_number = serializers.IntegerField(source="conversation.number", read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "conversation", "conversation_number", "created_at", "read_at"]
        read_only_fields = fields


class NotificationViewSet(mixins.ListModelMixin, AccountScopedViewSet):
    """Your notifications in this account, newest first (`unread=true`: only unread). Nobody sees another
    person's."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()
    pagination_class = NewestFirst

    def scoped_queryset(self) -> QuerySet[Notification]:
        rows = Notification.objects.filter(account=self.account, user=self.user).select_related("conversation")
        if self.request.query_params.get("unread") in {"true", "1"}:
            rows = rows.filter(read_at__isnull=True)
        return rows

    @extend_schema(parameters=[OpenApiParameter("unread", bool)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        response.data["unread"] = unread_count(account=self.account, user=self.user)
        return response

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        notification = self.get_object()
        notifications_mark_read(account=self.account, user=self.user, ids=[notification.pk])
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification).data)

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "NotificationsMarked", {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()}
        ),
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        marked = notifications_mark_read(account=self.account, user=self.user)
        return Response({"marked": marked, "unread": 0})


class LabelSerializer(serializers.ModelSerializer[Label]):
    class Meta:
        model = Label
        fields = ["id", "name", "colour", "description", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # the service names a duplicate clearly


class LabelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    AccountScopedViewSet,
):
    """The account's labels. Everyone applies them; admins create, rename, recolour and delete them."""

    serializer_class = LabelSerializer
    queryset = Label.objects.none()
    admin_actions = {"create", "partial_update", "destroy"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Label]:
        return Label.objects.filter(account=self.account).order_by("name")

    def paginate_queryset(self, queryset: Any) -> None:
        return None  # a small list: all of it

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = LabelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = team.label_create(account=self.account, actor=self.user, **data.validated_data)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        label = self.get_object()
        data = LabelSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        label = team.label_update(account=self.account, actor=self.user, label=label, **data.validated_data)
        return Response(LabelSerializer(label).data)

    def perform_destroy(self, instance: Label) -> None:
        team.label_delete(account=self.account, actor=self.user, label=instance)


def _inboxes(*, account: Any) -> QuerySet[Inbox]:
    return Inbox.objects.filter(account=account)


class CannedResponseSerializer(serializers.ModelSerializer[CannedResponse]):
    rendered = serializers.SerializerMethodField(help_text="The body filled for `conversation`, when given.")
    inbox = AccountScopedRelatedField(
        queryset_for=_inboxes, allow_null=True, required=False, help_text="null: offered in every inbox"
    )

    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "body", "inbox", "rendered", "created_at", "updated_at"]
        read_only_fields = ["id", "rendered", "created_at", "updated_at"]
        validators: list[Any] = []

    def get_rendered(self, canned: CannedResponse) -> str | None:
        filled = self.context.get("filled")
        return filled(canned.body) if filled is not None else None


class CannedResponseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    AccountScopedViewSet,
):
    """Saved replies. `conversation=<id>`: those offered in its inbox (the inbox's own and the account-wide ones),
    each with `rendered`, its variables filled for that conversation and you; `q` filters by shortcut or text.
    Admins manage them."""

    serializer_class = CannedResponseSerializer
    queryset = CannedResponse.objects.none()
    admin_actions = {"create", "partial_update", "destroy"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[CannedResponse]:
        rows = team.canned_list(account=self.account, membership=self.membership)
        query = (self.request.query_params.get("q") or "").strip().lstrip("/")
        if query:
            rows = rows.filter(shortcut__icontains=query) | rows.filter(body__icontains=query)
        return rows.order_by("shortcut", "id")

    def paginate_queryset(self, queryset: Any) -> None:
        return None

    @extend_schema(parameters=[OpenApiParameter("conversation", int), OpenApiParameter("q", str)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = self.get_queryset()
        context: dict[str, Any] = {}
        raw = request.query_params.get("conversation")
        if raw:
            conversation = team.conversation_for(account=self.account, membership=self.membership, raw_id=raw)
            rows = rows.filter(inbox__isnull=True) | rows.filter(inbox_id=conversation.inbox_id)
            context["filled"] = team.filler(conversation=conversation, agent=self.user)
        shown = rows.order_by("shortcut", "id")[:50]
        return Response(
            CannedResponseSerializer(shown, many=True, context={**self.get_serializer_context(), **context}).data
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        canned = team.canned_create(account=self.account, actor=self.user, **data.validated_data)
        return Response(CannedResponseSerializer(canned).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        canned = self.get_object()
        data = self.get_serializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        canned = team.canned_update(account=self.account, actor=self.user, canned=canned, **data.validated_data)
        return Response(CannedResponseSerializer(canned).data)

    def perform_destroy(self, instance: CannedResponse) -> None:
        team.canned_delete(account=self.account, actor=self.user, canned=instance)


FILTER_KEYS = {"folder", "inbox", "label"}


class SavedFilterSerializer(serializers.ModelSerializer[SavedFilter]):
    class Meta:
        model = SavedFilter
        fields = ["id", "name", "query", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []

    def validate_name(self, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise serializers.ValidationError("Give the view a name, such as My VIPs.")
        return value

    def validate_query(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) - FILTER_KEYS:
            raise serializers.ValidationError(f"A view is a map of {', '.join(sorted(FILTER_KEYS))}.")
        return value


class SavedFilterViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, AccountScopedViewSet
):
    """Your saved views of the conversation list: `{"name", "query": {"folder", "inbox", "label"}}`. Nobody
    sees another person's."""

    serializer_class = SavedFilterSerializer
    queryset = SavedFilter.objects.none()

    def scoped_queryset(self) -> QuerySet[SavedFilter]:
        return SavedFilter.objects.filter(account=self.account, user=self.user).order_by("name")

    def paginate_queryset(self, queryset: Any) -> None:
        return None

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SavedFilterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        saved = team.saved_filter_create(
            account=self.account, membership=self.membership, user=self.user, **data.validated_data
        )
        return Response(SavedFilterSerializer(saved).data, status=status.HTTP_201_CREATED)
