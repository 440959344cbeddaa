"""Profile merge rules (tests/spec/dmp/merge_rules.json), run against the rule engine
(``cible.dmp.merge``) and, the same cases, through ``GET /event`` and ``segments_for``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cible.dmp import segments_for
from cible.dmp.merge import MERGE_RULES, Profiles, segments_in
from cible.dmp.qualify import DeviceState, RuleSet, SegmentDef, TraitDef, apply_call
from cible.store import Database
from tests.conftest import Credential, FakeClock
from tests.dmp._kit import Aam

SPEC = json.loads(
    (Path(__file__).resolve().parent.parent / "spec/dmp/merge_rules.json").read_text()
)
CASES = [
    pytest.param(case, rule, id=f"{case['name']}-{rule}")
    for case in SPEC["cases"]
    for rule in MERGE_RULES
]
DS = 50
DEVICES = {"A": "1" * 38, "B": "2" * 38}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ms(text: str) -> int:
    return int(_when(text).timestamp() * 1000)


@pytest.mark.parametrize(("case", "merge_rule"), CASES)
def test_merge_rule_engine(case: dict[str, Any], merge_rule: str) -> None:
    trait = TraitDef(1, 'c_t1 == "1"', case.get("ttl", 120))
    segment = SegmentDef(9, case["rule"], merge_rule, DS)
    rules = RuleSet.build([trait], [segment], [])
    device: dict[str, DeviceState] = {}
    authenticated: dict[str, DeviceState] = {}
    last_declared: dict[str, str] = {}
    for call in case["calls"]:
        signals = {"c_t1": ["1"]} if call["trait"] else {"c_other": ["1"]}
        at = _ms(call["at"])
        name = call["device"]
        device[name], _ = apply_call(rules, device.get(name, DeviceState()), signals, at)
        declared = call.get("declared")
        if declared:
            last_declared[name] = declared
            if call["state"] == 1:
                profile = authenticated.get(declared, DeviceState())
                authenticated[declared], _ = apply_call(rules, profile, signals, at)
    visitor = case["visitor"]
    own = (device[visitor["device"]],) if visitor["device"] in device else ()
    declared = visitor["declared"]
    current = declared if declared and visitor["authenticated"] else None
    last = declared or last_declared.get(visitor["device"])
    profiles = Profiles(
        own,
        {DS: (authenticated[current],) if current in authenticated else ()},
        {DS: (authenticated[last],) if last in authenticated else ()},
    )
    found = 9 in segments_in(rules, profiles, _ms(case["now"]))
    assert found is case["expected"][merge_rule]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "merge_rule"), CASES)
async def test_merge_rule_on_event(
    http: Any,
    acme: Credential,
    clock: FakeClock,
    database: Database,
    case: dict[str, Any],
    merge_rule: str,
) -> None:
    aam = Aam(http, acme)
    site = await aam.data_source()
    crm = await aam.data_source(
        "CRM",
        integrationCode="CRM",
        idType="CROSS_DEVICE",
        useAuthenticatedProfile=True,
        mergeRule=merge_rule,
    )
    folder = await aam.folder()
    trait = await aam.trait('c_t1 == "1"', site, folder, ttl=case.get("ttl", 120))
    rule = case["rule"].replace("1T", f"{trait}T")
    segment = await aam.segment(rule, site, await aam.folder("segments"), mergeRuleDataSourceId=crm)
    for call in case["calls"]:
        clock.now = _when(call["at"])
        params = [("c_t1" if call["trait"] else "c_other", "1")]
        if call.get("declared"):
            params.append(("d_cid_ic", f"CRM\x01{call['declared']}\x01{call['state']}"))
        response = await aam.event(params, DEVICES[call["device"]])
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.json()
    visitor = case["visitor"]
    ids = [("uuid", DEVICES[visitor["device"]])]
    if visitor["declared"]:
        ids.append(("ic:CRM", visitor["declared"]))
    with database.engine.connect() as conn:
        found = segments_for(conn, 1, ids, _ms(case["now"]), authenticated=visitor["authenticated"])
    assert (segment in found) is case["expected"][merge_rule]
