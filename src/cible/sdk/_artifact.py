"""The on-device artifact: download, validate, swap in; keep the last good one on any failure.

`ArtifactState.fetch()` is a flow (see `_flow.py`): it sends `GET <artifact url>` with
`If-None-Match: <last ETag>` (Adobe's `artifact_provider.py` does the same), keeps the current
artifact on `304 Not Modified`, and on `200` parses the body with `cible.engine.load_artifact`.
A download error, an error status or an artifact the engine rejects leaves the current artifact
in place and fires `artifact_download_failed`; a new artifact fires
`artifact_download_succeeded` (and `client_ready` the first time) and bumps `generation`, which
invalidates the session cache.

Swapping is one attribute assignment of an immutable `Loaded` tuple, so deciding threads read a
consistent (artifact, generation, profile keys) without a lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from cible.engine import Artifact, ArtifactError, load_artifact
from cible.sdk._config import Config
from cible.sdk._flow import Flow

__all__ = ["ArtifactState", "Loaded", "profile_keys"]


@dataclass(frozen=True, slots=True)
class Loaded:
    artifact: Artifact
    generation: int
    profile_keys: frozenset[str] | None  # None: some condition computes its variable names


class ArtifactState:
    """The current artifact of one client and how to refresh it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.current: Loaded | None = None
        self.etag: str | None = None
        self.ready_fired = False

    @property
    def url(self) -> str:
        return self.config.artifact_url

    def install(self, data: Any, *, etag: str | None = None) -> bool:
        """Load `data` (JSON bytes, str or dict); on success swap it in and fire the events."""
        try:
            artifact = load_artifact(data)
        except ArtifactError as error:
            self.failed(error)
            return False
        generation = 1 if self.current is None else self.current.generation + 1
        self.current = Loaded(artifact, generation, profile_keys(artifact))
        if etag is not None:
            self.etag = etag
        self.config.emit(
            "artifact_download_succeeded",
            {"artifact_location": self.url, "artifact_payload": artifact.raw},
        )
        if not self.ready_fired:
            self.ready_fired = True
            self.config.emit("client_ready")
        return True

    def failed(self, error: Exception) -> None:
        kept = "keeping the last good artifact" if self.current else "no artifact yet"
        self.config.logger.warning(
            "cible.sdk: artifact from %s rejected (%s); %s", self.url, error, kept
        )
        self.config.emit(
            "artifact_download_failed", {"artifact_location": self.url, "error": error}
        )

    def fetch(self, timeout: float | None = None) -> Flow[bool]:
        """Download the artifact once; True when an artifact is in place afterwards."""
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        if self.etag and self.current is not None:
            headers["If-None-Match"] = self.etag
        request = httpx.Request(
            "GET",
            self.url,
            headers=headers,
            extensions={"timeout": httpx.Timeout(timeout or self.config.timeout).as_dict()},
        )
        try:
            response = yield request
        except Exception as error:
            self.failed(error)
            return self.current is not None
        assert response is not None
        if response.status_code == 304 and self.current is not None:
            return True
        if response.status_code != 200:
            self.failed(RuntimeError(f"HTTP {response.status_code}"))
            return self.current is not None
        self.install(response.content, etag=response.headers.get("etag"))
        return self.current is not None


def profile_keys(artifact: Artifact) -> frozenset[str] | None:
    """Names `x` of the `profile.x` variables that the artifact's conditions read."""
    names: set[str] = set()
    for rules in _rule_lists(artifact):
        for rule in rules:
            variables = getattr(rule.condition, "variables", None)
            if variables is None:
                return None
            for variable in variables:
                if not isinstance(variable, str) or variable == "*":
                    return None
                if variable == "profile":
                    return None
                if variable.startswith("profile."):
                    names.add(variable[len("profile.") :].split(".")[0])
    return frozenset(names)


def _rule_lists(artifact: Artifact) -> Iterable[Any]:
    yield from artifact.mbox_rules.values()
    yield from artifact.view_rules.values()
