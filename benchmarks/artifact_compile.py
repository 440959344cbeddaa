"""Time `cible.artifacts.compile_artifact` on 1,000 activities with three-condition audiences.

Half A/B (two experiences, 50/50), half XT (three experiences, the last without audience); every
activity has its own audience of three conditions (mbox parameter, page URL, browser), so no
translation is shared. Prints one JSON object: median and best of several runs, for the compile
alone and for compile plus `dump_artifact` (what the rebuild job does).

    .venv/bin/python benchmarks/artifact_compile.py [--activities 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from cible.artifacts import compile_artifact, dump_artifact


def scenario(count: int) -> tuple[list[dict[str, Any]], dict[int, Any], dict[int, Any]]:
    offers = {
        i: {"id": i, "name": f"offer {i}", "type": "json", "content": {"variant": i}}
        for i in range(1, 4)
    }
    audiences: dict[int, Any] = {}
    activities = []
    for n in range(count):
        audience_id = 10_000 + n
        audiences[audience_id] = {
            "id": audience_id,
            "name": f"audience {n}",
            "targetRule": {
                "and": [
                    {"mbox": f"param{n % 17}", "equals": [f"value{n}"]},
                    {"page": "url", "contains": [f"/section-{n % 50}/"]},
                    {"browser": "type", "equals": ["chrome", "firefox"]},
                ]
            },
        }
        xt = n % 2 == 1
        shares = [None, None, None] if xt else [50, 50]
        experiences = []
        for e, share in enumerate(shares):
            experience: dict[str, Any] = {
                "experienceLocalId": e,
                "name": f"Experience {e}",
                "audienceIds": [audience_id] if (not xt or e < 2) else [],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": e}],
            }
            if share is not None:
                experience["visitorPercentage"] = share
            experiences.append(experience)
        activities.append(
            {
                "id": 100_000 + n,
                "type": "xt" if xt else "ab",
                "name": f"activity {n}",
                "state": "approved",
                "priority": n % 10,
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "2027-01-01T00:00:00Z",
                "options": [
                    {"optionLocalId": e, "name": f"option {e}", "offerId": e + 1}
                    for e in range(len(shares))
                ],
                "locations": {"mboxes": [{"locationLocalId": 0, "name": f"mbox-{n % 100}"}]},
                "experiences": experiences,
            }
        )
    return activities, offers, audiences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    activities, offers, audiences = scenario(args.activities)
    generated_at = datetime(2026, 6, 1, tzinfo=UTC)

    def compile_once() -> dict[str, Any]:
        return compile_artifact(
            client="bench",
            environment="production",
            activities=activities,
            offers=offers,
            audiences=audiences,
            generated_at=generated_at,
        )

    compile_times, total_times = [], []
    artifact: dict[str, Any] = {}
    data = b""
    for _ in range(args.runs):
        start = time.perf_counter()
        artifact = compile_once()
        middle = time.perf_counter()
        data = dump_artifact(artifact)
        end = time.perf_counter()
        compile_times.append(middle - start)
        total_times.append(end - start)
    rules = sum(len(r) for r in artifact["rules"]["mboxes"].values())
    print(
        json.dumps(
            {
                "benchmark": "artifact_compile",
                "activities": args.activities,
                "conditions_per_audience": 3,
                "rules": rules,
                "artifact_bytes": len(data),
                "runs": args.runs,
                "compile_seconds_median": round(statistics.median(compile_times), 4),
                "compile_seconds_best": round(min(compile_times), 4),
                "compile_and_dump_seconds_median": round(statistics.median(total_times), 4),
                "python": platform.python_version(),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "date": datetime.now(UTC).date().isoformat(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
