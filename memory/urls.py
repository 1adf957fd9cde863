"""API routes for Shared Memory, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api

A = r"accounts/(?P<account_id>\d+)"

router = ApiRouter()
router.register(rf"{A}/contacts/(?P<contact_id>\d+)/memory", api.ContactMemoryViewSet, basename="contact-memory")
router.register(rf"{A}/contacts/(?P<contact_id>\d+)/facts", api.ContactFactViewSet, basename="contact-facts")
router.register(
    rf"{A}/contacts/(?P<contact_id>\d+)/sentiment", api.ContactSentimentViewSet, basename="contact-sentiment"
)
router.register(rf"{A}/facts", api.FactViewSet, basename="fact")
router.register(
    rf"{A}/conversations/(?P<conversation_id>\d+)/notes", api.ConversationNoteViewSet, basename="conversation-notes"
)
router.register(
    rf"{A}/conversations/(?P<conversation_id>\d+)/handoffs",
    api.ConversationHandoffViewSet,
    basename="conversation-handoffs",
)
router.register(
    rf"{A}/inboxes/(?P<inbox_id>\d+)/fact-definitions", api.FactDefinitionViewSet, basename="fact-definition"
)

urlpatterns = router.urls
