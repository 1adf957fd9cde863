"""REST API for tenancy: who am I, the account, its members, API tokens and the audit log."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .api_base import AccountScopedViewSet
from .models import Account, ApiToken, AuditLog, Membership, Role, User
from .presence import busy_set


class UserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "email", "name"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer[Account]):
    class Meta:
        model = Account
        fields = ["id", "name", "default_region", "timezone", "retention_months", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "retention_months": {
                "min_value": 1,
                "max_value": 240,
                "help_text": "delete conversations inactive for this many months (null: keep forever)",
            }
        }

    def validate_default_region(self, value: str) -> str:
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError(f"{value!r} is not a two-letter region code such as US, GB or DE.")
        return value

    def validate_timezone(self, value: str) -> str:
        import zoneinfo

        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone such as Europe/Berlin.")
        return value


class MembershipOfUserSerializer(serializers.ModelSerializer[Membership]):
    account = AccountSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["account", "role"]


class MeSerializer(serializers.ModelSerializer[User]):
    memberships = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "name", "memberships"]

    @extend_schema(operation_id="me_memberships")  # type: ignore[misc]
    def get_memberships(self, user: User) -> list[dict[str, Any]]:
        memberships = selectors.user_membership_list(user=user)
        token = self.context["request"].auth
        if isinstance(token, ApiToken):
            memberships = memberships.filter(account_id=token.account_id)
        return MembershipOfUserSerializer(memberships, many=True).data  # type: ignore[return-value]


class MeView(APIView):
    """The signed-in user and the accounts they belong to (only the token's account for an API token)."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user, context={"request": request}).data)  # type: ignore[arg-type]


class AccountViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, AccountScopedViewSet):
    """The account itself: any member reads it, admins change its name, default phone region and time zone."""

    serializer_class = AccountSerializer
    queryset = Account.objects.none()  # the model, for the schema; requests use scoped_queryset()
    admin_actions = {"update", "partial_update"}
    http_method_names = ["get", "patch", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Account]:
        return Account.objects.filter(pk=self.account.pk)

    def get_object(self) -> Account:
        return self.account

    def perform_update(self, serializer: Any) -> None:
        before = {field: getattr(self.account, field) for field in serializer.validated_data}
        account = serializer.save()
        changed = {f: [before[f], getattr(account, f)] for f in before if before[f] != getattr(account, f)}
        if changed:  # a retention change decides what gets deleted: always on record
            services.audit_log_record(account=account, actor=self.user, action="account.updated", target=account,
                             data={"changed": changed})  # fmt: skip


class MemberSerializer(serializers.ModelSerializer[Membership]):
    user = UserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "availability", "busy", "created_at"]
        read_only_fields = fields


class PreferencesSerializer(serializers.ModelSerializer[Membership]):
    notify_off = serializers.ListField(
        child=serializers.ChoiceField(
            choices=["mention", "assignment", "handoff", "snooze", "escalation", "integration"]
        ),
        required=False,
        help_text="notification kinds you do not want",
    )

    class Meta:
        model = Membership
        fields = ["notify_off", "notify_browser", "notify_digest", "time_zone", "email_signature"]

    def validate_time_zone(self, value: str) -> str:
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise serializers.ValidationError(
                    f"{value!r} is not a time zone; use an IANA name such as Europe/Berlin, or leave it blank."
                ) from None
        return value


class AvailabilitySerializer(serializers.Serializer[Any]):
    busy = serializers.BooleanField(help_text="true: no new assignments for you; false: available again.")


class MemberCreateSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.AGENT)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MemberUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, AccountScopedViewSet):
    """People in the account. Admins add (inviting newcomers by email), change roles and remove."""

    serializer_class = MemberSerializer
    queryset = Membership.objects.none()  # the model, for the schema; requests use scoped_queryset()
    admin_actions = {"create", "partial_update", "destroy"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Membership]:
        return selectors.membership_list(account=self.account)

    @extend_schema(
        request=MemberCreateSerializer,
        responses={
            201: inline_serializer("MemberAdded", {"member": MemberSerializer(), "invited": serializers.BooleanField()})
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = MemberCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership, invited = services.member_add(account=self.account, actor=self.user, **data.validated_data)
        return Response(
            {"member": MemberSerializer(membership).data, "invited": invited}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=MemberUpdateSerializer, responses=MemberSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()  # first: another account's id is 404 whatever the body says
        data = MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_change_role(
            account=self.account, actor=self.user, membership=membership, role=data.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.member_remove(account=self.account, actor=self.user, membership=instance)

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    @action(detail=False, methods=["get", "patch"], url_path="me/preferences")
    def preferences(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your notification preferences and time zone in this account."""
        membership = self.membership
        if request.method == "PATCH":
            data = PreferencesSerializer(membership, data=request.data, partial=True)
            data.is_valid(raise_exception=True)
            data.save()
        return Response(PreferencesSerializer(membership).data)

    @extend_schema(request=AvailabilitySerializer, responses=MemberSerializer)
    @action(detail=False, methods=["post"], url_path="me/availability")
    def availability(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Set yourself busy (no new assignments) or available. Online and offline follow your open consoles."""
        data = AvailabilitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = self.membership
        busy_set(membership, data.validated_data["busy"])
        membership.refresh_from_db()
        return Response(MemberSerializer(membership).data)


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    user = UserSerializer(read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "user", "active", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(help_text="The token itself. Shown this once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, _obj: ApiToken) -> str:
        return str(self.context["plaintext"])


class ApiTokenCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, AccountScopedViewSet):
    """API tokens: everyone manages their own; admins also see and revoke everyone's. DELETE revokes."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # the model, for the schema; requests use scoped_queryset()
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[ApiToken]:
        own_only = None if self.membership.is_admin else self.user
        return selectors.api_token_list(account=self.account, user=own_only)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(
            account=self.account,
            user=self.user,
            name=data.validated_data["name"],  # type: ignore[arg-type]
        )
        body = ApiTokenCreatedSerializer(token, context={"plaintext": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        services.api_token_revoke(account=self.account, actor=self.user, token=instance)


class AuditLogSerializer(serializers.ModelSerializer[AuditLog]):
    actor = UserSerializer(read_only=True)

    class Meta:
        model = AuditLog
        fields = ["id", "action", "actor", "target_type", "target_id", "data", "created_at"]
        read_only_fields = fields


class AuditLogViewSet(mixins.ListModelMixin, AccountScopedViewSet):
    """What happened in the account, newest first. Admins only."""

    serializer_class = AuditLogSerializer
    queryset = AuditLog.objects.none()  # the model, for the schema; requests use scoped_queryset()
    admin_actions = {"list"}

    def scoped_queryset(self) -> QuerySet[AuditLog]:
        return selectors.audit_log_list(account=self.account)
