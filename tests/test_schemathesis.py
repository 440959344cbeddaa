"""Schemathesis from ``/openapi.json`` over every operation the document lists.

Every Admin API operation, the token endpoint, the delivery, notification and Profile APIs and
the operations endpoints are called with generated requests, valid (positive) and invalid
(negative), with an approver's credentials on tenant ``acme`` and the throttles raised. Four
checks must hold on every answer: no 5xx, a status the document declares, a declared content
type, and a body matching the declared schema. The counts are printed even when pytest captures
output.

Examples per operation are bounded (``EXAMPLES``) and derandomized, so the run is repeatable
and stays within a few minutes on a busy two-core machine.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import FlakyFailure, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cible.config import Settings
from cible.store import Database
from cible.tenants import service as tenants
from cible.web.app import create_app
from tests.conftest import SECRET_KEY, FakeClock

# The run is bounded by EXAMPLES; the timeout only leaves room for a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Path parameters naming the tenant get the one the credentials hold a role on.
TENANT_PARAMS = ("tenant", "client")


def _run_operation(operation: Any, mode: GenerationMode, call: Callable[[Any], None]) -> str | None:
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        call(case)

    try:
        run()
    except (Unsatisfiable, FlakyFailure) as exc:
        # Generation, not the server: no negative request exists for an operation without
        # inputs, or a filter of schemathesis' generator judged a replayed example differently.
        if isinstance(exc, FlakyFailure) and "assumption" not in str(exc):
            return f"{type(exc).__name__}: {exc}"
        return None
    except Exception as exc:  # the checks' failures are caught in call(); this is anything else
        return f"{type(exc).__name__}: {exc}"
    return None


def test_schemathesis_finds_no_failure(
    settings: Settings, database: Database, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    raised = settings.model_copy(update={"token_throttle_rate": 1e6, "token_throttle_burst": 10**6})
    app = create_app(raised, database=database, clock=clock)
    with database.session() as s:
        tenants.create_tenant(s, "acme")
        new = tenants.create_client(s, tenant_code="acme", role="approver")
    with database.session() as s:
        token = tenants.issue_token(
            s, new.client_id, new.client_secret, key=SECRET_KEY, ttl=86_400, now=clock()
        )
    auth = {"Authorization": f"Bearer {token}", "X-Api-Key": new.client_id}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    calls: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    failures: dict[str, set[str]] = collections.defaultdict(set)
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        label = f"{operation.method.upper()} {operation.path}"

        def call(case: Any, label: str = label) -> None:
            for name in TENANT_PARAMS:
                if case.path_parameters and name in case.path_parameters:
                    case.path_parameters[name] = "acme"
            calls[label] += 1
            try:
                response = case.call(headers=auth)
                statuses[response.status_code] += 1
                case.validate_response(response, checks=CHECKS, headers=auth)
            except BaseException as exc:  # schemathesis reports failures as exception groups
                if isinstance(exc, KeyboardInterrupt):
                    raise
                lines = [line for line in str(exc).splitlines() if line.strip()]
                failures[label].add(" | ".join(lines[:8])[:600])

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            problem = _run_operation(operation, mode, call)
            if problem:
                failures[label].add(problem[:600])

    summary = (
        f"schemathesis: {operations} operations, {sum(calls.values())} requests, "
        f"{sum(len(v) for v in failures.values())} failures; statuses "
        + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
    )
    with capsys.disabled():
        print(f"\n{summary}")
    assert operations >= 60 and sum(calls.values()) >= operations * EXAMPLES
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))
