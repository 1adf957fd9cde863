"""A data request as an admin answers it in the console: download everything about a customer (JSON), then erase
them; afterwards no console page, search or API finds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contacts.models import Contact
from tests.browser.conftest import sign_in
from tests.conftest import make_tenant
from tests.factories import InboxFactory, inbound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_export_then_erase_a_customer(asgi_server: str, page: Any) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    message = inbound(tenant.account, support, "+13125550142", "Quixotic drip in the attic", name="Rosa Diaz")
    inbound(tenant.account, support, "+13125550999", "Unrelated question", name="Ben Carter")
    sign_in(page, asgi_server, tenant.admin.email)
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/contacts/{message.contact_id}/")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download everything about Rosa Diaz (JSON)").click()
    path = download.value.path()
    assert download.value.suggested_filename == f"contact-{message.contact_id}.json" and path is not None
    exported = json.loads(Path(path).read_text(encoding="utf-8"))
    assert exported["contact"]["name"] == "Rosa Diaz"
    assert exported["conversations"][0]["messages"][0]["body"] == "Quixotic drip in the attic"

    page.get_by_text("Erase this customer").click()
    page.get_by_label("Type their name, Rosa Diaz, to confirm").fill("Rosa")
    page.get_by_role("button", name="Erase for good").click()
    page.get_by_text("Type the customer's name").first.wait_for()  # refused, with the reason
    page.get_by_label("Type their name, Rosa Diaz, to confirm").fill("Rosa Diaz")
    page.get_by_role("button", name="Erase for good").click()
    page.wait_for_url(f"**/a/{tenant.account.pk}/contacts/")
    page.get_by_role("link", name="Ben Carter").wait_for()
    assert page.get_by_role("link", name="Rosa Diaz").count() == 0
    assert not Contact.objects.filter(pk=message.contact_id).exists()

    page.goto(f"{asgi_server}/a/{tenant.account.pk}/search?q=Quixotic")
    page.get_by_text("No message in your inboxes matches").wait_for()
    response = page.goto(f"{asgi_server}/a/{tenant.account.pk}/contacts/{message.contact_id}/")
    assert response is not None and response.status == 404
    api = page.request.get(f"{asgi_server}/api/v1/accounts/{tenant.account.pk}/contacts/{message.contact_id}/")
    assert api.status == 404
