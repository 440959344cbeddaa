"""Where a batch file destination's files go: a local folder, SFTP or S3-compatible storage.

Adobe Audience Manager delivers batch files by SFTP or to Amazon S3 ("Batch server
configuration", "Authorize Amazon S3 cross-bucket access"); a self-hosted install may also
write to a folder of its own machine. Each is an fsspec file system, so the file writer
(``cible.dmp.transfers.export_writer``) has one code path.

A location is a tenant's input, so it is guarded as outbound URLs are (``cible.jobs.outbound``):

* ``sftp://host[:port]/folder``: the host is resolved here and each address checked against
  ``CIBLE_OUTBOUND_ALLOWED_NETWORKS`` (private, loopback and link-local ranges denied unless
  allowed); the connection goes to the address checked, never to the name again. A
  ``hostKey`` (``ssh-ed25519 AAAA...``, as in ``known_hosts``) pins the server's key; without it
  the key is not verified.
* ``s3://bucket/prefix`` with an optional ``endpointUrl`` (S3-compatible storage): the endpoint's
  host is resolved and checked when the location is opened (botocore resolves it again when it
  connects, so a name whose addresses change between the two is not covered: give an address
  or a name you control).
* ``file:///folder``: only under ``CIBLE_DMP_EXPORT_LOCAL_ROOT``; unset, local folders are
  refused, so an API user cannot write anywhere on the server.
"""

from __future__ import annotations

import io
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cible.config import Settings
from cible.jobs.outbound import OutboundBlocked, Policy

SCHEMES = ("file", "sftp", "s3")
# AAM's SYNC_TYPE macro: ftp (their SFTP), s3 or http ("Outbound template macros").
SYNC_TYPES = {"file": "ftp", "sftp": "ftp", "s3": "s3"}


class LocationError(Exception):
    """A location that may not or cannot be written to."""


def check_url(url: str) -> str | None:
    """Why ``url`` can never be a location, or None (addresses are checked when opened)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return "must be a file://, sftp:// or s3:// URL"
    if parts.scheme in ("sftp", "s3") and not parts.hostname:
        return "must name a host (sftp) or a bucket (s3)"
    if parts.scheme == "file" and (parts.netloc or not parts.path.startswith("/")):
        return "a file URL is file:///absolute/folder"
    if parts.query or parts.fragment:
        return "takes no query or fragment"
    return None


@dataclass(frozen=True)
class Opened:
    """An fsspec file system, the folder in it, and AAM's ``SYNC_TYPE`` for the file names."""

    fs: Any
    folder: str
    sync_type: str
    shown: str  # the URL, for the transfer history


def open_location(location: dict[str, Any], settings: Settings) -> Opened:
    url = str(location.get("url", ""))
    problem = check_url(url)
    if problem:
        raise LocationError(f"location {url!r} {problem}")
    parts = urlsplit(url)
    policy = Policy.from_settings(settings)
    if parts.scheme == "file":
        return _local(parts.path, settings, url)
    if parts.scheme == "sftp":
        return _sftp(parts.hostname or "", parts.port or 22, parts.path, location, policy, url)
    return _s3(parts.hostname or "", parts.path, location, policy, url)


def _local(path: str, settings: Settings, url: str) -> Opened:
    from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

    root = settings.dmp_export_local_root
    if not root:
        raise LocationError("local folders are refused: CIBLE_DMP_EXPORT_LOCAL_ROOT is not set")
    folder = Path(path).resolve()
    if not folder.is_relative_to(Path(root).resolve()):
        raise LocationError(f"{path} is not under CIBLE_DMP_EXPORT_LOCAL_ROOT")
    return Opened(LocalFileSystem(), folder.as_posix(), SYNC_TYPES["file"], url)


def checked_address(host: str, port: int, policy: Policy) -> str:
    """The first address of ``host`` the policy allows; raises :class:`OutboundBlocked`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LocationError(f"cannot resolve {host!r}: {exc}") from exc
    refused = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        reason = policy.refusal(ipaddress.ip_address(text))
        if reason is None:
            return text
        refused.append(f"{text} ({reason})")
    raise OutboundBlocked(
        f"location host {host!r} refused: it resolves to {', '.join(refused)}; allow the "
        "network in CIBLE_OUTBOUND_ALLOWED_NETWORKS if this is intended"
    )


def _sftp(
    host: str, port: int, path: str, location: dict[str, Any], policy: Policy, url: str
) -> Opened:
    import paramiko  # type: ignore[import-untyped]
    from fsspec.implementations.sftp import SFTPFileSystem  # type: ignore[import-untyped]

    address = checked_address(host, port, policy)
    kwargs: dict[str, Any] = {
        "port": port,
        "username": location.get("username") or None,
        "timeout": 30,
        "allow_agent": False,
        "look_for_keys": False,
        "skip_instance_cache": True,
    }
    if location.get("password"):
        kwargs["password"] = location["password"]
    if location.get("privateKey"):
        kwargs["pkey"] = _private_key(paramiko, str(location["privateKey"]))
    kwargs["host_key_policy"] = _pinned(paramiko, str(location.get("hostKey") or ""))
    try:
        fs = SFTPFileSystem(address, **kwargs)
    except (OSError, paramiko.SSHException) as exc:
        raise LocationError(f"SFTP {host}:{port}: {exc}") from exc
    return Opened(fs, path or "/", SYNC_TYPES["sftp"], url)


def _private_key(paramiko: Any, text: str) -> Any:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except paramiko.SSHException:
            continue
    raise LocationError("privateKey is not an OpenSSH or PEM private key paramiko reads")


def _pinned(paramiko: Any, expected: str) -> Any:
    """A paramiko missing-host-key policy accepting only ``expected`` (any key when empty);
    no known_hosts file is loaded, so every server key goes through it."""
    fields = expected.split()
    pinned = (fields[0], fields[1]) if len(fields) >= 2 else None

    class Pinned(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if pinned is not None and (key.get_name(), key.get_base64()) != pinned:
                raise LocationError(f"SFTP host key of {hostname} is not the configured hostKey")

    return Pinned()


def _s3(bucket: str, path: str, location: dict[str, Any], policy: Policy, url: str) -> Opened:
    import s3fs  # type: ignore[import-untyped]

    endpoint = str(location.get("endpointUrl") or "")
    client: dict[str, Any] = {}
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LocationError("endpointUrl must be an http(s) URL")
        checked_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                        policy)  # fmt: skip
        client["endpoint_url"] = endpoint
    if location.get("region"):
        client["region_name"] = location["region"]
    fs = s3fs.S3FileSystem(
        key=location.get("accessKeyId") or None,
        secret=location.get("secretAccessKey") or None,
        anon=False,
        client_kwargs=client,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    return Opened(fs, f"{bucket}{path.rstrip('/')}", SYNC_TYPES["s3"], url)
