"""The tenant wall: every API route, walked with another account's ids, answers 404 and never data.

Routes are discovered from the URL configuration, so a new endpoint joins this test by existing. A new
detail route must also say here how to find one of the other account's objects of its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditLog
from ai_agent.models import KnowledgeSnippet, Playbook
from channels_app.models import ChannelEndpoint, InboundEvent, MessageTemplate
from inbox.attachments import IncomingFile
from inbox.models import Attachment, CannedResponse, Label, Notification, SavedFilter
from inbox.services import inbox_member_add
from integrations.models import ContactImport, WebhookDelivery, WebhookSubscription
from memory.services import fact_definition_create, fact_set
from tests.conftest import Tenant, make_tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


@dataclass
class World:
    """A tenant with one of everything the API can name."""

    tenant: Tenant
    inbox: Any
    message: Any
    attachment: Any
    fact: Any
    definition: Any
    snippet: Any


@pytest.fixture
def other_world(other_tenant: Tenant, settings: Any, tmp_path: Any) -> World:
    settings.MEDIA_ROOT = tmp_path
    inbox = InboxFactory(account=other_tenant.account, name="Their inbox")
    inbox_member_add(account=other_tenant.account, actor=None, inbox=inbox, user=other_tenant.agent)
    message = inbound(
        other_tenant.account,
        inbox,
        "+15550001111",
        "private",
        attachments=[IncomingFile.from_bytes("a.txt", b"x", "text/plain")],
    )
    definition = fact_definition_create(
        account=other_tenant.account, actor=other_tenant.admin, inbox=inbox, key="policy_number", label="Policy number"
    )
    fact = fact_set(
        account=other_tenant.account,
        actor=other_tenant.agent,
        contact=message.contact,
        inbox=inbox,
        key="policy_number",
        value="PN-1",
        conversation=message.conversation,
    )
    snippet = KnowledgeSnippet.objects.create(
        account=other_tenant.account, inbox=inbox, question="Hours?", answer="9-5"
    )
    return World(other_tenant, inbox, message, Attachment.objects.get(message=message), fact, definition, snippet)


# For each detail route (by basename): the other tenant's object its `pk` names.
FOREIGN_OBJECT: dict[str, Callable[[World], Any]] = {
    "member": lambda w: w.tenant.agent_membership.pk,
    "api-token": lambda w: ApiToken.objects.filter(account=w.tenant.account).first().pk,  # type: ignore[union-attr]
    "contact": lambda w: w.message.contact_id,
    "inbox": lambda w: w.inbox.pk,
    "conversation": lambda w: w.message.conversation_id,
    "attachment": lambda w: w.attachment.pk,
    "fact": lambda w: w.fact.pk,
    "fact-definition": lambda w: w.definition.pk,
    "knowledge": lambda w: w.snippet.pk,
    "inbound-event": lambda w: (
        InboundEvent.objects.create(
            account=w.tenant.account,
            endpoint=ChannelEndpoint.objects.create(
                account=w.tenant.account, inbox=w.inbox, kind="sms", address="+1555"
            ),
            kind="messaging",
            idempotency_key="k",
            payload={},
            status="failed",
        ).pk
    ),
    "channel-endpoint": lambda w: (
        ChannelEndpoint.objects.create(account=w.tenant.account, inbox=w.inbox, kind="sms", address="+15550000000").pk
    ),
    "whatsapp-template": lambda w: (
        MessageTemplate.objects.create(
            account=w.tenant.account,
            endpoint=ChannelEndpoint.objects.create(
                account=w.tenant.account, inbox=w.inbox, kind="whatsapp", address="+15550000009"
            ),
            content_sid="HX" + "9" * 32,
            name="theirs",
            body="Hi {{1}}",
            status="approved",
        ).pk
    ),
    "merge-record": lambda w: (
        AuditLog.objects.create(
            account=w.tenant.account, action="contact.merged", data={"kept": w.message.contact_id, "dropped": 0}
        ).pk
    ),
    "notification": lambda w: (
        Notification.objects.create(account=w.tenant.account, user=w.tenant.admin, kind="mention", text="x").pk
    ),
    "label": lambda w: Label.objects.create(account=w.tenant.account, name="VIP").pk,
    "canned": lambda w: CannedResponse.objects.create(account=w.tenant.account, shortcut="hi", body="Hello").pk,
    "saved-view": lambda w: SavedFilter.objects.create(account=w.tenant.account, user=w.tenant.admin, name="x").pk,
    "webhook": lambda w: _webhook(w).pk,
    "contact-import": lambda w: ContactImport.objects.create(account=w.tenant.account, content="phone\n1\n").pk,
    "playbook": lambda w: (
        Playbook.objects.create(
            account=w.tenant.account, inbox=w.inbox, name="p", trigger="waiting", after_minutes=60, action="resolve"
        ).pk
    ),
}
# Other URL keywords, wherever they appear.
FOREIGN_KWARG: dict[str, Callable[[World], Any]] = {
    "contact_id": lambda w: w.message.contact_id,
    "identity_id": lambda w: w.message.contact.identities.first().pk,
    "user_id": lambda w: w.tenant.agent.pk,
    "conversation_id": lambda w: w.message.conversation_id,
    "inbox_id": lambda w: w.inbox.pk,
    "message_id": lambda w: w.message.pk,
    "delivery_id": lambda w: (
        WebhookDelivery.objects.create(
            account=w.tenant.account, subscription=_webhook(w), event_id="evt_x", event="ping"
        ).pk
    ),
}


def _webhook(w: World) -> WebhookSubscription:
    return WebhookSubscription.objects.get_or_create(
        account=w.tenant.account, url="https://example.com/hook", defaults={"events": ["message.created"]}
    )[0]


# Routes outside /api/v1/accounts/<id>/ that anyone signed in may call, or anyone at all.
NOT_TENANT_SCOPED = {"me"}


@dataclass(frozen=True)
class Route:
    name: str
    kwargs: frozenset[str]
    methods: tuple[str, ...]

    @property
    def basename(self) -> str:
        keys = [k for k in FOREIGN_OBJECT if self.name == k or self.name.startswith(k + "-")]
        return max(keys, key=len) if keys else self.name

    def url(self, account_id: int, world: World | None = None) -> str:
        """This route for `account_id`, naming `world`'s objects (or id 1 for each when there is none)."""
        kwargs: dict[str, Any] = {"account_id": account_id}
        for name in self.kwargs - {"account_id"}:
            if world is None:
                kwargs[name] = 1
            elif name == "pk":
                assert self.basename in FOREIGN_OBJECT, f"add {self.basename!r} to FOREIGN_OBJECT in {__file__}"
                kwargs[name] = FOREIGN_OBJECT[self.basename](world)
            else:
                assert name in FOREIGN_KWARG, f"add {name!r} to FOREIGN_KWARG in {__file__}"
                kwargs[name] = FOREIGN_KWARG[name](world)
        return reverse(self.name, kwargs=kwargs)


def _methods(callback: Any) -> tuple[str, ...]:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: its method -> action map
        return tuple(sorted(m for m in actions if m not in {"head", "options"}))
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    names = getattr(view_class, "http_method_names", [])
    return tuple(sorted(m for m in names if m not in {"head", "options", "trace"} and hasattr(view_class, m)))


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        regex = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, regex)
        elif isinstance(pattern, URLPattern):
            found.append((regex, pattern))
    return found


def api_routes() -> list[Route]:
    routes = []
    for regex, pattern in _walk(get_resolver().url_patterns):
        if not regex.startswith("api/v1/") or not pattern.name:
            continue
        kwargs = frozenset(pattern.pattern.regex.groupindex)
        routes.append(Route(pattern.name, kwargs, _methods(pattern.callback)))
    return routes


TENANT_ROUTES = [r for r in api_routes() if "account_id" in r.kwargs]


def _call(client: APIClient, method: str, url: str) -> Any:
    return (
        getattr(client, method)(url, {}, format="json")
        if method in {"post", "put", "patch"}
        else getattr(client, method)(url)
    )


def test_every_api_route_is_either_tenant_scoped_or_known() -> None:
    names = {r.name for r in api_routes()}
    assert names - {r.name for r in TENANT_ROUTES} == NOT_TENANT_SCOPED
    assert len(TENANT_ROUTES) >= 6  # the walk really found the routes


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=lambda r: r.name)
def test_another_accounts_url_is_404_with_token_and_session(route: Route, tenant: Tenant, other_world: World) -> None:
    assert route.methods, f"found no HTTP methods for {route.name}"
    session = APIClient()
    session.force_login(tenant.admin)
    url = route.url(other_world.tenant.account.pk, other_world)
    for client in (tenant.client("admin"), session):
        for method in route.methods:
            response = _call(client, method, url)
            assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
            assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize("route", [r for r in TENANT_ROUTES if len(r.kwargs) > 1], ids=lambda r: r.name)
def test_another_accounts_object_under_my_account_is_404(route: Route, tenant: Tenant, other_world: World) -> None:
    url = route.url(tenant.account.pk, other_world)
    for method in route.methods:
        response = _call(tenant.client("admin"), method, url)
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"


@pytest.mark.parametrize("route", api_routes(), ids=lambda r: r.name)
def test_every_route_requires_authentication(route: Route, tenant: Tenant) -> None:
    url = route.url(tenant.account.pk) if "account_id" in route.kwargs else reverse(route.name)
    for method in route.methods:
        response = _call(APIClient(), method, url)
        assert response.status_code == 401, f"{method.upper()} {url} -> {response.status_code}"


def test_nonexistent_account_looks_like_a_foreign_one(tenant: Tenant) -> None:
    missing = tenant.client().get("/api/v1/accounts/999999/members")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_unknown_api_path_answers_json(tenant: Tenant) -> None:
    response = tenant.client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_a_webchat_session_of_one_account_opens_nothing_in_another() -> None:
    """The widget's routes are tenant-scoped by their widget token: a visitor's session (REST and websocket)
    only works on the widget that issued it."""
    import asyncio
    import json

    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from channels_app import webchat
    from channels_app.models import ChannelEndpoint
    from config.asgi import application
    from tests.factories import InboxFactory

    widgets = []
    for name in ("A", "B"):
        tenant = make_tenant(f"Webchat {name}")
        widgets.append(
            ChannelEndpoint.objects.create(
                account=tenant.account,
                inbox=InboxFactory(account=tenant.account, name="Support"),
                kind="webchat",
                provider="widget",
                address=webchat.new_widget_token(),
            )
        )
    mine, theirs = widgets
    session = Client().post(f"/webchat/{theirs.address}/session", "{}", "application/json").json()["session"]
    Client().post(
        f"/webchat/{theirs.address}/messages",
        json.dumps({"body": "B's private message"}),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {session}",
    )
    reading = Client().get(f"/webchat/{mine.address}/messages", HTTP_AUTHORIZATION=f"Bearer {session}")
    writing = Client().post(
        f"/webchat/{mine.address}/messages",
        json.dumps({"body": "into A?"}),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {session}",
    )
    assert (reading.status_code, writing.status_code) == (401, 401)
    resumed = Client().post(f"/webchat/{mine.address}/session", json.dumps({"session": session}), "application/json")
    visitor_b = webchat.visitor_from_token(theirs, session)
    assert visitor_b is not None  # B's session is good on B's widget ...
    # ... and on A's it is a stranger's token: a new visitor with an empty history.
    assert resumed.json()["messages"] == [] and resumed.json()["visitor_id"] != visitor_b.visitor_id

    async def connect() -> tuple[bool, int | None]:
        communicator = WebsocketCommunicator(application, f"/ws/webchat/{mine.address}/?session={session}")
        connected, code = await communicator.connect(timeout=5)
        return connected, code

    assert asyncio.run(connect()) == (False, 4401)
