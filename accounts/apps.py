"""Tenancy: accounts, users, memberships, API tokens and the audit log."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from . import receivers, two_factor  # noqa: F401 - connects the signal receivers
