"""Engine speed: µs per decision and artifact load time, printed as JSON.

    .venv/bin/python benchmarks/engine_decide.py [--quick] [--runs 7] [--baseline SRC]

- `decide_10_activities`: one executed mbox with 10 live activities of 3 conditions each
  (allocation, an mbox parameter, the browser); the first nine miss on the parameter and the
  tenth matches. Each decision has a new visitor id. Also traced (`trace=True`: every rule
  evaluated and explained) and with the pure-Python hash instead of `mmh3`.
- `decide_1_activity`: the same request against one activity that matches.
- `decide_delivery_2_mboxes_20_activities`: the artifact and request of
  `benchmarks/delivery.py` (2 mboxes x 10 A/B activities behind audiences on an mbox
  parameter, 2 experiences each; the request executes both mboxes and matches the tenth).
- `load_artifact_1000`: parse, validate and compile 1,000 such activities over 50 mboxes.
- For scale, Adobe's target-python-sdk 1.1.0 on-device engine on the 10-activity artifact.

Every run is a child process; with `--baseline SRC` (for example the `src/` of
`git archive <commit> src | tar -x -C /tmp/before`) each run of this code alternates with a run
of that code, so both see the same machine load. Times are the process's CPU time (time spent
waiting for a core on a shared machine is left out); figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from cible.engine import _hashing, decide, load_artifact

UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36"
)
CLIENT = "benchclient"


def build_artifact(activities: int, mbox_count: int = 1) -> dict[str, Any]:
    mboxes: dict[str, list[dict[str, Any]]] = {f"mbox-{m}": [] for m in range(mbox_count)}
    for number in range(activities):
        activity_id = 500000 + number
        mbox = f"mbox-{number % mbox_count}"
        mboxes[mbox].append(
            {
                "ruleKey": str(activity_id),
                "activityId": activity_id,
                "meta": {
                    "activity.id": activity_id,
                    "activity.name": f"Activity {number}",
                    "activity.type": "ab",
                    "experience.id": 0,
                    "experience.name": "Experience A",
                    "location.name": mbox,
                    "location.type": "mbox",
                    "location.id": 0,
                    "audience.ids": [number],
                    "offer.id": 900000 + number,
                    "offer.name": f"offer-{number}",
                    "option.id": 2,
                    "option.name": "Offer2",
                },
                "condition": {
                    "and": [
                        {
                            "and": [
                                {"<=": [0.0, {"var": "allocation"}]},
                                {">=": [100.0, {"var": "allocation"}]},
                            ]
                        },
                        {"==": [f"category-{number % 10}", {"var": "mbox.category_lc"}]},
                        {"==": [{"var": "user.browserType"}, "chrome"]},
                    ]
                },
                "consequence": {
                    "name": mbox,
                    "options": [
                        {
                            "type": "json",
                            "eventToken": f"token-{number}",
                            "content": {"activity": number, "headline": "Hello"},
                        }
                    ],
                    "metrics": [],
                },
            }
        )
    return {
        "version": "1.0.0",
        "meta": {"clientCode": CLIENT, "environment": "production"},
        "globalMbox": "target-global-mbox",
        "geoTargetingEnabled": False,
        "responseTokens": ["activity.id", "experience.id", "offer.name"],
        "remoteMboxes": [],
        "remoteViews": [],
        "localMboxes": sorted(mboxes),
        "localViews": [],
        "rules": {"mboxes": mboxes, "views": {}},
    }


def cible_request(number: int) -> dict[str, Any]:
    return {
        "context": {
            "channel": "web",
            "address": {"url": "https://www.example.com/shop?x=1"},
            "userAgent": UA,
        },
        "id": {"tntId": f"{number:032x}.28_0"},
        "execute": {
            "mboxes": [{"name": "mbox-0", "index": 1, "parameters": {"category": "Category-9"}}]
        },
    }


def one_activity_artifact() -> dict[str, Any]:
    artifact = build_artifact(1)
    rule = artifact["rules"]["mboxes"]["mbox-0"][0]
    rule["condition"]["and"][1] = {"==": ["category-9", {"var": "mbox.category_lc"}]}
    return artifact


def delivery_artifact() -> dict[str, Any]:
    """The shape benchmarks/delivery.py serves: 2 mboxes x 10 A/B activities of two
    experiences, each behind an audience on the mbox parameter `tier`, as Cible compiles it."""
    artifact = build_artifact(0)
    mboxes: dict[str, list[dict[str, Any]]] = {"hero": [], "promo": []}
    for offset, mbox in ((1000, "hero"), (2000, "promo")):
        for number in range(1, 11):
            activity = offset + number
            for experience, (low, high) in enumerate(((0, 50), (50, 100))):
                mboxes[mbox].append(
                    {
                        "ruleKey": str(activity),
                        "activityId": activity,
                        "meta": {
                            "activity.id": activity,
                            "activity.type": "ab",
                            "experience.id": experience,
                            "offer.id": 500 + experience,
                            "offer.name": f"o{experience}",
                        },
                        "condition": {
                            "and": [
                                {
                                    "and": [
                                        {"<=": [low, {"var": "allocation"}]},
                                        {">=": [high, {"var": "allocation"}]},
                                    ]
                                },
                                {"==": [f"t{number}", {"var": "mbox.tier_lc"}]},
                            ]
                        },
                        "consequence": {
                            "name": mbox,
                            "options": [
                                {
                                    "type": "json",
                                    "eventToken": f"e{activity}-{experience}",
                                    "content": {"n": experience},
                                }
                            ],
                            "metrics": [],
                        },
                    }
                )
    artifact["localMboxes"] = sorted(mboxes)
    artifact["rules"] = {"mboxes": mboxes, "views": {}}
    return artifact


def delivery_request(number: int) -> dict[str, Any]:
    return {
        "context": {
            "channel": "web",
            "address": {"url": "https://shop.example/p"},
            "userAgent": UA,
        },
        "id": {"tntId": f"{number:032x}.28_0"},
        "requestId": f"request-{number}",
        "execute": {
            "mboxes": [
                {"index": 1, "name": "hero", "parameters": {"tier": "t10"}},
                {"index": 2, "name": "promo", "parameters": {"tier": "t10"}},
            ]
        },
    }


def _supports_trace() -> bool:
    return "trace" in inspect.signature(decide).parameters


def per_decision_us(
    artifact: Any, requests: list[dict[str, Any]], moment: datetime, **options: Any
) -> float:
    # CPU time of this process: on a shared machine, time spent waiting for a core is not ours.
    start = time.process_time()
    for request in requests:
        decide(artifact, request, now=moment, **options)
    return (time.process_time() - start) / len(requests) * 1e6


def one_run(count: int) -> dict[str, float]:
    """One timing of every measure, µs per decision (seconds for loads)."""
    moment = datetime.now(UTC)
    ten = load_artifact(build_artifact(10))
    one = load_artifact(one_activity_artifact())
    requests = [cible_request(n) for n in range(count)]
    check = decide(ten, requests[0], now=moment)
    assert check["execute"]["mboxes"][0]["options"][0]["content"]["activity"] == 9
    assert decide(one, requests[0], now=moment)["execute"]["mboxes"][0]["options"]
    result = {
        "decide_10_activities_us": per_decision_us(ten, requests, moment),
        "decide_1_activity_us": per_decision_us(one, requests, moment),
    }
    if _supports_trace():
        result["decide_10_activities_traced_us"] = per_decision_us(
            ten, requests, moment, trace=True
        )
    two = load_artifact(delivery_artifact())
    two_requests = [delivery_request(n) for n in range(count)]
    assert len(decide(two, two_requests[0], now=moment)["execute"]["mboxes"][1]["options"]) == 1
    result["decide_delivery_2_mboxes_20_activities_us"] = per_decision_us(two, two_requests, moment)
    original = _hashing.murmur3_utf16
    _hashing.murmur3_utf16 = _hashing.murmur3_utf16_pure
    try:
        result["decide_10_activities_pure_python_hash_us"] = per_decision_us(ten, requests, moment)
    finally:
        _hashing.murmur3_utf16 = original
    big = build_artifact(1_000, mbox_count=50)
    big_text = json.dumps(big)
    for label, data in (("text", big_text), ("dict", big)):
        start = time.process_time()
        load_artifact(data)
        result[f"load_artifact_1000_from_{label}_s"] = time.process_time() - start
    return result


def _child(source: str | None, count: int) -> dict[str, float]:
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source
    output = subprocess.run(
        [sys.executable, __file__, "--one-run", str(count)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    parsed: dict[str, float] = json.loads(output)
    return parsed


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({key for run in runs for key in run})
    return {
        key: round(
            statistics.median(run[key] for run in runs if key in run),
            4 if key.endswith("_s") else 2,
        )
        for key in keys
    }


def bench_adobe(count: int) -> dict[str, Any] | None:
    try:
        from delivery_api_client import (
            Address,
            ChannelType,
            Context,
            DeliveryRequest,
            ExecuteRequest,
            MboxRequest,
            VisitorId,
        )
        from target_decisioning_engine import TargetDecisioningEngine
        from target_decisioning_engine.types.decisioning_config import DecisioningConfig
        from target_decisioning_engine.types.target_delivery_request import (
            TargetDeliveryRequest,
        )
    except ImportError:
        return None
    config = DecisioningConfig(
        CLIENT,
        "bench@AdobeOrg",
        polling_interval=0,
        artifact_payload=build_artifact(10),
        send_notification_func=lambda _options: None,
        telemetry_enabled=False,
    )
    engine = TargetDecisioningEngine(config)
    engine.initialize()
    config.artifact_payload = None  # the engine deep-copies its options per call; keep them small

    def request(number: int) -> Any:
        return TargetDeliveryRequest(
            DeliveryRequest(
                context=Context(
                    channel=ChannelType.WEB,
                    address=Address(url="https://www.example.com/shop?x=1"),
                    user_agent=UA,
                ),
                id=VisitorId(tnt_id=f"{number:032x}.28_0"),
                execute=ExecuteRequest(
                    mboxes=[
                        MboxRequest(name="mbox-0", index=1, parameters={"category": "Category-9"})
                    ]
                ),
            )
        )

    requests = [request(n) for n in range(count)]

    def run(n: int) -> None:
        for item in requests[:n]:
            engine.get_offers(item)

    start = time.perf_counter()
    run(count)
    rate = count / (time.perf_counter() - start)
    engine.stop_polling()
    return {"decisions_per_second": round(rate), "package": "target-python-sdk 1.1.0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measure (median)")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="a src/ directory of other engine code (e.g. `git archive` of an earlier commit), "
        "timed in the same run, alternating with this one",
    )
    parser.add_argument("--one-run", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args.one_run)))
        return
    decisions = 2_000 if args.quick else 10_000
    runs = 3 if args.quick else args.runs
    current: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    for _ in range(runs):
        current.append(_child(None, decisions))
        if args.baseline:
            baseline.append(_child(args.baseline, decisions))
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": sys.platform,
        "hash": "mmh3" if _hashing.murmur3_utf16 is not _hashing.murmur3_utf16_pure else "pure",
        "runs": runs,
        "decisions_per_run": decisions,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "median": medians(current),
        "best": {key: min(run[key] for run in current) for key in current[0]},
    }
    if baseline:
        result["baseline_median"] = medians(baseline)
        result["baseline_best"] = {key: min(run[key] for run in baseline) for key in baseline[0]}
    result["adobe_sdk_same_decision"] = bench_adobe(100 if args.quick else 1_000)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
