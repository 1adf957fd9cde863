"""API routes of the integrations, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api

router = ApiRouter()
router.register(r"accounts/(?P<account_id>\d+)/webhooks", api.WebhookViewSet, basename="webhook")

router.register(r"accounts/(?P<account_id>\d+)/data", api.DataRequestViewSet, basename="data-request")

router.register(r"accounts/(?P<account_id>\d+)/contact-imports", api.ContactImportViewSet, basename="contact-import")

urlpatterns = router.urls
