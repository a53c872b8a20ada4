"""The database writes of the API, off the event loop, without a thread hop per request.

Handing each write to a fresh worker thread costs more than the write itself (thread
wake-ups, GIL hand-offs). Instead a long-lived writer thread takes writes from a queue,
runs everything waiting, and resolves the callers' futures in a single call back to the
event loop (the class can run several; the service runs one). One per process on either engine: SQLite has one writer anyway,
and on PostgreSQL several threads split the queue into smaller groups (a commit each) whose
transactions could wait on each other's rows (two first submissions of one identifier in
two groups, in opposite orders: a deadlock the server breaks after a second); one thread
commits what queued while it waited on the last commit, in one larger group.

Group commit (app/store/batch.py): the triages queued together (`run_grouped`) share one
transaction, committed once, and only then are their callers answered — a 201 still means
committed. When that transaction is spoiled (a failure other than a refusal) or its commit
fails, it is rolled back and each of its triages runs again in a transaction of its own, so
that a failing row fails only its caller. Other work (`run`, `submit`: audit records, the
spool's replay) runs in transactions of its own, after the open group is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from app.store import batch

log = logging.getLogger("lbp_triage.writer")

_STOP = object()

# (fn, args, future, loop, grouped); future and loop are None for fire-and-forget work
Work = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future | None", "asyncio.AbstractEventLoop | None", bool]


class DatabaseWriter:
    def __init__(self, threads: int = 1, name: str = "db-writer") -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        # Grouped work of this event-loop iteration, by loop: handed to the writer in one go.
        self._arriving: dict[asyncio.AbstractEventLoop, list[Work]] = {}
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on a writer thread, in transactions of its own, and return its result
        (or raise its exception)."""
        return await self._await(fn, args, grouped=False)

    async def run_grouped(self, fn: Callable[..., Any], *args: Any) -> Any:
        """The same, for work whose repository writes join the writer's group commit (a triage):
        its result comes once what it wrote is committed with the group."""
        return await self._await(fn, args, grouped=True)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue fn(*args) without waiting for it (e.g. an audit record after the answer)."""
        self._queue.put((fn, args, None, None, False))

    async def _await(self, fn: Callable[..., Any], args: tuple[Any, ...], grouped: bool) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not grouped:
            self._queue.put((fn, args, future, loop, grouped))
            return await future
        # The triages that reach this point in one iteration of the loop (under load, the
        # requests whose previous triage the last commit answered) go to the writer together,
        # at the start of the next one: one wake-up of the writer thread and one group, rather
        # than a wake-up per triage taking the GIL from the loop mid-iteration and committing
        # the first triage alone.
        arriving = self._arriving.get(loop)
        if arriving is None:
            arriving = self._arriving[loop] = []
            loop.call_soon(self._hand_over, loop)
        arriving.append((fn, args, future, loop, grouped))
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._arriving.pop(loop))

    def _run(self) -> None:
        groups: dict[Engine, batch.Group] = {}
        try:
            while True:
                items = [self._queue.get()]
                while True:  # take everything already waiting: one transaction, one wake-up of the loop
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if any(type(item) is list for item in items):  # a loop's arrivals, handed over together
                    items = [one for item in items for one in (item if type(item) is list else (item,))]
                work = [item for item in items if item is not _STOP]
                self._deliver(work, self._run_batch(work, groups))
                for group in groups.values():
                    group.checkpoint()  # after the answers: nobody waits on it
                if len(work) < len(items):
                    self._queue.put(_STOP)  # pass it on: every writer thread must see one
                    return
        finally:
            for group in groups.values():
                group.rollback()

    def _run_batch(self, work: list[Work], groups: dict[Engine, batch.Group]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = [(True, None)] * len(work)
        segment: list[int] = []  # the grouped work since the last commit
        for index, (fn, args, _, _, grouped) in enumerate(work):
            if not grouped:
                self._commit(work, groups, segment, outcomes)  # hold no lock into work of its own
                outcomes[index] = _call(fn, args)
                continue
            with batch.grouping(groups):
                outcomes[index] = _call(fn, args)
            segment.append(index)
            if any(group.spoiled for group in groups.values()):
                self._alone(work, groups, segment, outcomes)
        self._commit(work, groups, segment, outcomes)
        return outcomes

    def _commit(
        self, work: list[Work], groups: dict[Engine, batch.Group], segment: list[int], outcomes: list[tuple[bool, Any]]
    ) -> None:
        callbacks = []
        try:
            for group in groups.values():
                group.commit()
                callbacks += group.take_callbacks()
        except Exception as exc:
            log.warning(
                "group commit failed; writing each triage on its own",
                extra={"error": type(exc).__name__, "size": len(segment)},
            )
            self._alone(work, groups, segment, outcomes)
            return
        segment.clear()
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:
                log.warning("after-commit callback failed", extra={"error": type(exc).__name__})

    @staticmethod
    def _alone(
        work: list[Work], groups: dict[Engine, batch.Group], segment: list[int], outcomes: list[tuple[bool, Any]]
    ) -> None:
        """Roll the groups back and run each triage of the segment in a transaction of its own
        (what they answered against the rolled-back transaction no longer holds)."""
        for group in groups.values():
            group.rollback()
        for index in segment:
            fn, args, _, _, _ = work[index]
            outcomes[index] = _call(fn, args)
        segment.clear()

    @staticmethod
    def _deliver(work: list[Work], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_, _, future, loop, _), (ok, value) in zip(work, outcomes, strict=True):
            if future is None or loop is None:
                if not ok:
                    log.error("background database write failed", extra={"error": type(value).__name__})
                continue
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, results)

    def close(self) -> None:
        self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=30)


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    try:
        return True, fn(*args)
    except BaseException as exc:  # handed to the caller, who decides
        return False, exc


def _resolve(results: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
