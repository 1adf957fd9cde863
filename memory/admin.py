"""Django admin for support staff: read-only views of Shared Memory records, with provenance and tenant visible.
Changes go through the product, where they are audited and never overwrite what a person confirmed."""

from django.contrib import admin

from inbox.admin import ReadOnlyAdmin as ReadOnly

from .models import AiNote, Fact, FactDefinition, Handoff, SentimentReading


@admin.register(FactDefinition)
class FactDefinitionAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "inbox", "account", "shared", "required_before_handoff")
    list_filter = ("shared", "account")
    list_select_related = ("inbox", "account")
    readonly_fields = ("account", "inbox", "created_at")


@admin.register(Fact)
class FactAdmin(ReadOnly):
    list_display = ("key", "value", "status", "contact", "inbox", "account", "author_type", "engine", "confirmed_by")
    list_filter = ("status", "author_type", "account")
    list_select_related = ("contact", "inbox", "account", "confirmed_by")
    raw_id_fields = ("contact", "conversation", "source_message", "superseded_by")
    show_full_result_count = False


@admin.register(AiNote)
class AiNoteAdmin(ReadOnly):
    list_display = ("conversation", "version", "is_current", "inbox", "account", "author_type", "engine", "created_at")
    list_select_related = ("conversation", "inbox", "account")
    show_full_result_count = False


@admin.register(SentimentReading)
class SentimentReadingAdmin(ReadOnly):
    list_display = ("message", "score", "label", "engine", "inbox", "account", "created_at")
    list_filter = ("label", "account")
    list_select_related = ("message", "inbox", "account")
    show_full_result_count = False


@admin.register(Handoff)
class HandoffAdmin(ReadOnly):
    list_display = ("conversation", "from_inbox", "to_inbox", "from_party", "to_user", "account", "created_at")
    list_select_related = ("conversation", "from_inbox", "to_inbox", "to_user", "account")
    show_full_result_count = False
