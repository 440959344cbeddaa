"""Running a validated batch: a scheduler over the dependency graph and a per-operation executor.

Each operation is an HTTP request handed to a ``Dispatcher`` (in the server, the app itself,
in-process: see ``cible.batch.asgi``), so it meets the same routing, authentication, throttling,
versioning, validation and services as a direct call. The scheduler only decides *when* an
operation runs and *what* it sends:

- operations whose dependencies are all done start at once, at most ``concurrency`` at a time
  (Adobe: "independent operations ... possibly in parallel");
- an operation runs only when every operation it depends on answered 2xx; otherwise it is
  skipped, without being sent, and so are its own dependents (Adobe: "skipped because a
  dependency failed or was skipped");
- ``{operationIdResponse:N}`` in its ``relativeUrl`` or body strings is replaced by the ``id``
  in operation N's response body; a string that is exactly the reference becomes the id itself
  (a number stays a number, so ``"offerId": "{operationIdResponse:0}"`` sends ``"offerId": 501``);
- a failure (any status outside 2xx, or an error raised while dispatching) ends that operation
  only.

Each operation commits on its own, as each direct call does: a batch is not a transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import anyio
import orjson

from cible.batch.urls import resolve
from cible.batch.validate import BODY_METHODS, REFERENCE, Batch, Operation
from cible.errors import BadRequest, CibleError
from cible.isotime import iso_millis

CONCURRENCY = 8
log = logging.getLogger("cible.batch")
# The message headers describe the encoded body, which the result replaces by a JSON value.
DROPPED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})


@dataclass(frozen=True)
class Reply:
    """An HTTP response as the dispatcher got it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Dispatcher(Protocol):
    """Sends one request and returns its response; ``url`` is an absolute path with its query."""

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Reply: ...


@dataclass(frozen=True)
class Result:
    """One entry of the batch response; a skipped operation has no status, headers or body."""

    operation_id: int
    skipped: bool
    status_code: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "operationId": self.operation_id,
            "skipped": self.skipped,
            "statusCode": self.status_code,
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "body": self.body,
        }


@dataclass
class _Run:
    dispatcher: Dispatcher
    tenant: str
    credentials: list[tuple[str, str]]
    now: datetime
    results: dict[int, Result] = field(default_factory=dict)


async def run_batch(
    batch: Batch,
    dispatcher: Dispatcher,
    *,
    tenant: str,
    credentials: list[tuple[str, str]],
    now: datetime,
    concurrency: int = CONCURRENCY,
) -> list[Result]:
    """Every operation's result, in operationId order.

    ``credentials`` (the caller's ``Authorization`` and ``X-Api-Key``) go with each operation
    unless the operation names its own; ``now`` (the batch request's arrival) stamps the errors
    the batch itself reports for an operation it could not send.
    ``batch`` must come from ``parse_batch``: its dependencies form no cycle.
    """
    run = _Run(dispatcher, tenant, credentials, now)
    done = {op.operation_id: anyio.Event() for op in batch.operations}
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(op: Operation) -> None:
        try:
            for dep in op.depends_on:
                await done[dep].wait()
            if all(run.results[dep].succeeded for dep in op.depends_on):
                async with limiter:
                    run.results[op.operation_id] = await _execute(run, op)
            else:
                run.results[op.operation_id] = Result(op.operation_id, skipped=True)
        finally:
            done[op.operation_id].set()

    async with anyio.create_task_group() as group:
        for op in batch.operations:
            group.start_soon(one, op)
    return [run.results[i] for i in sorted(run.results)]


async def _execute(run: _Run, op: Operation) -> Result:
    try:
        ids = {n: _created_id(run.results[n], n) for n in op.references()}
        target = resolve(run.tenant, op.method, substitute(op.relative_url, ids, in_url=True))
        body = None
        if op.method in BODY_METHODS:
            body = orjson.dumps(substitute(op.body, ids) if op.body is not None else {})
        reply = await run.dispatcher.send(op.method, target.url, _headers(run, op), body)
    except CibleError as error:
        return _error_result(run, op, error)
    except Exception:
        log.exception("batch operation %s failed", op.operation_id)
        return _error_result(run, op, CibleError("the operation failed inside the server"))
    headers = tuple((n, v) for n, v in reply.headers if n.lower() not in DROPPED_HEADERS)
    return Result(op.operation_id, False, reply.status, headers, decode_body(reply.body))


def _headers(run: _Run, op: Operation) -> list[tuple[str, str]]:
    given = {name.lower() for name, _ in op.headers}
    headers = list(op.headers)
    headers += [(n, v) for n, v in run.credentials if n.lower() not in given]
    # Adobe's batch reference: headers default to "Content-Type: application/json".
    if op.method in BODY_METHODS and "content-type" not in given:
        headers.append(("Content-Type", "application/json"))
    return headers


def _created_id(result: Result, n: int) -> Any:
    body = result.body
    created = body.get("id") if isinstance(body, dict) else None
    if created is None or isinstance(created, bool | dict | list):
        raise BadRequest.fields(
            [(f"{{operationIdResponse:{n}}}", f"operation {n}'s response has no id")]
        )
    return created


def substitute(value: Any, ids: Mapping[int, Any], *, in_url: bool = False) -> Any:
    """``value`` with each ``{operationIdResponse:N}`` replaced by ``ids[N]``.

    In a JSON body a string that is exactly one reference becomes the id with its JSON type; in
    a URL (``in_url``) the id is always text.
    """
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole and not in_url:
            return ids[int(whole.group(1))]
        return REFERENCE.sub(lambda m: str(ids[int(m.group(1))]), value)
    if isinstance(value, dict):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


def decode_body(raw: bytes) -> Any:
    """A response body as a JSON value: decoded JSON, else the text, None when empty."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


def _error_result(run: _Run, op: Operation, error: CibleError) -> Result:
    """The result of an operation the batch could not send, in Adobe's error envelope."""
    body = {
        "httpStatus": error.status,
        "requestId": str(uuid.uuid4()),
        "requestTime": iso_millis(run.now),
        "errors": [item.to_json() for item in error.errors()],
    }
    headers = (("content-type", "application/json"),)
    return Result(op.operation_id, False, error.status, headers, body)
