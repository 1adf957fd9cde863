"""The OpenAPI schema builds cleanly and the Swagger UI is served from our own static files."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client


def test_schema_generates_without_warnings(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    text = out.read_text()
    assert "/api/v1/accounts/{account_id}/members" in text
    assert "tokenAuth" in text


@pytest.mark.django_db
def test_docs_page_renders_offline() -> None:
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()  # everything from our static files: works without internet
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"Continuum API" in schema.content
