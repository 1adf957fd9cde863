"""Contacts and their channel identities; resolving an address to a contact, and merging contacts."""

from django.apps import AppConfig


class ContactsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "contacts"
