"""Django admin for support staff: read-mostly views of inboxes, conversations and messages, tenant visible.
Changes to customer data go through the product (services), not through this site."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Attachment, Conversation, Inbox, InboxMember, Message


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class InboxMemberInline(admin.TabularInline):
    model = InboxMember
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "account", "timezone", "reopen_window_hours")
    list_filter = ("account",)
    list_select_related = ("account",)
    readonly_fields = ("account", "created_at")
    inlines = [InboxMemberInline]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("number", "account", "inbox", "contact", "status", "handled_by", "assignee", "last_activity_at")
    list_filter = ("status", "handled_by", "account")
    list_select_related = ("account", "inbox", "contact", "assignee")
    search_fields = ("=number",)
    show_full_result_count = False


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    fields = ("filename", "content_type", "size")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "conversation", "direction", "kind", "channel", "delivery_status", "created_at")
    list_filter = ("direction", "kind", "channel", "delivery_status")
    list_select_related = ("account", "conversation")
    raw_id_fields = ("conversation", "contact", "sender_user")
    inlines = [AttachmentInline]
    show_full_result_count = False
