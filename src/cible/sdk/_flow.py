"""One flow for both clients: sans-I/O generators driven by a sync or an async driver.

Every network exchange of the SDK (a delivery call, an artifact download, a notification batch
with its retries) is written once, as a generator that yields what it needs — an
`httpx.Request` to send, or a `Sleep` between retries — and receives the response (or has the
transport's exception thrown into it). `run_sync` drives a flow with `Transport.handle_request`
and `time.sleep`; `run_async` with `await handle_async_request` and `asyncio.sleep`. So
`TargetClient` and `AsyncTargetClient` share every decision, and differ only in how they wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

__all__ = ["Flow", "Sleep", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Yielded by a flow that must wait (a retry backoff)."""

    seconds: float


Flow = Generator[httpx.Request | Sleep, httpx.Response | None, T]


def run_sync(flow: Flow[T], transport: Any, sleep: Callable[[float], object] = time.sleep) -> T:
    """Run `flow` to its end with a synchronous transport; return its value."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                response = transport.handle_request(step)
            except Exception as error:  # every transport failure goes back into the flow
                step = flow.throw(error)
            else:
                step = flow.send(response)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def run_async(flow: Flow[T], transport: Any) -> T:
    """Run `flow` to its end with an asynchronous transport; return its value."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                response = await transport.handle_async_request(step)
            except Exception as error:  # every transport failure goes back into the flow
                step = flow.throw(error)
            else:
                step = flow.send(response)
    except StopIteration as stop:
        value: T = stop.value
        return value
