"""Several server processes on one port: a supervising parent and N forked workers (SO_REUSEPORT).

The parent does what must happen once (schema migrations, root credentials, the TLS certificate:
`cli.serve` does those before calling `run_workers`), checks that the port is free, then forks the
workers. Each worker opens its own stores and connection pools and binds its own listening socket
with SO_REUSEPORT, so the kernel spreads connections over them; correctness across workers comes
from the metadata database (SQLite WAL with busy timeouts, or PostgreSQL row locks), never from
shared memory. Only worker 0 runs the periodic housekeeping.

SIGTERM or SIGINT to the parent is passed to every worker, which stops accepting, lets requests in
flight finish (up to the shutdown timeout) and exits; the parent then exits 0. A worker that dies on
its own takes the others down with it and the parent exits 1, for a supervisor (systemd, Docker) to
restart the whole set rather than run on with fewer workers than asked for.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

from s3server.config import available_cores, worker_count

__all__ = ["available_cores", "check_port_free", "run_workers", "worker_count"]

log = logging.getLogger("s3server.workers")

_PR_SET_PDEATHSIG = 1
EXIT_GRACE = 15.0  # seconds past the shutdown timeout before a worker is killed


def check_port_free(host: str, port: int) -> None:
    """Bind (without SO_REUSEPORT) every address host:port resolves to, and let go: raises OSError
    when something already listens there, rather than silently sharing the port with it."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the parent dies without passing a signal on (SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _worker_main(serve: Callable[[int], int], index: int, parent: int) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        raise SystemExit(1)
    raise SystemExit(serve(index))


def run_workers(serve: Callable[[int], int], workers: int, shutdown_timeout: float) -> int:
    """Fork `workers` processes, each running serve(index) until it is signalled; supervise them.

    Returns the parent's exit code: 0 after a requested shutdown in which every worker exited 0.
    """
    context = multiprocessing.get_context("fork")
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    stop_requested: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous_wakeup = signal.set_wakeup_fd(wake_write)
    processes: list[BaseProcess] = []
    try:
        for index in range(workers):
            process = context.Process(
                target=_worker_main, args=(serve, index, os.getpid()), name=f"s3server-worker-{index}"
            )
            process.start()
            processes.append(process)
        log.info("started %d workers: %s", workers, " ".join(str(p.pid) for p in processes))
        failed = _supervise(processes, wake_read, stop_requested)
        if failed is not None:
            log.error("worker %s exited with %s; stopping the others", failed.pid, failed.exitcode)
        code = _stop_all(processes, shutdown_timeout + EXIT_GRACE)
        return 1 if failed is not None else code
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)


def _supervise(processes: list[BaseProcess], wake_read: int, stop_requested: list[int]) -> BaseProcess | None:
    """Wait until a signal arrives (None) or a worker exits by itself (that worker)."""
    sentinels = {p.sentinel: p for p in processes}
    while not stop_requested:
        ready = multiprocessing.connection.wait([*sentinels, wake_read])
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
        for sentinel in ready:
            if sentinel in sentinels:
                sentinels[sentinel].join()
                return sentinels[sentinel]
    log.info("signal %d: stopping %d workers", stop_requested[0], len(processes))
    return None


def _stop_all(processes: list[BaseProcess], timeout: float) -> int:
    """SIGTERM every worker still running, wait for them (SIGKILL after `timeout`); 0 if all exited 0."""
    for process in processes:
        if process.exitcode is None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    code = 0
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            log.error("worker %s did not stop within %.0fs; killing it", process.pid, timeout)
            process.kill()
            process.join()
        # A worker signalled before its event loop took over SIGTERM had nothing in flight yet.
        if process.exitcode not in (0, -signal.SIGTERM):
            code = 1
    return code
