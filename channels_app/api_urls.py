"""API routes for channel endpoints, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api, api_sandbox, api_start, api_templates

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

router.register(
    r"accounts/(?P<account_id>\d+)/whatsapp-templates",
    api_templates.WhatsAppTemplateViewSet,
    basename="whatsapp-template",
)

urlpatterns = router.urls
