"""API routes for the AI agent, under /api/v1/."""

from django.urls import re_path

from accounts.api_base import ApiRouter

from . import api

router = ApiRouter()
router.register(
    r"accounts/(?P<account_id>\d+)/conversations/(?P<conversation_id>\d+)/next-channel",
    api.NextChannelViewSet,
    basename="next-channel",
)
router.register(
    r"accounts/(?P<account_id>\d+)/inboxes/(?P<inbox_id>\d+)/knowledge", api.KnowledgeViewSet, basename="knowledge"
)

router.register(r"accounts/(?P<account_id>\d+)/ai-usage", api.AiUsageViewSet, basename="ai-usage")
router.register(
    r"accounts/(?P<account_id>\d+)/inboxes/(?P<inbox_id>\d+)/playbooks", api.PlaybookViewSet, basename="playbook"
)

agent_settings = api.AgentSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
ai_settings = api.AccountAiSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    re_path(r"^accounts/(?P<account_id>\d+)/ai-settings/?$", ai_settings, name="ai-settings"),
    re_path(r"^accounts/(?P<account_id>\d+)/inboxes/(?P<inbox_id>\d+)/agent/?$", agent_settings, name="agent-settings"),
    *router.urls,
]
