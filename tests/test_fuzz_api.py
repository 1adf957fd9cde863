"""Fuzzing the REST API from its own OpenAPI schema (schemathesis cases, in process through the WSGI app): every
operation, called with an admin's token on the admin's own account, gets generated paths, queries and bodies and
must never answer with a server error. Bounded examples so it fits in the suite; DELETE on members and API
tokens is left out (a generated id could remove the very admin the run signs in as)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from tests.conftest import Tenant, make_tenant

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))


def _schema() -> Any:
    spec = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(spec)
    schema.app = application
    return schema.exclude(method="DELETE", path_regex=r"/(members|api-tokens)/").exclude(path_regex=r"^/api/v1/me")


SCHEMA = _schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def keep_the_test_connection() -> Iterator[None]:
    """The app is called as a WSGI server would; Django then closes "old" connections at the end of each request,
    which would close the test's own transaction (Django's test client disconnects the same receivers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_the_test_connection")
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_operation_answers_with_a_server_error(operation: Any) -> None:
    tenant: Tenant = make_tenant("Fuzzed")
    headers = {"Authorization": f"Token {tenant.admin_token}"}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        if "account_id" in (case.path_parameters or {}):
            case.path_parameters["account_id"] = tenant.account.pk
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    call()
