"""API routes of the tenancy core, mounted under /api/v1/."""

from django.urls import path

from . import api
from .api_base import ApiRouter

router = ApiRouter()
router.register(r"accounts/(?P<account_id>\d+)/members", api.MemberViewSet, basename="member")
router.register(r"accounts/(?P<account_id>\d+)/api-tokens", api.ApiTokenViewSet, basename="api-token")
router.register(r"accounts/(?P<account_id>\d+)/audit-log", api.AuditLogViewSet, basename="audit-log")

account_detail = api.AccountViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("me", api.MeView.as_view(), name="me"),
    path("accounts/<int:account_id>", account_detail, name="account-detail"),
    *router.urls,
]
