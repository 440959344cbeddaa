"""The shared decisioning spec cases through Adobe's own on-device engine (target-python-sdk).

This checks the spec files themselves: where Cible's expectations describe Adobe's behaviour,
Adobe's `TargetDecisioningEngine` must meet them too. The cases where Cible deliberately differs
(see docs/engine.md) are listed in `DIVERGENCES` with the reason, and must fail on Adobe's engine
(strict xfail), so the list stays exact.

Adobe's engine reads the clock (`datetime.datetime.utcnow()` in `context_provider.py`); the
test replaces that module's `datetime` with one frozen at the case's `now`. Its notifications go
to a no-op function, its telemetry is off, and its IP-to-geo lookup (made when an artifact enables
geo targeting and the request has no geo) fails at once: nothing leaves the process.
"""

from __future__ import annotations

import datetime as real_datetime
import types
from typing import Any

import pytest
from delivery_api_client import ApiClient
from target_decisioning_engine import TargetDecisioningEngine, context_provider, geo_provider
from target_decisioning_engine.types.decisioning_config import DecisioningConfig
from target_decisioning_engine.types.target_delivery_request import TargetDeliveryRequest

from tests.spec.spec_cases import assert_decision_matches, case_now, load_decisioning_cases

CASES = load_decisioning_cases()

_PLATFORM = (
    "Adobe's Python SDK names platforms 'Windows'/'Linux' (Cible and the Node SDK: lower case)"
)
_MOBILE = "Adobe's Python SDK names mobile Chrome 'chrome mobile'/'chrome mobile ios'"
_PROFILE = "profile.* conditions are a Cible addition; Adobe's on-device engine has no profile"
_PAGE_LOAD = "Adobe's Python SDK always decides pageLoad, even when the request has none"
_NO_ID = "Adobe's SDK invents a random visitor id; the engine has no randomness"
_LENGTH = "json-logic-qubit has no 'length'; json-logic-js reads it as JavaScript does"
_DOUBLES = "json-logic-qubit reads integer text as an exact Python int; json-logic-js as a double"
_WWW = (
    "Adobe's Python SDK cuts three characters off a subdomain starting with 'www' ('.docs'); "
    "the Node SDK and Cible drop the 'www' label"
)
DIVERGENCES: dict[str, str] = {
    "context/user-chrome-on-windows": _PLATFORM,
    "context/user-firefox-on-linux": _PLATFORM,
    "context/user-chrome-on-android": _MOBILE,
    "context/user-chrome-on-ios": _MOBILE,
    "context/user-unknown-agent": "Adobe's Python SDK names curl 'curl' with version 8",
    "context/page-two-label-public-suffix": "Adobe strips a 'www' prefix: subdomain '.shop'",
    "context/profile-attribute-matches": _PROFILE,
    "context/profile-prefixed-attribute-names": _PROFILE,
    "context/profile-parameters-of-the-request": _PROFILE,
    "operators/some-over-profile-array": _PROFILE,
    "operators/all-over-profile-objects": _PROFILE,
    "operators/filter-then-reduce": _PROFILE,
    "operators/map-then-in": _PROFILE,
    "allocation/no-visitor-id-no-allocation": _NO_ID,
    "delivery/empty-artifact": _PAGE_LOAD,
    "delivery/global-mbox-requested-as-mbox": "Adobe returns one response entry per matching rule",
    "operators/number-text-beyond-doubles-is-infinity": _DOUBLES,
    "operators/number-text-past-2-53-reads-as-the-nearest-double": _DOUBLES,
    "delivery/global-mbox-as-mbox-keeps-each-rule-click-metric": (
        "Adobe returns one response entry per matching rule"
    ),
    "context/time-without-now-never-matches": "Adobe's SDK reads the clock; without now, no time",
    "delivery/malformed-mbox-entries-are-skipped": "Adobe's request models keep malformed mboxes",
    "delivery/request-without-context": "Adobe's request model requires a context",
    "on_device/domain-private-suffix-github-pages": _WWW,
    "on_device/domain-two-label-icann-suffix": _WWW,
    "on_device/domain-upper-case-host": _WWW,
    "on_device/domain-host-is-a-public-suffix": (
        "Adobe's Python SDK (tld) gives a host that is a public suffix the domain "
        "'github.io.github.io'; the Node SDK (psl) gives the host itself"
    ),
    "logic/var-computed-profile": _PROFILE,
    "logic/path-two-parts-index-past-the-end": (
        "json-logic-qubit raises IndexError past an array's end; json-logic-js (Adobe's Node SDK) "
        "and Cible read it as absent"
    ),
    "logic/path-length-of-a-list": _LENGTH,
    "logic/path-length-of-a-parameter": _LENGTH,
    "on_device/domain-ip-address": "Adobe's Python SDK keeps the port in the domain (netloc)",
}


# Adobe's SDK draws a fresh random visitor id per rule when a request has only customerIds
# (allocation_provider.get_or_create_visitor_id), so its answer varies between runs.
RANDOM_ON_ADOBE: dict[str, str] = {
    "allocation/customer-ids-alone-are-not-a-visitor-id": _NO_ID,
}


class _FrozenDateTime(real_datetime.datetime):
    frozen: real_datetime.datetime

    @classmethod
    def utcnow(cls) -> Any:  # type: ignore[override]
        return cls.frozen


def _no_geo_lookup(*_args: Any) -> Any:
    raise OSError("no network in tests")


def _adobe_decide(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(geo_provider.GeoProvider, "_request_geo", _no_geo_lookup)
    now = case_now(case)
    if now is not None:
        frozen = types.SimpleNamespace(datetime=_FrozenDateTime)
        _FrozenDateTime.frozen = now.astimezone(real_datetime.UTC).replace(tzinfo=None)
        monkeypatch.setattr(context_provider, "datetime", frozen)
    artifact = case["artifact"]
    client = case.get("client") or artifact.get("meta", {}).get("clientCode") or ""
    config = DecisioningConfig(
        client,
        "spec@AdobeOrg",
        polling_interval=0,
        artifact_payload=artifact,
        send_notification_func=lambda _options: None,
        telemetry_enabled=False,
    )
    engine = TargetDecisioningEngine(config)
    engine.initialize()
    try:
        api = ApiClient()
        request = api._ApiClient__deserialize(case["request"], "DeliveryRequest")  # type: ignore[attr-defined]
        response = engine.get_offers(TargetDeliveryRequest(request))
        return dict(api.sanitize_for_serialization(response))
    finally:
        engine.stop_polling()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "adobe_case" in metafunc.fixturenames:
        params = []
        for case_id, case in CASES:
            marks = []
            if case_id in DIVERGENCES:
                marks.append(pytest.mark.xfail(reason=DIVERGENCES[case_id], strict=True))
            if case_id in RANDOM_ON_ADOBE:
                # Adobe's answer is random here: a comparison would assert nothing.
                marks.append(pytest.mark.skip(reason=RANDOM_ON_ADOBE[case_id]))
            params.append(pytest.param(case, id=case_id, marks=marks))
        metafunc.parametrize("adobe_case", params)


def test_case_on_adobe_engine(adobe_case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    response = _adobe_decide(adobe_case, monkeypatch)
    assert_decision_matches(adobe_case, response)
