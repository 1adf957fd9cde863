"""A CSV import as an admin does it in Chromium: upload, check the guessed columns, start; a real worker imports
while the page's progress bar follows; the report says which rows matched an existing customer and which were
refused, and why."""

from __future__ import annotations

from typing import Any

import pytest

from contacts.models import Contact
from tests.browser.conftest import sign_in
from tests.conftest import make_tenant
from tests.factories import InboxFactory, inbound
from tests.integrations.test_imports import CSV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.integration
def test_upload_map_and_follow_an_import(
    celery_worker_process: Any, asgi_server: str, page: Any, tmp_path: Any
) -> None:
    tenant = make_tenant("Acme")
    inbound(tenant.account, InboxFactory(account=tenant.account), "+13125550142", "hi")  # Maria, already a customer
    path = tmp_path / "crm.csv"
    path.write_bytes(CSV)
    sign_in(page, asgi_server, tenant.admin.email)
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/contacts/")
    page.get_by_role("link", name="Import from a CSV").click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and map the columns").click()
    assert page.get_by_label("Full Name").input_value() == "name"  # guessed from the header
    assert page.get_by_label("Mobile").input_value() == "phone"
    page.get_by_label("Company").select_option(label="Ignore")
    page.get_by_role("button", name="Import 5 rows").click()
    page.locator("#import-progress progress").wait_for()
    page.get_by_text("Done").wait_for()
    counts = page.locator(".import-counts").inner_text()
    # Maria's row and her "again" row (her email in capitals) complete the customer she already was
    assert "2 new contacts" in counts and "2 matched to existing contacts" in counts and "1 refused" in counts
    report = page.locator("table.report")
    assert "not a phone number" in report.locator("tr.outcome-refused").inner_text()
    assert report.locator("tr.outcome-matched").count() == 2
    assert "Maria Lopez" in report.locator("tr.outcome-matched").first.inner_text()
    assert Contact.objects.filter(account=tenant.account, merged_into=None).count() == 3
