"""Contacts from a CSV: columns guessed and mapped, rows matched to existing contacts by any address (and
completed), new contacts created, rows with no valid address refused with the reason; the same through the API,
the console (progress and report) and the management command."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from contacts.models import Contact, ContactIdentity
from inbox.models import ContactLabel
from integrations import imports
from integrations.models import ContactImport
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db

CSV = (
    "Full Name;Mobile;E-mail;Tags;Company\n"
    "Maria Lopez;(312) 555-0142;maria@example.com;VIP, Plumbing;Lopez LLC\n"
    "Ben Carter;+1 312 555 0199;;;\n"
    "Nobody;not a phone;;;\n"
    ";;;;\n"
    "Rosa Diaz;;rosa@example.com;VIP;Diaz & Co\n"
    "Maria again;;MARIA@example.com;;\n"
).encode("cp1252")


def test_rows_are_matched_created_or_refused(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    known = inbound(tenant.account, inbox, "+13125550142", "hi").contact  # Maria wrote in before, no name
    made = imports.import_upload(account=tenant.account, actor=tenant.admin, filename="crm.csv", raw=CSV)
    assert made.headers == ["Full Name", "Mobile", "E-mail", "Tags", "Company"]
    assert made.mapping == {"Full Name": "name", "Mobile": "phone", "E-mail": "email", "Tags": "labels",
                            "Company": "ignore"}  # fmt: skip
    assert made.total_rows == 5  # the empty row does not count
    imports.import_start(contact_import=made, mapping={"Company": "attribute:company"})
    imports.import_run(made)
    made.refresh_from_db()
    assert (made.created_count, made.matched_count, made.refused_count) == (2, 2, 1)
    known.refresh_from_db()
    assert known.name == "Maria Lopez" and known.attributes == {"company": "Lopez LLC"}
    assert set(known.identities.values_list("value", flat=True)) == {"+13125550142", "maria@example.com"}
    assert set(ContactLabel.objects.filter(contact=known).values_list("label__name", flat=True)) == {"VIP", "Plumbing"}
    assert Contact.objects.get(name="Rosa Diaz").attributes == {"company": "Diaz & Co"}
    report = {line["row"]: line for line in made.report}
    assert report[4]["outcome"] == "refused" and "not a phone number" in report[4]["detail"]
    assert report[7]["outcome"] == "matched" and report[7]["detail"].startswith("Maria Lopez")  # by email, any case
    assert ContactIdentity.objects.filter(value="+13125550199").count() == 1 and made.content == ""


def test_a_row_whose_addresses_belong_to_two_contacts_is_refused(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    inbound(tenant.account, inbox, "+13125550142", "hi")
    inbound(tenant.account, inbox, "ana@example.com", "hi", kind="email", channel="email")
    made = imports.import_upload(account=tenant.account, actor=None, filename="x.csv",
                                 raw=b"name,phone,email\nAna,+13125550142,ana@example.com\n")  # fmt: skip
    imports.import_start(contact_import=made, mapping={})
    imports.import_run(made)
    assert made.refused_count == 1 and "merge them first" in made.report[0]["detail"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"", "empty"), (b"a,a\n1,2\n", "same name"), (b"x" * (6 * 1024 * 1024), "larger than")],
)
def test_unusable_files_are_refused(tenant: Tenant, raw: bytes, words: str) -> None:
    with pytest.raises(imports.ServiceError, match=words):
        imports.import_upload(account=tenant.account, actor=None, filename="x.csv", raw=raw)


def test_a_mapping_without_an_address_is_refused(tenant: Tenant) -> None:
    made = imports.import_upload(account=tenant.account, actor=None, filename="x.csv", raw=b"Name,Note\nA,b\n")
    with pytest.raises(imports.ServiceError, match="at least one column to a phone"):
        imports.import_start(contact_import=made, mapping={})


def test_the_api_uploads_maps_and_runs(tenant: Tenant, eager: None, django_capture_on_commit_callbacks: Any) -> None:
    base = f"/api/v1/accounts/{tenant.account.pk}/contact-imports/"
    upload = SimpleUploadedFile("crm.csv", CSV, content_type="text/csv")
    assert tenant.client("agent").post(base, {"file": upload}, format="multipart").status_code == 403
    upload.seek(0)
    created = tenant.client("admin").post(base, {"file": upload}, format="multipart")
    assert created.status_code == 201 and created.json()["preview"][0][0] == "Maria Lopez"
    bad = tenant.client("admin").post(
        f"{base}{created.json()['id']}/start/", {"mapping": {"Nope": "name"}}, format="json"
    )
    assert bad.status_code == 400 and "no column 'Nope'" in bad.json()["error"]["fields"]["mapping"][0]
    with django_capture_on_commit_callbacks(execute=True):
        started = tenant.client("admin").post(f"{base}{created.json()['id']}/start/", {"mapping": {}}, format="json")
    assert started.status_code == 202
    done = tenant.client("admin").get(f"{base}{created.json()['id']}/").json()
    assert done["state"] == "done" and done["created_count"] == 3 and done["refused_count"] == 1


def test_the_console_maps_and_shows_progress_and_the_report(
    tenant: Tenant, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in(tenant.admin)
    page = client.post(f"/a/{tenant.account.pk}/contacts/import/", {"file": SimpleUploadedFile("crm.csv", CSV)})
    assert page.status_code == 302
    mapping_page = client.get(page["Location"]).content.decode()
    assert "Full Name" in mapping_page and "Maria Lopez" in mapping_page and "Import 5 rows" in mapping_page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page["Location"], {"col-0": "name", "col-1": "phone", "col-2": "email", "col-3": "labels"})
    progress = client.get(page["Location"] + "?part=progress").content.decode()
    assert 'value="5"' in progress and "3 new contacts" in progress and "1 refused" in progress
    assert "not a phone number" in progress
    assert signed_in(tenant.agent).get(f"/a/{tenant.account.pk}/contacts/import/").status_code in (302, 403, 404)


def test_the_management_command_prints_progress_and_the_report(tenant: Tenant, tmp_path: Any) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(CSV)
    out = io.StringIO()
    call_command("import_contacts", str(tenant.account.pk), str(path), "--map", "Company=attribute:company", stdout=out)
    text = out.getvalue()
    assert "5 rows" in text and "Created 3, matched 1, refused 1." in text and "row 4: refused" in text
    assert ContactImport.objects.get().state == "done"


@pytest.mark.parametrize("raw", [b"name,phone\rAna,+13125550142\r", b'name,phone\n"Ana\r\nLopez",+13125550143\n'])
def test_old_mac_line_ends_and_quoted_line_breaks_are_read(tenant: Tenant, raw: bytes) -> None:
    made = imports.import_upload(account=tenant.account, actor=None, filename="x.csv", raw=raw)
    imports.import_start(contact_import=made, mapping={})
    imports.import_run(made)
    assert made.created_count == 1


def test_a_file_the_csv_reader_cannot_read_is_refused_by_name(tenant: Tenant) -> None:
    giant = b'name,phone\n"' + b"x" * 140_000 + b'",+13125550142\n'  # one cell over the reader's field limit
    with pytest.raises(imports.ServiceError, match="not a CSV file we can read"):
        imports.import_upload(account=tenant.account, actor=None, filename="x.csv", raw=giant)


def test_the_console_takes_a_csv_larger_than_its_default_body_limit(tenant: Tenant) -> None:
    """The console's default body limit (1 MB) would refuse a 3 MB CSV with 413: the import page has its own."""
    note = "x" * 60
    big = b"name,phone,note\n" + "".join(f"Person {n},+1312555{n % 10000:04d},{note}\n" for n in range(35_000)).encode()
    assert len(big) > 2_900_000  # nearly three times the default limit
    response = signed_in(tenant.admin).post(
        f"/a/{tenant.account.pk}/contacts/import/", {"file": SimpleUploadedFile("big.csv", big)}
    )
    assert response.status_code == 302
    assert ContactImport.objects.get().total_rows == 35_000
