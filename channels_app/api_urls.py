"""API routes for channel endpoints, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api

router = ApiRouter()
router.register(
    r"accounts/(?P<account_id>\d+)/channel-endpoints", api.ChannelEndpointViewSet, basename="channel-endpoint"
)

router.register(r"accounts/(?P<account_id>\d+)/inbound-events", api.InboundEventViewSet, basename="inbound-event")

urlpatterns = router.urls
