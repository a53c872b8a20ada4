"""The database writes of the API, off the event loop, without a thread hop per request.

Handing each write to a fresh worker thread costs more than the write itself (thread
wake-ups, GIL hand-offs). Instead a few long-lived writer threads take writes from one
queue, run everything waiting, each write still in its own transaction, and resolve the
callers' futures in a single call back to the event loop. SQLite has one writer thread
(it has one writer anyway); PostgreSQL several, so commits overlap.
"""

from __future__ import annotations

import asyncio
import queue
import logging
import threading
from typing import Any, Callable

log = logging.getLogger("lbp_triage.writer")

_STOP = object()


class DatabaseWriter:
    def __init__(self, threads: int = 1, name: str = "db-writer") -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on a writer thread and return its result (or raise its exception)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((fn, args, future, loop))
        return await future

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue fn(*args) without waiting for it (e.g. an audit record after the answer)."""
        self._queue.put((fn, args, None, None))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:  # take everything already waiting: one wake-up of the loop for all
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcomes = []
            stopping = False
            for item in batch:
                if item is _STOP:
                    stopping = True
                    continue
                fn, args, future, loop = item
                try:
                    result = fn(*args)
                    if future is not None:
                        outcomes.append((future, loop, True, result))
                except BaseException as exc:  # handed to the caller, who decides
                    if future is not None:
                        outcomes.append((future, loop, False, exc))
                    else:
                        log.error("background database write failed", extra={"error": type(exc).__name__})
            self._deliver(outcomes)
            if stopping:
                self._queue.put(_STOP)  # pass it on: every writer thread must see one
                return

    @staticmethod
    def _deliver(outcomes: list[tuple[asyncio.Future, asyncio.AbstractEventLoop, bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for future, loop, ok, value in outcomes:
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def close(self) -> None:
        self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=30)


def _resolve(results: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
