"""The tenancy API: me, account, members, API tokens, audit log — through real HTTP handling and Postgres."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.http import HttpRequest
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditLog, Membership, Role, User
from tests.conftest import RLS, Tenant, make_tenant
from tests.factories import TEST_PASSWORD, MembershipFactory, UserFactory, api_token_for

pytestmark = pytest.mark.django_db


def url(tenant: Tenant, suffix: str = "") -> str:
    return f"/api/v1/accounts/{tenant.account.pk}{suffix}"


class TestMe:
    def test_session_user_sees_all_accounts(self, tenant: Tenant, other_tenant: Tenant) -> None:
        MembershipFactory(account=other_tenant.account, user=tenant.agent, role=Role.ADMIN)
        client = APIClient()
        client.force_login(tenant.agent)
        body = client.get("/api/v1/me").json()
        assert body["email"] == tenant.agent.email
        assert {(m["account"]["id"], m["role"]) for m in body["memberships"]} == {
            (tenant.account.pk, "agent"),
            (other_tenant.account.pk, "admin"),
        }

    def test_token_sees_only_its_own_account(self, tenant: Tenant, other_tenant: Tenant) -> None:
        MembershipFactory(account=other_tenant.account, user=tenant.agent)
        body = tenant.client("agent").get("/api/v1/me").json()
        assert [m["account"]["id"] for m in body["memberships"]] == [tenant.account.pk]

    def test_anonymous_is_refused_with_the_error_shape(self) -> None:
        response = APIClient().get("/api/v1/me")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        assert response.json()["error"]["code"] == "not_authenticated"

    def test_bad_token_is_refused(self, tenant: Tenant) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token ctm_not-a-real-token")
        response = client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Invalid or revoked API token."

    def test_token_use_is_noted(self, tenant: Tenant) -> None:
        tenant.client().get("/api/v1/me")
        assert ApiToken.objects.get(user=tenant.admin).last_used_at is not None


class TestAccount:
    def test_member_reads_and_admin_updates(self, tenant: Tenant) -> None:
        assert tenant.client("agent").get(url(tenant)).json()["name"] == "Tenant A"
        response = tenant.client("admin").patch(url(tenant), {"name": "Acme", "default_region": "gb"}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["default_region"] == "GB"

    def test_agent_cannot_update(self, tenant: Tenant) -> None:
        response = tenant.client("agent").patch(url(tenant), {"name": "Mine now"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["message"] == "Only account admins can do this."

    def test_invalid_values_name_the_field(self, tenant: Tenant) -> None:
        response = tenant.client().patch(url(tenant), {"timezone": "Mars/Olympus"}, format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["fields"] == {"timezone": ["'Mars/Olympus' is not an IANA time zone such as Europe/Berlin."]}
        assert error["message"].startswith("timezone: ")


class TestMembers:
    def test_list_query_count_stays_flat(self, tenant: Tenant, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
        client = tenant.client("agent")
        # token lookup, token touch is skipped (just used), membership, count, page
        client.get(url(tenant, "/members"))
        with django_assert_num_queries(4 + RLS):
            first = client.get(url(tenant, "/members"))
        for _ in range(10):
            MembershipFactory(account=tenant.account)
        with django_assert_num_queries(4 + RLS):
            second = client.get(url(tenant, "/members"))
        assert first.json()["count"] == 2
        assert second.json()["count"] == 12
        assert second.json()["results"][0]["user"]["email"] == tenant.admin.email

    def test_admin_adds_an_existing_user_without_invite(
        self, tenant: Tenant, django_capture_on_commit_callbacks
    ) -> None:  # type: ignore[no-untyped-def]
        person = UserFactory(email="Known@Example.com")
        with django_capture_on_commit_callbacks(execute=True):
            response = tenant.client().post(
                url(tenant, "/members"), {"email": "known@example.com", "role": "agent"}, format="json"
            )
        assert response.status_code == 201, response.json()
        assert response.json()["invited"] is False
        assert response.json()["member"]["user"]["id"] == person.pk
        assert mail.outbox == []

    def test_invite_sends_a_working_set_password_link_after_commit(
        self,
        tenant: Tenant,
        django_capture_on_commit_callbacks,
        client,  # type: ignore[no-untyped-def]
    ) -> None:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = tenant.client().post(
                url(tenant, "/members"), {"email": "new.hire@example.com", "name": "New Hire"}, format="json"
            )
            assert mail.outbox == []  # nothing leaves the process before commit
        for callback in callbacks:
            callback()
        assert response.status_code == 201
        assert response.json()["invited"] is True
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["new.hire@example.com"]
        link = re.search(r"https?://\S+", mail.outbox[0].body)
        assert link is not None
        path = link.group(0).split("://", 1)[1].split("/", 1)[1]
        page = client.get("/" + path, follow=True)
        assert page.status_code == 200
        form_url = page.redirect_chain[-1][0]
        done = client.post(
            form_url, {"new_password1": "a-long-new-password-1", "new_password2": "a-long-new-password-1"}
        )
        assert done.status_code == 302
        assert client.login(request=HttpRequest(), username="NEW.HIRE@example.com", password="a-long-new-password-1")

    def test_adding_twice_is_a_conflict(self, tenant: Tenant) -> None:
        response = tenant.client().post(url(tenant, "/members"), {"email": tenant.agent.email}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["fields"] == {
            "email": [f"{tenant.agent.email} is already a member of this account."]
        }

    def test_bad_email_names_the_field(self, tenant: Tenant) -> None:
        response = tenant.client().post(url(tenant, "/members"), {"email": "not-an-email"}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"email": ["Enter a valid email address."]}

    def test_agents_cannot_manage_members(self, tenant: Tenant) -> None:
        client = tenant.client("agent")
        assert client.post(url(tenant, "/members"), {"email": "x@example.com"}, format="json").status_code == 403
        member = url(tenant, f"/members/{tenant.admin_membership.pk}")
        assert client.patch(member, {"role": "agent"}, format="json").status_code == 403
        assert client.delete(member).status_code == 403

    def test_role_change_is_audited(self, tenant: Tenant) -> None:
        response = tenant.client().patch(
            url(tenant, f"/members/{tenant.agent_membership.pk}"), {"role": "admin"}, format="json"
        )
        assert response.status_code == 200
        assert Membership.objects.get(pk=tenant.agent_membership.pk).role == "admin"
        entry = AuditLog.objects.get(account=tenant.account, action="member.role_changed")
        assert entry.actor == tenant.admin
        assert entry.data == {"email": tenant.agent.email, "from": "agent", "to": "admin"}

    def test_the_last_admin_cannot_leave_or_be_demoted(self, tenant: Tenant) -> None:
        member = url(tenant, f"/members/{tenant.admin_membership.pk}")
        demote = tenant.client().patch(member, {"role": "agent"}, format="json")
        assert demote.status_code == 409
        assert "only admin" in demote.json()["error"]["message"]
        assert tenant.client().delete(member).status_code == 409
        assert Membership.objects.get(pk=tenant.admin_membership.pk).role == "admin"

    def test_removing_a_member_revokes_their_tokens(self, tenant: Tenant) -> None:
        response = tenant.client().delete(url(tenant, f"/members/{tenant.agent_membership.pk}"))
        assert response.status_code == 204
        assert not Membership.objects.filter(pk=tenant.agent_membership.pk).exists()
        assert tenant.client("agent").get("/api/v1/me").status_code == 401


class TestApiTokens:
    def test_created_token_is_shown_once_and_works(self, tenant: Tenant) -> None:
        created = tenant.client("agent").post(url(tenant, "/api-tokens"), {"name": "zapier"}, format="json")
        assert created.status_code == 201
        plaintext = created.json()["token"]
        assert plaintext.startswith("ctm_") and len(plaintext) > 40
        assert not ApiToken.objects.filter(digest=plaintext).exists()
        listed = tenant.client("agent").get(url(tenant, "/api-tokens")).json()["results"]
        assert {t["name"] for t in listed} == {"test", "zapier"}
        assert all("token" not in t for t in listed)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
        assert client.get("/api/v1/me").json()["email"] == tenant.agent.email

    def test_agents_see_their_own_tokens_and_admins_see_all(self, tenant: Tenant) -> None:
        agent_view = tenant.client("agent").get(url(tenant, "/api-tokens")).json()["results"]
        admin_view = tenant.client("admin").get(url(tenant, "/api-tokens")).json()["results"]
        assert {t["user"]["id"] for t in agent_view} == {tenant.agent.pk}
        assert {t["user"]["id"] for t in admin_view} == {tenant.agent.pk, tenant.admin.pk}

    def test_revoked_token_stops_working(self, tenant: Tenant) -> None:
        token = ApiToken.objects.get(user=tenant.agent)
        assert tenant.client("admin").delete(url(tenant, f"/api-tokens/{token.pk}")).status_code == 204
        assert tenant.client("agent").get("/api/v1/me").status_code == 401
        assert AuditLog.objects.filter(action="api_token.revoked", target_id=str(token.pk)).exists()

    def test_agent_cannot_revoke_someone_elses_token(self, tenant: Tenant) -> None:
        admin_token = ApiToken.objects.get(user=tenant.admin)
        assert tenant.client("agent").delete(url(tenant, f"/api-tokens/{admin_token.pk}")).status_code == 404

    def test_a_token_only_works_in_its_own_account(self, tenant: Tenant) -> None:
        both = make_tenant("Tenant C")
        MembershipFactory(account=both.account, user=tenant.admin, role=Role.ADMIN)
        token_a = api_token_for(tenant.admin_membership)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_a}")
        assert client.get(url(both, "/members")).status_code == 404
        session = APIClient()
        session.force_login(tenant.admin)
        assert session.get(url(both, "/members")).status_code == 200  # the person may; that token may not

    def test_empty_name_is_refused(self, tenant: Tenant) -> None:
        response = tenant.client().post(url(tenant, "/api-tokens"), {"name": "  "}, format="json")
        assert response.status_code == 400
        assert "name" in response.json()["error"]["fields"]


class TestAuditLog:
    def test_admins_read_it_agents_do_not(self, tenant: Tenant) -> None:
        tenant.client().post(url(tenant, "/members"), {"email": "log@example.com"}, format="json")
        entries = tenant.client().get(url(tenant, "/audit-log")).json()["results"]
        assert entries[0]["action"] == "member.added"
        assert entries[0]["actor"]["email"] == tenant.admin.email
        assert tenant.client("agent").get(url(tenant, "/audit-log")).status_code == 403


def test_session_auth_enforces_csrf(tenant: Tenant) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(request=HttpRequest(), username=tenant.admin.email, password=TEST_PASSWORD)
    response = client.post(url(tenant, "/api-tokens"), {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_email_login_is_case_insensitive(tenant: Tenant) -> None:
    assert User.objects.get_by_natural_key(tenant.admin.email.upper()) == tenant.admin
