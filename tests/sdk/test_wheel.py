"""The ``cible-sdk`` wheel installs alone and decides on-device, with no server package around.

Built from ``packages/cible-sdk`` by hatchling's PEP 517 hook (installed by ``scripts/install
test``), installed with ``uv pip install --offline --no-deps`` into a fresh virtual environment,
whose ``httpx`` and ``publicsuffixlist`` (and what they need) are copied from this environment's
installed files: nothing is downloaded. ``mmh3`` is left out, so the engine's pure-Python hash
decides there and must agree with this environment's decisions (docs/sdk.md, "Installing the SDK
alone").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cible.sdk import MockTransport, TargetClient
from tests.delivery import _scenario as sc

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "packages" / "cible-sdk"
VISITORS = [f"wheel-{i}.0" for i in range(40)]

# Run inside the fresh environment: refuses to decide if anything of the server is importable.
SCRIPT = """
import importlib.util, json, sys
for name in ("cible.web", "cible.delivery", "cible.store", "fastapi", "sqlalchemy", "mmh3"):
    if importlib.util.find_spec(name) is not None:
        sys.exit(f"{name} is importable")
import httpx
import cible
from cible.sdk import MockTransport, TargetClient
artifact, visitors = json.load(open(sys.argv[1]))
client = TargetClient.create({
    "client": "acme", "organization_id": "0123456789ABCDEF01234567@AdobeOrg",
    "server_domain": "cible.test", "decisioning_method": "on-device",
    "artifact_payload": artifact, "polling_interval": 0,
    "transport": MockTransport(lambda request: httpx.Response(200, json={"status": 200})),
})
out = {}
for visitor in visitors:
    request = {"context": {"channel": "web"}, "id": {"tntId": visitor},
               "execute": {"mboxes": [{"name": "hero", "index": 1}]}}
    mboxes = client.get_offers(request)["response"]["execute"]["mboxes"]
    out[visitor] = mboxes[0]["options"][0]["content"]
client.close()
print(json.dumps({"cible": cible.__file__, "decisions": out}))
"""


def _decisions(artifact: dict[str, Any]) -> dict[str, Any]:
    """The same decisions in this environment (the server installed, mmh3 present)."""
    client = TargetClient.create(
        {
            "client": "acme",
            "organization_id": "0123456789ABCDEF01234567@AdobeOrg",
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "artifact_payload": artifact,
            "polling_interval": 0,
            "transport": MockTransport(lambda request: httpx.Response(200)),
        }
    )
    out = {}
    for visitor in VISITORS:
        request = sc.request(visitor, execute=sc.mboxes("hero"))
        out[visitor] = sc.content(client.get_offers(request)["response"])["hero"]
    client.close()
    return out


def _build(out: Path) -> Path:
    code = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=SDK,
        capture_output=True,
        text=True,
        check=True,
    )
    return out / built.stdout.strip().splitlines()[-1]


def _requirements_closure(wheel: Path) -> list[metadata.Distribution]:
    """The installed distributions the wheel needs: its Requires-Dist without extras, and theirs."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    environment = default_environment()
    found: dict[str, metadata.Distribution] = {}
    todo = list(requires)
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate(
            {**environment, "extra": ""}
        ):
            continue
        key = canonicalize_name(requirement.name)
        if key in found:
            continue
        found[key] = metadata.distribution(requirement.name)
        todo.extend(found[key].requires or [])
    return list(found.values())


def _copy_installed(distribution: metadata.Distribution, site: Path) -> None:
    for file in distribution.files or ():
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue  # scripts outside site-packages, caches
        source = Path(str(distribution.locate_file(file)))
        if source.is_file():
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_the_sdk_wheel_installs_alone_and_decides_on_device(tmp_path: Path) -> None:
    wheel = _build(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    modules = [n for n in names if ".dist-info/" not in n]
    assert "cible/__init__.py" in modules
    assert {n.split("/")[1] for n in modules if n.count("/") > 1} == {"engine", "sdk"}
    assert not [n for n in modules if "__pycache__" in n or not n.endswith(".py")]
    assert "Name: cible-sdk" in text
    assert "Requires-Dist: httpx" in text
    assert "Requires-Dist: mmh3>=4.1; extra == 'mmh3'" in text

    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    uv = Path(sysconfig.get_path("scripts")) / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "--offline", "--no-deps", "--python", str(python), str(wheel)],
        check=True,
        capture_output=True,
    )
    for distribution in _requirements_closure(wheel):
        _copy_installed(distribution, site)

    artifact = sc.artifact_json(remote=False)
    given = tmp_path / "input.json"
    given.write_text(json.dumps([artifact, VISITORS]))
    script = tmp_path / "decide.py"
    script.write_text(SCRIPT)
    ran = subprocess.run(
        [str(python), "-I", str(script), str(given)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["cible"].startswith(str(site))
    assert result["decisions"] == _decisions(artifact)
    assert {json.dumps(c) for c in result["decisions"].values()} == {
        json.dumps({"offer": 0}),
        json.dumps({"offer": 1}),
    }
