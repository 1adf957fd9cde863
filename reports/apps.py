"""Reports: a daily rollup of what the team did (refreshed by beat), read by the reports page, its CSV and the
API, so a page view never scans the messages."""

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
