"""What the peer drivers share (standard library only: each driver runs in its own tool's virtualenv).

Scenarios, counted the same way for every tool:
  chain   N no-op tasks in a line: task i+1 starts after task i succeeded.  Tasks run: N.
  fanout  1 -> N -> 1: a root task, N tasks that each wait for the root, a sink that waits for all N.  Tasks run: N + 2.
perNodeMs = wallMs / tasks and nodesPerSec = tasks / wall seconds, over every task that ran.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


def log(line: str) -> None:
    """A progress line on stderr (stdout carries only the result line)."""
    sys.stderr.write(f"[peer {time.strftime('%H:%M:%S')}] {line}\n")
    sys.stderr.flush()


def parse_args(tool: str, extra: Optional[Callable[[argparse.ArgumentParser], None]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"{tool}_bench.py", description=f"Runs one pipectl benchmark scenario on {tool}.")
    p.add_argument("--scenario", choices=["chain", "fanout"], required=True)
    p.add_argument("--nodes", type=int, required=True, help="chain length, or the width of the fan-out")
    p.add_argument("--state-dir", required=True, help="folder for the tool's durable state and logs (created)")
    p.add_argument("--pg-url", default=None, help="postgres://user:pass@host:port/db to hold the tool's metadata")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the run to finish")
    if extra:
        extra(p)
    a = p.parse_args()
    # SIGTERM (run.ts on timeout) unwinds like an exception, so the driver's `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.nodes < 1:
        p.error("--nodes must be at least 1")
    a.state_dir = os.path.abspath(a.state_dir)
    os.makedirs(a.state_dir, exist_ok=True)
    return a


def task_count(scenario: str, nodes: int) -> int:
    return nodes if scenario == "chain" else nodes + 2


def task_ids(scenario: str, nodes: int) -> list[str]:
    """Task names, in an order where every task comes after its upstreams."""
    if scenario == "chain":
        return [f"n{i:05d}" for i in range(nodes)]
    return ["root"] + [f"m{i:05d}" for i in range(nodes)] + ["sink"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sqlalchemy_pg_url(url: str, driver: str) -> str:
    """postgres://… or postgresql://… as SQLAlchemy's postgresql+<driver>://…"""
    for prefix in ("postgresql+psycopg2://", "postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return f"postgresql+{driver}://" + url[len(prefix) :]
    raise SystemExit(f"--pg-url must start with postgres:// or postgresql:// (got {url!r})")


@dataclass
class Processes:
    """Long-running processes a driver started, each in its own process group, stopped together at the end."""

    log_dir: str
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        out = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        log(f"starting {name}: {' '.join(argv)} (log: {out.name})")
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.started.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}; see {os.path.join(self.log_dir, name + '.log')}"
                )

    def stop_all(self, grace: float = 20.0) -> None:
        for name, proc in reversed(self.started):
            if proc.poll() is None:
                log(f"stopping {name} (pid {proc.pid})")
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, proc in reversed(self.started):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in {grace:.0f}s: killing it")
            # The group may hold children (executor workers) that outlive their parent.
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.started.clear()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def http_json(
    method: str, url: str, body: Any = None, headers: Optional[dict[str, str]] = None, timeout: float = 30.0
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=timeout) as res:
        raw = res.read()
    return json.loads(raw) if raw else None


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5, procs: Optional[Processes] = None) -> Any:
    """Calls check until it returns a truthy value (errors count as not yet) or the timeout passes."""
    deadline = time.monotonic() + timeout
    last_err: Optional[BaseException] = None
    while time.monotonic() < deadline:
        if procs:
            procs.check_alive()
        try:
            v = check()
            if v:
                return v
        except (urllib.error.URLError, ConnectionError, OSError, ValueError, KeyError) as e:
            last_err = e
        time.sleep(every)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f}s" + (f" (last error: {last_err})" if last_err else ""))


def emit(
    *,
    tool: str,
    version: str,
    scenario: str,
    nodes: int,
    wall_ms: float,
    setup_ms: float,
    variant: str,
    succeeded: int,
    notes: str,
    extra: Optional[dict[str, Any]] = None,
) -> None:
    """Prints the one result line on stdout."""
    tasks = task_count(scenario, nodes)
    result: dict[str, Any] = {
        "tool": tool,
        "version": version,
        "scenario": scenario,
        "nodes": nodes,
        "tasks": tasks,
        "succeeded": succeeded,
        "wallMs": round(wall_ms, 1),
        "perNodeMs": round(wall_ms / tasks, 2),
        "nodesPerSec": round(tasks / (wall_ms / 1000.0), 2) if wall_ms > 0 else None,
        "setupMs": round(setup_ms, 1),
        "variant": variant,
        "notes": notes,
        # The machine is shared: how busy it was over the last minute, to judge the number by.
        "loadAvg1m": round(os.getloadavg()[0], 2),
    }
    if extra:
        result.update(extra)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0
