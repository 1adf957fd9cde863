"""Console routes: /a/<account_id>/... for everything inside an account."""

from django.urls import path

from . import settings_views, views

app_name = "web"

A = "a/<int:account_id>/"
C = A + "conversations/<int:conversation_id>/"
S = A + "settings/"

urlpatterns = [
    path("", views.home, name="home"),
    path(A, views.inbox_view, name="inbox"),
    path(A + "list", views.conversation_list_partial, name="conversation-list"),
    path(C, views.conversation_view, name="conversation"),
    path(C + "thread", views.thread_partial, name="thread"),
    path(C + "header", views.header_partial, name="conversation-header"),
    path(C + "messages/<int:message_id>/original", views.email_original_view, name="email-original"),
    path(C + "memory", views.memory_partial, name="memory"),
    path(A + "contacts/<int:contact_id>/", views.contact_view, name="contact"),
    path(A + "contacts/import/", views.contact_import_view, name="contact-imports"),
    path(A + "contacts/import/<int:import_id>/", views.contact_import_detail, name="contact-import"),
    path(A + "contacts/<int:contact_id>/merge/<int:other_id>/", views.merge_preview, name="merge"),
    path(A + "search", views.search_view, name="search"),
    path(A + "conversations/new", views.conversation_new_view, name="conversation-new"),
    path(S, settings_views.overview, name="settings"),
    path(S + "inboxes/<int:inbox_id>/", settings_views.inbox_settings, name="settings-inbox"),
    path(S + "members/", settings_views.members, name="settings-members"),
    path(S + "tokens/", settings_views.tokens, name="settings-tokens"),
    path(S + "audit/", settings_views.audit, name="settings-audit"),
    path(S + "labels/", settings_views.labels, name="settings-labels"),
    path(S + "integrations/", settings_views.integrations, name="settings-integrations"),
    path(A + "notifications/", views.notifications_view, name="notifications"),
    path(A + "reports/", views.reports_view, name="reports"),
    path(A + "contacts/", views.contacts_view, name="contacts"),
    path(A + "labels.css", views.labels_css, name="labels-css"),
    path(A + "sandbox/", views.sandbox_view, name="sandbox"),
    path(A + "welcome/", views.welcome_view, name="welcome"),
    path(A + "sandbox/transcript", views.sandbox_transcript, name="sandbox-transcript"),
]
