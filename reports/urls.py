"""API routes of the reports, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api

router = ApiRouter()
router.register(r"accounts/(?P<account_id>\d+)/reports", api.ReportViewSet, basename="report")

urlpatterns = router.urls
