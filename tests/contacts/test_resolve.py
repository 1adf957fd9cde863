"""Resolving addresses to contacts: normalization, cross-channel identity, and concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.errors import ServiceError
from contacts.models import Contact, ContactIdentity
from contacts.services import contact_for_mail, contact_resolve
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def test_one_person_across_formats_and_whatsapp(tenant: Tenant) -> None:
    account = tenant.account
    a = contact_resolve(account=account, kind="phone", raw_address="(555) 123-4567", name="Maria")
    b = contact_resolve(account=account, kind="phone", raw_address="+1 555 123 4567")
    c = contact_resolve(account=account, kind="whatsapp", raw_address="whatsapp:+15551234567", name="Maria G")
    assert a.pk == b.pk == c.pk
    assert Contact.objects.filter(account=account).count() == 1
    assert sorted(ContactIdentity.objects.filter(contact=a).values_list("kind", "value")) == [
        ("phone", "+15551234567"),
        ("whatsapp", "+15551234567"),
    ]
    assert Contact.objects.get(pk=a.pk).name == "Maria"  # a provider's profile name never overwrites a name


def test_default_region_reads_local_numbers(tenant: Tenant) -> None:
    tenant.account.default_region = "GB"
    tenant.account.save()
    contact = contact_resolve(account=tenant.account, kind="phone", raw_address="020 7946 0958")
    assert contact.identities.get().value == "+442079460958"


def test_emails_fold_the_domain_only(tenant: Tenant) -> None:
    a = contact_resolve(account=tenant.account, kind="email", raw_address=" Dana.Smith@Example.COM ")
    b = contact_resolve(account=tenant.account, kind="email", raw_address="Dana.Smith@example.com")
    assert a.pk == b.pk
    assert a.identities.get().value == "Dana.Smith@example.com"


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("phone", "555-1234", "'555-1234' is not a complete phone number; include the area code"),
        ("phone", "call me maybe", "'call me maybe' is not a phone number"),
        ("email", "dana@", "'dana@' is not a valid email address"),
        ("fax", "123", "Unknown identity kind 'fax'"),
    ],
)
def test_bad_addresses_are_refused_with_the_reason(tenant: Tenant, kind: str, raw: str, message: str) -> None:
    with pytest.raises(ServiceError) as error:
        contact_resolve(account=tenant.account, kind=kind, raw_address=raw)
    assert error.value.message.startswith(message)
    assert Contact.objects.count() == 0


def test_mail_senders_are_read_as_email_allows_with_a_note_when_unusual(tenant: Tenant) -> None:
    """One reading of the sender gives both the identity and the note kept with the message."""
    plain, note = contact_for_mail(account=tenant.account, raw_address="Ana@Example.COM", name="Ana")
    assert note == "" and plain.identities.get().value == "Ana@example.com"
    again, _ = contact_for_mail(account=tenant.account, raw_address="ana@example.com")
    assert again.pk != plain.pk  # the local part is the sender's own, as contact_resolve reads it
    quoted, note = contact_for_mail(account=tenant.account, raw_address='"Big Bug bb"@bug.example.com')
    assert quoted.identities.get().value == '"Big Bug bb"@bug.example.com'
    assert note.startswith("The sender's address is valid for email but unusual:")
    with pytest.raises(ServiceError):
        contact_for_mail(account=tenant.account, raw_address="not an address")
    assert contact_resolve(account=tenant.account, kind="email", raw_address="ana@EXAMPLE.com").pk == again.pk


def test_accounts_do_not_share_contacts(tenant: Tenant, other_tenant: Tenant) -> None:
    a = contact_resolve(account=tenant.account, kind="phone", raw_address="+15551234567")
    b = contact_resolve(account=other_tenant.account, kind="phone", raw_address="+15551234567")
    assert a.pk != b.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_resolves_of_a_new_number_make_one_contact(tenant: Tenant) -> None:
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def resolve(raw: str, kind: str) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(contact_resolve(account=tenant.account, kind=kind, raw_address=raw).pk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=resolve, args=args)
        for args in [
            ("+15559876543", "phone"),
            ("(555) 987-6543", "phone"),
            ("+15559876543", "whatsapp"),
            ("555.987.6543", "phone"),
        ]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(set(results)) == 1
    assert Contact.objects.filter(account=tenant.account).count() == 1
    assert ContactIdentity.objects.filter(account=tenant.account).count() == 2
