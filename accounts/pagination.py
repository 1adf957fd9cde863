"""Default API pagination. Its own module: DRF imports it while defining its generic views."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class RecentFirstCursorPagination(pagination.CursorPagination):
    """Stable pages over lists that grow at the top (conversations, messages): the cursor remembers a position,
    so new rows never shift a page a person is reading."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-last_activity_at", "-id")


class NewestMessagesCursorPagination(RecentFirstCursorPagination):
    page_size = 50
    ordering = ("-created_at", "-id")
