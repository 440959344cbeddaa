"""The audience manager's spec cases (tests/spec/dmp/*.json), run against the rule engine and,
the same cases, against ``GET /event`` through the app."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cible.dmp import dcs
from cible.dmp.qualify import DeviceState, FolderDef, RuleSet, SegmentDef, TraitDef, apply_call
from cible.dmp.segmentrule import SegmentRuleError, compile_segment_rule
from cible.dmp.traitrule import TraitRuleError, compile_trait_rule
from tests.conftest import Credential, FakeClock
from tests.dmp._kit import Aam

SPEC = Path(__file__).resolve().parent.parent / "spec" / "dmp"
TRAITS = json.loads((SPEC / "trait_rules.json").read_text())
SEGMENTS = json.loads((SPEC / "segment_rules.json").read_text())


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- trait rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TRAITS["cases"], ids=_ids(TRAITS["cases"]))
def test_trait_rule_engine(case: dict[str, Any]) -> None:
    call = dcs.parse(list(case["params"].items()), case.get("headers", {}), None, None)
    signals = {**call.signals, **call.private}
    assert compile_trait_rule(case["rule"]).evaluate(signals) is case["expected"]


@pytest.mark.parametrize("case", TRAITS["errors"], ids=_ids(TRAITS["errors"]))
def test_trait_rule_errors(case: dict[str, Any]) -> None:
    with pytest.raises(TraitRuleError) as raised:
        compile_trait_rule(case["rule"])
    assert case["contains"] in raised.value.message
    if "line" in case:
        assert (raised.value.line, raised.value.column) == (case["line"], case["column"])


@pytest.mark.anyio
@pytest.mark.parametrize("case", TRAITS["cases"], ids=_ids(TRAITS["cases"]))
async def test_trait_rule_on_event(http: Any, acme: Credential, case: dict[str, Any]) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source()
    folder = await aam.folder()
    sid = await aam.trait(case["rule"], ds, folder)
    query = [*case["params"].items(), ("d_rtbd", "json"), ("d_cts", "2")]
    headers = {"Host": "acme.demdex.localhost", **case.get("headers", {})}
    response = await http.get("/event", params=query, headers=headers)
    assert response.status_code == 200, response.text
    assert (sid in response.json()["traits"]) is case["expected"]


@pytest.mark.anyio
@pytest.mark.parametrize("case", TRAITS["errors"], ids=_ids(TRAITS["errors"]))
async def test_trait_rule_errors_on_validate(
    http: Any, acme: Credential, case: dict[str, Any]
) -> None:
    aam = Aam(http, acme)
    body = await aam.call("POST", "/v1/traits/validate", {"code": case["rule"]}, 400)
    message = body["errors"][0]["message"]
    assert case["contains"] in message
    if "line" in case:
        assert f"(line {case['line']}, column {case['column']})" in message


# -- segment rules -----------------------------------------------------------------------------


def _folders(case: dict[str, Any]) -> list[tuple[int, int | None, list[int]]]:
    """``(folder trait id, parent folder trait id, trait ids)`` depth first."""
    out: list[tuple[int, int | None, list[int]]] = []

    def walk(tree: dict[str, Any], parent: int | None) -> None:
        for fid, node in tree.items():
            out.append((int(fid), parent, node.get("traits", [])))
            walk(node.get("children", {}), int(fid))

    walk(case.get("folders", {}), None)
    return out


@pytest.mark.parametrize("case", SEGMENTS["cases"], ids=_ids(SEGMENTS["cases"]))
def test_segment_rule_engine(case: dict[str, Any]) -> None:
    folder_of = {t: fid for fid, _, traits in _folders(case) for t in traits}
    traits = [
        TraitDef(
            int(tid),
            "" if spec.get("type") == "ON_BOARDED_TRAIT" else f'c_t{tid} == "1"',
            spec.get("ttl", 120),
            spec.get("type", "RULE_BASED_TRAIT"),
            folder_id=folder_of.get(int(tid), 0),
        )
        for tid, spec in case["traits"].items()
    ]
    traits += [TraitDef(fid, "", 0, "FOLDER_TRAIT", folder_id=fid) for fid, _, _ in _folders(case)]
    folders = [FolderDef(fid, parent, fid) for fid, parent, _ in _folders(case)]
    rules = RuleSet.build(traits, [SegmentDef(999, case["rule"])], folders)
    state = DeviceState()
    for trait, at in case["realizations"]:
        state, _ = apply_call(rules, state, {}, _ms(at), direct=[trait])
    state, _ = apply_call(rules, state, {}, _ms(case["now"]))
    assert (999 in state.segments) is case["expected"]


@pytest.mark.parametrize("case", SEGMENTS["errors"], ids=_ids(SEGMENTS["errors"]))
def test_segment_rule_errors(case: dict[str, Any]) -> None:
    with pytest.raises(SegmentRuleError) as raised:
        compile_segment_rule(case["rule"])
    assert case["contains"] in raised.value.message
    if "line" in case:
        assert (raised.value.line, raised.value.column) == (case["line"], case["column"])


@pytest.mark.anyio
@pytest.mark.parametrize("case", SEGMENTS["cases"], ids=_ids(SEGMENTS["cases"]))
async def test_segment_rule_on_event(
    http: Any, acme: Credential, clock: FakeClock, case: dict[str, Any]
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source()
    root = await aam.folder(name="All")
    segment_folder = await aam.folder("segments")
    sid: dict[int, int] = {}
    folder_id: dict[int, int] = {}
    for fid, parent, _ in _folders(case):
        created = await aam.folder(name=f"F{fid}", parent=folder_id[parent] if parent else root)
        folder_id[fid] = created
        listed = await aam.call("GET", f"/v1/traits/?folderId={created}")
        sid[fid] = next(t["sid"] for t in listed["list"] if t["traitType"] == "FOLDER_TRAIT")
    folder_of = {t: fid for fid, _, traits in _folders(case) for t in traits}
    for tid, spec in case["traits"].items():
        onboarded = spec.get("type") == "ON_BOARDED_TRAIT"
        sid[int(tid)] = await aam.trait(
            f'ic == "{tid}"' if onboarded else f'c_t{tid} == "1"',
            ds,
            folder_id.get(folder_of.get(int(tid), -1), root),
            ttl=spec.get("ttl", 120),
            traitType=spec.get("type", "RULE_BASED_TRAIT"),
            name=f"T{tid}",
        )
    rule = re.sub(r"(\d+)T", lambda m: f"{sid[int(m.group(1))]}T", case["rule"])
    segment = await aam.segment(rule, ds, segment_folder)
    uuid = None
    for trait, at in case["realizations"]:
        clock.now = _when(at)
        onboarded = case["traits"][str(trait)].get("type") == "ON_BOARDED_TRAIT"
        params = {"d_sid": str(sid[trait])} if onboarded else {f"c_t{trait}": "1"}
        response = await aam.event(params, uuid)
        assert response.status_code == 200, response.text
        uuid = response.json()["uuid"]
    clock.now = _when(case["now"])
    final = (await aam.event({"c_nothing": "1"}, uuid)).json()
    assert (segment in final["segments"]) is case["expected"]
