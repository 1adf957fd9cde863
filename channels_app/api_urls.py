"""API routes for channel endpoints, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api, api_sandbox, api_start

router = ApiRouter()
router.register(
    r"accounts/(?P<account_id>\d+)/channel-endpoints", api.ChannelEndpointViewSet, basename="channel-endpoint"
)

router.register(r"accounts/(?P<account_id>\d+)/inbound-events", api.InboundEventViewSet, basename="inbound-event")

router.register(r"accounts/(?P<account_id>\d+)/sandbox", api_sandbox.SandboxViewSet, basename="sandbox")

router.register(
    r"accounts/(?P<account_id>\d+)/conversation-starts",
    api_start.ConversationStartViewSet,
    basename="conversation-start",
)

urlpatterns = router.urls
