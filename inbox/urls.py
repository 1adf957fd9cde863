"""API routes for inboxes, conversations, messages, attachments, timelines and search, under /api/v1/."""

from accounts.api_base import ApiRouter

from . import api, api_team

router = ApiRouter()
router.register(r"accounts/(?P<account_id>\d+)/inboxes", api.InboxViewSet, basename="inbox")
router.register(r"accounts/(?P<account_id>\d+)/conversations", api.ConversationViewSet, basename="conversation")
router.register(r"accounts/(?P<account_id>\d+)/attachments", api.AttachmentViewSet, basename="attachment")
router.register(
    r"accounts/(?P<account_id>\d+)/contacts/(?P<contact_id>\d+)/timeline",
    api.ContactTimelineViewSet,
    basename="contact-timeline",
)
router.register(r"accounts/(?P<account_id>\d+)/search", api.SearchViewSet, basename="search")
router.register(r"accounts/(?P<account_id>\d+)/notifications", api_team.NotificationViewSet, basename="notification")
router.register(r"accounts/(?P<account_id>\d+)/labels", api_team.LabelViewSet, basename="label")
router.register(r"accounts/(?P<account_id>\d+)/canned-responses", api_team.CannedResponseViewSet, basename="canned")
router.register(r"accounts/(?P<account_id>\d+)/saved-views", api_team.SavedFilterViewSet, basename="saved-view")
# Merge and address removal live here, not in contacts: who may do them depends on the conversations they touch.
router.register(r"accounts/(?P<account_id>\d+)/contacts", api.ContactRewriteViewSet, basename="contact")
router.register(r"accounts/(?P<account_id>\d+)/contact-merges", api.ContactMergeViewSet, basename="merge-record")

urlpatterns = router.urls
