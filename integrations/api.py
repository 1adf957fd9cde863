"""API of the outbound webhooks (admins only: a subscription sees the account's whole traffic)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedViewSet
from accounts.errors import ServiceError
from accounts.services import audit_log_record
from contacts.models import Contact
from inbox.api_team import NewestFirst

from . import imports, privacy, webhooks
from .models import ContactImport, ImportState, WebhookDelivery, WebhookSubscription

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


class DataRequestViewSet(AccountScopedViewSet):
    """The customer's data (admins): every contact as CSV, one contact's whole history and memory as JSON, and
    erasing a contact with everything they left (docs/data-requests.md)."""

    queryset = Contact.objects.none()
    serializer_class = serializers.Serializer
    admin_actions = {"contacts_csv", "contact_export", "contact_erase"}

    def scoped_queryset(self) -> QuerySet[Contact]:
        return Contact.objects.filter(account=self.account)

    def _contact(self, contact_id: str) -> Contact:
        contact = Contact.objects.filter(account=self.account, pk=int(contact_id)).first()
        if contact is None:
            raise NotFound("No such contact.")
        if contact.merged_into_id:  # a merged contact's data lives with the contact it was merged into
            raise NotFound("This contact was merged into another; export or erase that one.")
        return contact

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path="contacts.csv")
    def contacts_csv(self, request: Request, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        response = StreamingHttpResponse(privacy.contacts_csv(account=self.account), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        audit_log_record(account=self.account, actor=self.user, action="contacts.exported")
        return response

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], url_path=r"contacts/(?P<contact_id>\d+)/export")
    def contact_export(self, request: Request, *args: Any, contact_id: str, **kwargs: Any) -> Response:
        contact = self._contact(contact_id)
        data = privacy.contact_export(account=self.account, actor=self.user, contact=contact)
        response = Response(data)
        if request.query_params.get("download") in {"1", "true"}:
            response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.json"'
        return response

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], url_path=r"contacts/(?P<contact_id>\d+)/erase")
    def contact_erase(self, request: Request, *args: Any, contact_id: str, **kwargs: Any) -> Response:
        contact = self._contact(contact_id)
        if request.data.get("confirm") != contact.name and request.data.get("confirm") != str(contact.pk):
            raise ServiceError(
                "Type the customer's name (or id) in confirm: erasing cannot be undone.", field="confirm"
            )
        counts = privacy.contact_erase(account=self.account, actor=self.user, contact=contact)
        return Response({"erased": counts})


class ContactImportSerializer(serializers.ModelSerializer[ContactImport]):
    preview = serializers.SerializerMethodField(help_text="the first rows, while the mapping is chosen")

    class Meta:
        model = ContactImport
        fields = [
            *("id", "filename", "headers", "mapping", "state", "total_rows", "processed_rows", "created_count"),
            *("matched_count", "refused_count", "report", "error", "created_at", "finished_at", "preview"),
        ]
        read_only_fields = fields

    def get_preview(self, contact_import: ContactImport) -> list[list[str]]:
        return imports.preview(contact_import) if contact_import.state == ImportState.MAPPING else []


class ContactImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AccountScopedViewSet):
    """Contacts from a CSV (admins): upload it (`file`), check the guessed column mapping, start; poll for progress
    and the report of what was matched or refused."""

    serializer_class = ContactImportSerializer
    queryset = ContactImport.objects.none()
    admin_actions = {"list", "retrieve", "create", "start"}
    parser_classes = [MultiPartParser, JSONParser]
    pagination_class = NewestFirst

    def scoped_queryset(self) -> QuerySet[ContactImport]:
        return ContactImport.objects.filter(account=self.account).defer("content")

    @extend_schema(
        request={"multipart/form-data": inline_serializer("ContactImportUpload", {"file": serializers.FileField()})},
        responses={201: ContactImportSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ServiceError("Attach the CSV as `file`.", field="file")
        contact_import = imports.import_upload(
            account=self.account, actor=self.user, filename=upload.name or "contacts.csv", raw=upload.read()
        )
        return Response(ContactImportSerializer(contact_import).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=inline_serializer(
            "ContactImportStart", {"mapping": serializers.DictField(child=serializers.CharField())}
        ),
        responses={202: ContactImportSerializer},
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        mapping = request.data.get("mapping") or {}
        if not isinstance(mapping, dict):
            raise ServiceError("mapping is an object: {column header: field}.", field="mapping")
        contact_import = self.get_object()
        imports.import_queue(contact_import=contact_import, mapping={str(k): str(v) for k, v in mapping.items()})
        return Response(ContactImportSerializer(contact_import).data, status=status.HTTP_202_ACCEPTED)
