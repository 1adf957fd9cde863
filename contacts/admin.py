"""Django admin for support staff: read-mostly views of contacts, with the account always visible."""

from django.contrib import admin

from .models import Contact, ContactIdentity


class IdentityInline(admin.TabularInline):
    model = ContactIdentity
    extra = 0
    fields = ("kind", "value", "opted_out_at", "created_at")
    readonly_fields = ("kind", "value", "created_at")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "account", "last_activity_at", "merged_into")
    list_filter = ("account",)
    list_select_related = ("account",)
    search_fields = ("name", "identities__value")
    readonly_fields = ("account", "created_at", "last_activity_at", "merged_into", "merged_at", "merged_by")
    inlines = [IdentityInline]
    show_full_result_count = False


@admin.register(ContactIdentity)
class ContactIdentityAdmin(admin.ModelAdmin):
    list_display = ("value", "kind", "contact", "account", "opted_out_at")
    list_filter = ("kind", "account")
    list_select_related = ("contact", "account")
    search_fields = ("value",)
    readonly_fields = ("account", "contact", "kind", "value", "created_at")
