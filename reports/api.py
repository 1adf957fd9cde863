"""GET /api/v1/accounts/<id>/reports: totals and rows grouped by day, inbox, agent, channel or label, over a range
(default the last 30 days), from the daily rollup. `export=csv` answers a CSV file."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import AccountScopedViewSet
from accounts.models import Account

from .models import ReportDay
from .query import as_csv, filters_from, group_from, key_names
from .rollup import report_rows, report_totals


class ReportViewSet(AccountScopedViewSet):
    """Reports of the inboxes you see (admins: all)."""

    queryset = ReportDay.objects.none()
    serializer_class = serializers.Serializer

    def scoped_queryset(self) -> Any:
        return ReportDay.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="YYYY-MM-DD (default: 29 days before `to`)"),
            OpenApiParameter("to", str, description="YYYY-MM-DD (default: today, UTC)"),
            OpenApiParameter("group", str, enum=["day", "inbox", "agent", "channel", "label"]),
            OpenApiParameter("inbox", int),
            OpenApiParameter("agent", int),
            OpenApiParameter("channel", str),
            OpenApiParameter("label", int),
            OpenApiParameter("export", str, enum=["csv"], description="csv: a CSV file instead of JSON"),
        ],
        responses=inline_serializer(
            "Report", {"totals": serializers.DictField(), "rows": serializers.ListField(child=serializers.DictField())}
        ),
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        account: Account = self.account
        filters = filters_from(request.query_params, account, self.membership)
        group = group_from(request.query_params)
        rows = report_rows(account, filters, group)
        if request.query_params.get("export") == "csv":
            body = as_csv(rows, group, key_names(account, group))
            response = HttpResponse(body, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="report-{group}-{filters.first}-{filters.last}.csv"'
            )
            return response
        for row in rows:
            if hasattr(row["key"], "isoformat"):
                row["key"] = row["key"].isoformat()
        return Response(
            {
                "from": filters.first.isoformat(),
                "to": filters.last.isoformat(),
                "group": group,
                "totals": report_totals(account, filters),
                "rows": rows,
            }
        )
