"""Engine throughput: decisions per second and artifact load time, printed as JSON.

    .venv/bin/python benchmarks/engine_decide.py [--quick]

- `decide`: one executed mbox with 10 live activities of 3 conditions each (allocation, an mbox
  parameter, the browser); the first nine miss on the parameter and the tenth matches, so every
  decision evaluates all ten rules. Each decision has a new visitor id. Measured with the `mmh3`
  accelerator and with the pure-Python hash, and, for scale, Adobe's target-python-sdk 1.1.0
  on-device engine on the same artifact and requests (when installed).
- `load_artifact`: parse, validate and compile an artifact of 1,000 such activities.

Each figure is the best of three timed runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
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


def best_rate(run: Callable[[int], None], count: int) -> float:
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        run(count)
        rates.append(count / (time.perf_counter() - start))
    return max(rates)


def best_time(run: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_cible(count: int) -> dict[str, Any]:
    artifact = load_artifact(build_artifact(10))
    requests = [cible_request(n) for n in range(count)]
    now = time.time()
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(now, UTC)
    sample = decide(artifact, requests[0], now=moment)
    matched = sample["execute"]["mboxes"][0]["options"][0]["content"]["activity"]
    evaluated = len(sample["cible"]["reasons"][-1]["rules"])
    assert (matched, evaluated) == (9, 10), (matched, evaluated)

    def run(n: int) -> None:
        for request in requests[:n]:
            decide(artifact, request, now=moment)

    with_accelerator = best_rate(run, count)
    accelerated = _hashing.murmur3_utf16 is not _hashing.murmur3_utf16_pure
    original = _hashing.murmur3_utf16
    _hashing.murmur3_utf16 = _hashing.murmur3_utf16_pure
    try:
        pure = best_rate(run, count)
    finally:
        _hashing.murmur3_utf16 = original
    return {
        "decisions_per_second": round(with_accelerator),
        "hash": "mmh3" if accelerated else "pure-python",
        "decisions_per_second_pure_python_hash": round(pure),
        "rules_evaluated_per_decision": evaluated,
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

    rate = best_rate(run, count)
    engine.stop_polling()
    return {"decisions_per_second": round(rate), "package": "target-python-sdk 1.1.0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    decisions = 2_000 if args.quick else 20_000
    adobe_decisions = 100 if args.quick else 1_000

    big = build_artifact(1_000, mbox_count=50)
    big_text = json.dumps(big)
    result = {
        "python": platform.python_version(),
        "platform": sys.platform,
        "decide_execute_1_mbox_10_activities_3_conditions": bench_cible(decisions),
        "adobe_sdk_same_decision": bench_adobe(adobe_decisions),
        "load_artifact_1000_activities": {
            "seconds_from_json_text": round(best_time(lambda: load_artifact(big_text)), 4),
            "seconds_from_dict": round(best_time(lambda: load_artifact(big)), 4),
            "artifact_bytes": len(big_text.encode()),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
