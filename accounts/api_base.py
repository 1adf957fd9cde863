"""What every tenant API view is built on: the account from the URL, role checks, errors, pagination.

Usage, in any app's api.py:

    class ThingViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, AccountScopedViewSet):
        serializer_class = ThingSerializer
        admin_actions = {"create", "destroy"}           # agents may still list and read

        def scoped_queryset(self):
            return thing_list(account=self.account)       # a selector taking the account

The account comes only from the URL. A caller who is not a member gets 404 (the same answer as for an
account that does not exist); an API token only works inside the account it was issued for.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, permissions, routers, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .errors import ServiceError
from .models import Account, ApiToken, Membership, User
from .selectors import membership_for_user
from .tenant_db import tenant_enter

# --- Errors: one shape everywhere -------------------------------------------------------------------------
#   {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"email": ["..."]}}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            fields.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                fields.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def error_body(status_code: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.status, exc.code, exc.message, fields), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handler answers (in JSON for /api/)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field, first_messages = next(iter(fields.items()))
        where = "" if first_field == "non_field_errors" else f"{first_field}: "
        message = f"{where}{first_messages[0]}"
        response.data = error_body(response.status_code, "invalid", message, fields)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(response.status_code, code, str(exc.detail))
    return response


def json_error_view(status_code: int, code: str, message: str):  # type: ignore[no-untyped-def]
    """Django-level handlers for /api/ paths, so that clients always get the JSON error shape."""

    def view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
        return JsonResponse(error_body(status_code, code, message), status=status_code)

    return view


# --- Tenancy ----------------------------------------------------------------------------------------------


class AccountRolePermission(permissions.BasePermission):
    """Members may use safe actions; the actions a view lists in `admin_actions` need the admin role."""

    message = "Only account admins can do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        membership: Membership | None = getattr(view, "membership", None)
        if membership is None:
            return False
        action = getattr(view, "action", None) or (request.method or "").lower()
        return action not in getattr(view, "admin_actions", set()) or membership.is_admin


class AccountScopedViewSet(viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Base of every tenant API viewset: resolves `self.account` and `self.membership` from the `account_id`
    URL keyword before anything else, and scopes every query through `scoped_queryset()`."""

    account: Account
    membership: Membership
    user: User  # request.user, known to be a signed-in member once initial() has run
    admin_actions: ClassVar[set[str]] = set()
    permission_classes = [permissions.IsAuthenticated, AccountRolePermission]

    # The tenant boundary lives in initial()/get_queryset(): a subclass that overrides them could leak rows.
    _sealed = ("initial", "get_queryset")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._sealed:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} must not override {name}(); implement scoped_queryset() instead")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)
        membership = None
        account_id = self.kwargs.get("account_id")
        if request.user.is_authenticated and account_id is not None:
            membership = membership_for_user(account_id=int(account_id), user=request.user)
            token = request.auth
            if isinstance(token, ApiToken) and token.account_id != int(account_id):
                membership = None  # a token works only inside the account it was issued for
        if membership is None:
            if not request.user.is_authenticated:
                raise exceptions.NotAuthenticated()
            raise exceptions.NotFound("Not found.")
        self.membership = membership
        self.account = membership.account
        self.user = cast(User, request.user)
        # From here on, PostgreSQL shows this account's rows only.
        tenant_enter(self.account.pk, getattr(request.user, "pk", None))
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no account
            return self.queryset.all() if self.queryset is not None else QuerySet()
        return self.scoped_queryset()

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement scoped_queryset()")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["account"] = getattr(self, "account", None)
        context["membership"] = getattr(self, "membership", None)
        return context


@extend_schema_field(OpenApiTypes.INT)
class AccountScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """An id in a request body that must name a row of the request's own account (else "does not exist").

    `queryset_for` is a selector-like callable taking `account=`.
    """

    def __init__(self, *, queryset_for: Any, **kwargs: Any) -> None:
        self.queryset_for = queryset_for
        kwargs.setdefault("queryset", None)
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Model]:
        account = self.context.get("account")
        if account is None:
            raise RuntimeError("AccountScopedRelatedField needs the account in the serializer context")
        return self.queryset_for(account=account)


class ApiRouter(routers.SimpleRouter):
    """Routes that answer with or without a trailing slash (`/members` and `/members/`): clients guess both."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
