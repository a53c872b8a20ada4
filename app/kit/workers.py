"""Several uvicorn worker processes, each accepting on a listening socket of its own.

`uvicorn --workers N` binds one socket and shares it: every idle worker is woken by a new
connection, and the first to run accepts all that are waiting. A client that opens its pool of
keep-alive connections at once (an EHR's interface engine, a load generator) so lands on one
worker: measured with 16 connections and 2 workers, 15 on one and 1 on the other, which sat
idle while the first saturated. Here each worker binds its own socket to the same address
with SO_REUSEPORT, and the kernel spreads new connections over the sockets of the group by
their addresses.

uvicorn's supervisor stays as it is (health checks, restarts, SIGHUP, SIGTTIN/SIGTTOU): it
hands each worker process the "sockets" it was given, pickled; what it is given here is a
`ReusePortListener`, which a new worker process unpickles as a socket of its own. A worker
that cannot bind exits as a failed start-up, which stops the supervisor, as uvicorn's own
would. Connections still waiting in a worker's queue when it dies are lost with it (they
would have been served by another worker with one shared socket): restarts are for crashes.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

log = logging.getLogger("uvicorn.error")


def reuse_port_supported() -> bool:
    """Linux (3.9+) balances connections over the sockets of an SO_REUSEPORT group; the BSDs
    and macOS accept the option but give every connection to the last socket bound."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Raise OSError (EADDRINUSE) unless nothing listens on host:port. Bound without SO_REUSEPORT,
    so that an instance already serving there (even one of these groups, of the same user) is
    found, rather than joined and handed half of its connections. (Two instances started in the
    same instant can both pass it; a port is not a lock between instances.)"""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT is no listener
        probe.bind((host, port))


def bind_reuse_port(host: str, port: int, backlog: int) -> socket.socket:
    """A socket bound to host:port in the SO_REUSEPORT group of this address, for a worker.
    Not listening yet: uvicorn listens on it once the worker's start-up is done (the event
    loop's create_server), so that no connection waits in the queue of a worker still starting
    (migrating, say) while the others serve. In a worker process, a failure ends it as a failed
    start-up (uvicorn's exit code 3): the supervisor then stops instead of restarting it over
    and over. (`backlog`: uvicorn's own, which it listens with.)"""
    from uvicorn.config import STARTUP_FAILURE

    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    return sock


class ReusePortListener:
    """Stands for a socket in the list uvicorn's supervisor hands to each worker: pickled into a
    new worker process, it is unpickled there as that worker's own listening socket."""

    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.host, self.port, self.backlog = host, port, backlog

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return bind_reuse_port, (self.host, self.port, self.backlog)


def serve(app: str, **options: Any) -> None:
    """uvicorn.run(app, **options), but several workers each on a socket of its own wherever the
    kernel balances them (a port chosen by the system, 0, would differ from worker to worker)."""
    import uvicorn

    if options.get("workers", 1) > 1 and options.get("port") != 0 and reuse_port_supported():
        run_workers(uvicorn.Config(app, **options))
    else:
        uvicorn.run(app, **options)


def run_workers(config: Any) -> None:
    """uvicorn's multi-process supervisor, each worker on a socket of its own.
    `config`: a uvicorn Config with workers > 1 and a TCP host and port (not 0)."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess

    try:
        check_port_free(config.host, config.port)
    except OSError as exc:  # as uvicorn's own bind: one line, its start-up failure status
        log.error(exc)
        sys.exit(STARTUP_FAILURE)
    shown = f"[{config.host}]" if ":" in config.host else config.host
    log.info("Uvicorn running on http://%s:%d, a socket per worker (Press CTRL+C to quit)", shown, config.port)
    listener: Any = ReusePortListener(config.host, config.port, config.backlog)
    Multiprocess(config, sockets=[listener]).run()
