"""API of the outbound webhooks (admins only: a subscription sees the account's whole traffic)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, pagination, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedViewSet

from . import webhooks
from .models import WebhookDelivery, WebhookSubscription

ALL_ACTIONS = {"list", "retrieve", "create", "partial_update", "destroy", "rotate_secret", "test", "deliveries",
               "replay"}  # fmt: skip


class SubscriptionSerializer(serializers.ModelSerializer[WebhookSubscription]):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=webhooks.EVENTS), allow_empty=False, help_text="events to receive"
    )
    url = serializers.CharField(max_length=500, help_text="a public http(s) address; internal addresses are refused")

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "description", "events", "enabled", "consecutive_failures", "disabled_reason",
                  "created_at", "last_success_at"]  # fmt: skip
        read_only_fields = ["id", "consecutive_failures", "disabled_reason", "created_at", "last_success_at"]


class CreatedSubscriptionSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="shown once: keep it to verify signatures")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event", "state", "attempts", "next_attempt_at", "response_status",
                  "response_body", "error", "duration_ms", "created_at", "finished_at", "payload"]  # fmt: skip
        read_only_fields = fields


class NewestFirst(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")


class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    AccountScopedViewSet,
):
    """Outbound webhook subscriptions of the account, their deliveries, replays and test pings."""

    serializer_class = SubscriptionSerializer
    queryset = WebhookSubscription.objects.none()
    admin_actions = ALL_ACTIONS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[WebhookSubscription]:
        return WebhookSubscription.objects.filter(account=self.account).order_by("id")

    def paginate_queryset(self, queryset: Any) -> None:
        return None  # at most 20

    @extend_schema(request=SubscriptionSerializer, responses={201: CreatedSubscriptionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SubscriptionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subscription, secret = webhooks.subscription_create(
            account=self.account,
            actor=self.user,
            url=values["url"],
            events=values["events"],
            description=values.get("description", ""),
        )
        body = {**SubscriptionSerializer(subscription).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = self.get_object()
        data = SubscriptionSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        subscription = webhooks.subscription_update(
            account=self.account, actor=self.user, subscription=subscription, **data.validated_data
        )
        return Response(SubscriptionSerializer(subscription).data)

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        webhooks.subscription_delete(account=self.account, actor=self.user, subscription=instance)

    @extend_schema(request=None, responses=inline_serializer("WebhookSecret", {"secret": serializers.CharField()}))
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        secret = webhooks.subscription_rotate_secret(
            account=self.account, actor=self.user, subscription=self.get_object()
        )
        return Response({"secret": secret})

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        delivery = webhooks.send_test(subscription=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = WebhookDelivery.objects.filter(account=self.account, subscription=self.get_object())
        paginator = NewestFirst()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/replay")
    def replay(self, request: Request, *args: Any, delivery_id: str, **kwargs: Any) -> Response:
        subscription = self.get_object()
        delivery = WebhookDelivery.objects.filter(
            account=self.account, subscription=subscription, pk=int(delivery_id)
        ).first()
        if delivery is None:
            raise NotFound("No such delivery of this webhook.")
        again = webhooks.replay(account=self.account, actor=self.user, delivery=delivery)
        return Response(DeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)
