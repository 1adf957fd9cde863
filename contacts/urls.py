"""API routes for contacts, mounted under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api

router = ApiRouter()
router.register(r"accounts/(?P<account_id>\d+)/contacts", api.ContactViewSet, basename="contact")

urlpatterns = router.urls
