"""REST API for contacts: list and search, create, edit, identities, merge."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedRelatedField, AccountScopedViewSet

from . import selectors, services
from .models import Contact, ContactIdentity, IdentityKind


class IdentitySerializer(serializers.ModelSerializer[ContactIdentity]):
    opted_out = serializers.SerializerMethodField()

    class Meta:
        model = ContactIdentity
        fields = ["id", "kind", "value", "opted_out", "created_at"]
        read_only_fields = fields

    def get_opted_out(self, identity: ContactIdentity) -> bool:
        return identity.opted_out_at is not None


class ContactSerializer(serializers.ModelSerializer[Contact]):
    identities = IdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "attributes", "identities", "created_at", "last_activity_at", "merged_into"]
        read_only_fields = fields


class IdentityInputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = serializers.CharField(max_length=320)


class ContactWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    attributes = serializers.DictField(required=False)
    identities = IdentityInputSerializer(many=True, required=False)


class MergeSerializer(serializers.Serializer[Any]):
    drop = AccountScopedRelatedField(
        queryset_for=selectors.contact_list, help_text="The contact to fold into this one; it stays as a pointer."
    )


class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AccountScopedViewSet):
    """Contacts of the account. A merged contact still answers, with `merged_into` naming the kept one."""

    serializer_class = ContactSerializer
    queryset = Contact.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Contact]:
        if self.action == "list":
            return selectors.contact_search(account=self.account, query=self.request.query_params.get("q", ""))
        return selectors.contact_list(account=self.account, include_merged=True)

    @extend_schema(parameters=[OpenApiParameter("q", str, description="name, phone in any format, or email")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ContactWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.contact_create(account=self.account, actor=self.user, **data.validated_data)
        contact = selectors.contact_get(account=self.account, contact_id=created.pk)
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = self.get_object()
        data = ContactWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "identities" in data.validated_data:
            raise serializers.ValidationError({"identities": ["Add or remove identities with their own endpoints."]})
        services.contact_update(account=self.account, actor=self.user, contact=contact, **data.validated_data)
        return Response(ContactSerializer(selectors.contact_get(account=self.account, contact_id=contact.pk)).data)

    @extend_schema(request=IdentityInputSerializer, responses={201: IdentitySerializer})
    @action(detail=True, methods=["post"])
    def identities(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add an address (phone, email, WhatsApp, webchat id) to the contact."""
        contact = self.get_object()
        data = IdentityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = services.identity_add(
            account=self.account,
            actor=self.user,
            contact=contact,
            kind=data.validated_data["kind"],
            raw_value=data.validated_data["value"],
        )
        return Response(IdentitySerializer(identity).data, status=status.HTTP_201_CREATED)
