"""Data requests: a contact's whole history and memory as JSON, erasing a contact so that no API, console page or
search finds them again (files, provider posts, webhook deliveries and audit data included), the contacts CSV,
and the retention that deletes old conversations."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import AuditLog
from channels_app.models import ChannelEndpoint, InboundEvent
from contacts.models import Contact, ContactIdentity
from contacts.services import contact_merge, contact_resolve
from inbox.attachments import IncomingFile
from inbox.models import Attachment, Conversation, Message
from inbox.services import send_message
from integrations import privacy
from integrations.models import WebhookDelivery, WebhookSubscription
from memory.models import Fact
from memory.services import fact_definition_create, fact_record_ai
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(tenant: Tenant) -> dict[str, Any]:
    inbox = InboxFactory(account=tenant.account, name="Support")
    first = inbound(
        tenant.account,
        inbox,
        "+13125550142",
        "Zanzibarian leak under the sink",
        name="Maria Lopez",
        attachments=[IncomingFile.from_bytes("leak.jpg", b"\xff\xd8" + b"0" * 100, "image/jpeg")],
        provider_id="SM" + "1" * 32,
    )
    chat = contact_resolve(account=tenant.account, kind="webchat", raw_address="visitor-9", name="Maria")
    contact_merge(account=tenant.account, actor=tenant.admin, keep=first.contact, drop=chat)
    send_message(
        account=tenant.account, conversation=first.conversation, body="We come at 11", sender_user=tenant.agent
    )
    fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=inbox, key="address", label="Address")
    fact_record_ai(
        account=tenant.account,
        inbox=inbox,
        contact=first.contact,
        conversation=first.conversation,
        key="address",
        value="2450 N Clark St",
        confidence=0.9,
        engine="test",
        source_message=first,
    )
    other = inbound(tenant.account, inbox, "+13125550999", "Someone else entirely", name="Ben Carter")
    endpoint = ChannelEndpoint.objects.create(account=tenant.account, inbox=inbox, kind="sms", address="+13125550100")
    InboundEvent.objects.create(
        account=tenant.account,
        endpoint=endpoint,
        kind="messaging",
        idempotency_key="SM" + "1" * 32,
        payload={"From": "+13125550142", "Body": "Zanzibarian"},
    )
    InboundEvent.objects.create(
        account=tenant.account,
        endpoint=endpoint,
        kind="messaging",
        idempotency_key="SMo",
        payload={"From": "+13125550999", "Body": "Someone else"},
    )
    hook = WebhookSubscription.objects.create(
        account=tenant.account, url="https://example.com/h", events=["message.created"]
    )
    WebhookDelivery.objects.create(
        account=tenant.account,
        subscription=hook,
        event_id="e1",
        event="message.created",
        payload={"data": {"message": {"contact_id": first.contact_id, "body": "Zanzibarian"}}},
    )
    WebhookDelivery.objects.create(
        account=tenant.account,
        subscription=hook,
        event_id="e2",
        event="message.created",
        payload={"data": {"message": {"contact_id": other.contact_id, "body": "else"}}},
    )
    return {"inbox": inbox, "maria": first.contact, "conversation": first.conversation, "ben": other.contact}


def test_an_export_holds_the_whole_history_and_memory(tenant: Tenant, story: dict[str, Any]) -> None:
    maria = story["maria"]
    url = f"/api/v1/accounts/{tenant.account.pk}/data/contacts/{maria.pk}/export/"
    assert tenant.client("agent").get(url).status_code == 403
    data = tenant.client("admin").get(url).json()
    assert data["contact"]["name"] == "Maria Lopez" and data["format"] == "continuum.contact-export/1"
    assert {i["value"] for i in data["identities"]} == {"+13125550142", "visitor-9"}
    bodies = [m["body"] for c in data["conversations"] for m in c["messages"]]
    assert "Zanzibarian leak under the sink" in bodies and "We come at 11" in bodies
    assert data["conversations"][0]["messages"][0]["attachments"][0]["filename"] == "leak.jpg"
    assert [f["value"] for f in data["memory"]["facts"]] == ["2450 N Clark St"]
    assert "Someone else entirely" not in json.dumps(data)  # nobody else's data
    assert AuditLog.objects.filter(action="contact.exported", actor=tenant.admin).exists()


def test_erasing_leaves_nothing_to_find(tenant: Tenant, story: dict[str, Any], settings: Any) -> None:
    maria, ben = story["maria"], story["ben"]
    stored = Attachment.objects.get(message__contact=maria)
    assert default_storage.exists(stored.file.name)
    base = f"/api/v1/accounts/{tenant.account.pk}"
    admin = tenant.client("admin")
    refused = admin.post(f"{base}/data/contacts/{maria.pk}/erase/", {"confirm": "maria"}, format="json")
    assert refused.status_code == 400 and "confirm" in refused.json()["error"]["fields"]
    assert (
        tenant.client("agent").post(f"{base}/data/contacts/{maria.pk}/erase/", {"confirm": "Maria Lopez"}).status_code
        == 403
    )
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        erased = admin.post(f"{base}/data/contacts/{maria.pk}/erase/", {"confirm": "Maria Lopez"}, format="json")
    assert erased.status_code == 200, erased.content
    counts = erased.json()["erased"]
    assert counts["contacts"] == 2 and counts["messages"] >= 2 and counts["attachments"] == 1
    assert counts["provider_events"] == 1 and counts["webhook_deliveries"] == 1

    assert not default_storage.exists(stored.file.name)
    assert not Contact.objects.filter(name__icontains="maria").exists()
    assert not ContactIdentity.objects.filter(value__in=["+13125550142", "visitor-9"]).exists()
    assert not Message.objects.filter(body__icontains="Zanzibarian").exists()
    assert not Fact.objects.filter(value="2450 N Clark St").exists()
    assert not InboundEvent.objects.filter(payload__Body="Zanzibarian").exists()
    assert not WebhookDelivery.objects.filter(event_id="e1").exists()
    assert "Zanzibarian" not in json.dumps(list(AuditLog.objects.values_list("data", flat=True)))
    assert AuditLog.objects.get(action="contact.erased").actor == tenant.admin
    # nobody else lost anything
    assert Contact.objects.filter(pk=ben.pk).exists() and InboundEvent.objects.filter(idempotency_key="SMo").exists()
    assert WebhookDelivery.objects.filter(event_id="e2").exists()

    # no API route, console page or search finds her
    assert admin.get(f"{base}/contacts/{maria.pk}/").status_code == 404
    assert admin.get(f"{base}/conversations/{story['conversation'].pk}/").status_code == 404
    assert admin.get(f"{base}/search/", {"q": "Zanzibarian"}).json()["messages"] == []
    assert admin.get(f"{base}/contacts/", {"q": "Maria"}).json()["results"] == []
    console = signed_in(tenant.admin)
    assert console.get(f"/a/{tenant.account.pk}/contacts/{maria.pk}/").status_code == 404
    found = console.get(f"/a/{tenant.account.pk}/search", {"q": "Zanzibarian"}).content.decode()
    assert "No message in your inboxes matches" in found and "leak under the sink" not in found
    assert b"Maria" not in console.get(f"/a/{tenant.account.pk}/contacts/").content


def test_the_contacts_csv_has_everyone_and_quotes_formulas(tenant: Tenant, story: dict[str, Any]) -> None:
    inbound(tenant.account, story["inbox"], "+13125550777", "hi", name="=HYPERLINK(1)")
    response = tenant.client("admin").get(f"/api/v1/accounts/{tenant.account.pk}/data/contacts.csv/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {r["name"]: r for r in rows}
    assert by_name["Maria Lopez"]["phones"] == "+13125550142" and "'=HYPERLINK(1)" in by_name
    assert len(rows) == 3  # the merged webchat shell is not a separate customer


def test_retention_deletes_old_conversations_only(tenant: Tenant, story: dict[str, Any]) -> None:
    old = story["conversation"]
    Conversation.objects.filter(pk=old.pk).update(last_activity_at=timezone.now() - timedelta(days=400))
    assert privacy.retention_apply(account=tenant.account) == 0  # no retention set: keep forever
    response = tenant.client("admin").patch(
        f"/api/v1/accounts/{tenant.account.pk}", {"retention_months": 12}, format="json"
    )
    assert response.status_code == 200 and response.json()["retention_months"] == 12
    assert AuditLog.objects.get(action="account.updated").data == {"changed": {"retention_months": [None, 12]}}
    bad = tenant.client("admin").patch(f"/api/v1/accounts/{tenant.account.pk}", {"retention_months": 0}, format="json")
    assert bad.status_code == 400 and "retention_months" in bad.json()["error"]["fields"]
    tenant.account.refresh_from_db()
    assert privacy.retention_apply_all() == {tenant.account.pk: 1}
    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert Conversation.objects.filter(contact=story["ben"]).exists()  # recent: kept
    assert Contact.objects.filter(pk=story["maria"].pk).exists()  # the customer and their facts stay
    assert AuditLog.objects.filter(action="account.retention_applied").exists()
