"""`lbp-triage serve --workers N`: the workers share the connections between them.

With uvicorn's one shared listening socket, the first worker to wake accepted every connection
waiting: a client opening its keep-alive pool at once had nearly all of it served by one worker
while the others idled. Each worker now listens on a socket of its own (SO_REUSEPORT)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.kit.workers import check_port_free, reuse_port_supported
from tests.conftest import _free_port

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux's")


def _start(tmp_path: Path, port: int, workers: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["LBP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'w.db'}"
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--workers", str(workers), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"),  # the process holds it
    )


def _children(parent: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(entry))
    return found


def _listening_sockets(port: int) -> int:
    """How many sockets listen on `port` (/proc/net/tcp state 0A): one per worker that has started."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            count += int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    return count


def _established_by_process(port: int, pids: set[int]) -> dict[int, int]:
    """How many established connections to `port` each of `pids` holds (/proc/net/tcp)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    held = {}
    for pid in pids:
        mine = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            found = re.fullmatch(r"socket:\[(\d+)\]", target)
            mine += bool(found and found.group(1) in inodes)
        held[pid] = mine
    return held


def _wait_ready(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


def test_connections_opened_at_once_are_spread_over_the_workers(tmp_path):
    port = _free_port()
    server = _start(tmp_path, port, workers=2)
    connections: list[socket.socket] = []
    try:
        _wait_ready(f"http://127.0.0.1:{port}", server, tmp_path / "serve.log")
        deadline = time.monotonic() + 60
        while _listening_sockets(port) < 2:  # a worker listens once its start-up is done
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.1)
        # 32 connections opened together, as a client's pool is, then each asked one request
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        for connection in connections:
            connection.settimeout(10)
            assert connection.recv(64).startswith(b"HTTP/1.1 200"), "every connection is served"
        held = _established_by_process(port, _children(server.pid))
        served = {pid: count for pid, count in held.items() if count}
        assert sum(held.values()) == 32, held
        # hashed over two sockets, 32 connections split 16:16 give or take; fewer than 4 on one
        # worker happens about once in 400,000 starts
        assert len(served) == 2 and min(served.values()) >= 4, held
    finally:
        for connection in connections:
            connection.close()
        server.terminate()
        server.wait(timeout=30)


def test_a_port_already_served_is_refused_not_shared(tmp_path):
    """SO_REUSEPORT lets a second group of the same user join the first and take half its
    connections; the start-up check refuses a port anything listens on."""
    port = _free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(OSError):
            check_port_free("127.0.0.1", port)
        server = _start(tmp_path, port, workers=2)
        try:
            assert server.wait(timeout=60) != 0
        finally:
            if server.poll() is None:
                server.kill()
    assert "in use" in (tmp_path / "serve.log").read_text().lower()


def test_a_worker_takes_no_connection_before_its_start_up_is_done():
    """Its socket joins the group unlistened: uvicorn listens once the worker has started (its
    migration included), so no connection waits in the queue of a worker still starting while
    the others serve. A bound socket that does not listen is given no connections."""
    from app.kit.workers import bind_reuse_port

    port = _free_port()
    with bind_reuse_port("127.0.0.1", port, backlog=16) as starting:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        starting.listen(16)  # what the worker's event loop does once started
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_uvicorn_without_its_proxy_headers_and_access_log(monkeypatch, workers):
    """X-Forwarded-* are the service's to judge (LBP_TRUSTED_PROXIES): uvicorn would believe them
    from any loopback peer. The service logs each request itself; uvicorn's line would repeat it
    with the raw path and query string."""
    import uvicorn

    import app.kit.workers as workers_module
    from app import cli

    given = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: given.update(options, app=app))
    monkeypatch.setattr(workers_module, "run_workers", lambda config: given.update(vars(config), app=config.app))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-not-made")  # not made for this call
    assert cli.main(["serve", "--workers", str(workers), "--port", "8123", "--timeout-graceful-shutdown", "20"]) == 0
    assert given["app"] == "app.main:app"
    assert given["proxy_headers"] is False and given["access_log"] is False
    assert given["timeout_graceful_shutdown"] == 20 and given["workers"] == workers
