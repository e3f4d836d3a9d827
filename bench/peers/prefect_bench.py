"""Prefect peer of pipectl's benchmark: a flow whose no-op tasks form the scenario's shape, run against a Prefect server.

  bench/.peers/prefect/venv/bin/python bench/peers/prefect_bench.py --scenario chain --nodes 100 --state-dir DIR
      [--pg-url postgres://...]

Setup (reported as setupMs): `prefect server start` on a free local port with PREFECT_HOME=DIR/prefect_home, its
database in SQLite there (or in PostgreSQL with --pg-url); the server migrates the database on start; the driver waits
for /api/health.
Measured (wallMs): calling the flow in this process with PREFECT_API_URL pointing at that server, from the call to its
return. The flow submits every task to Prefect's default task runner (ThreadPoolTaskRunner) with `wait_for` on its
upstream futures (chain: the previous task; fan-out: the root, and the sink on all N), and waits for the last one.
Flow and task runs and their states are recorded by the server. A sync flow's call returns only at the end of the
1-second sleep its heartbeat thread is in (see README.md), so wallMs comes out near whole seconds plus ~0.1 s.
Verified: the server's task runs of this flow run, counted in state COMPLETED. Task-run states reach the server as
asynchronous events, so the count is polled (every 0.05 s, from a thread, from when the flow's body has its last
result: not held up by that heartbeat wait) until it is complete; the time from the trigger to then is recordedMs.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time

# No __pycache__ beside the drivers in the repository.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import (  # noqa: E402
    Processes,
    Timer,
    emit,
    free_port,
    http_json,
    log,
    parse_args,
    sqlalchemy_pg_url,
    task_count,
    wait_until,
)


def main() -> None:
    args = parse_args("prefect")
    setup = Timer()
    home = os.path.join(args.state_dir, "prefect_home")
    logs = os.path.join(args.state_dir, "logs")
    os.makedirs(home, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    db_url = (
        sqlalchemy_pg_url(args.pg_url, "asyncpg")
        if args.pg_url
        else "sqlite+aiosqlite:///" + os.path.join(home, "prefect.db")
    )
    db = "postgres" if args.pg_url else "sqlite"
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=home,
        PREFECT_API_DATABASE_CONNECTION_URL=db_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
    )
    env.pop("PREFECT_API_URL", None)
    # The flow below runs in this process and talks to the server through these.
    os.environ.update(PREFECT_HOME=home, PREFECT_API_URL=api)
    os.environ.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)

    procs = Processes(logs)
    try:
        server_bin = os.path.join(os.path.dirname(sys.executable), "prefect")
        procs.start("prefect-server", [server_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env)
        wait_until("prefect server", lambda: http_json("GET", f"{api}/health", timeout=5) is True, 180, procs=procs)

        import prefect
        from prefect import flow, task
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import TaskRunSort
        from prefect.context import get_run_context

        @task(name="noop")
        def noop(name: str) -> None:
            return None

        # Set by the flow's body once it has its last task's result, with the flow run's id: the poll for recordedMs
        # starts then.
        body_done = threading.Event()
        body_of: dict = {}

        @flow(name=f"pipectl-bench-{args.scenario}-{args.nodes}")
        def bench_flow(scenario: str, nodes: int) -> None:
            if scenario == "chain":
                f = noop.with_options(task_run_name="n00000").submit("n00000")
                for i in range(1, nodes):
                    f = noop.with_options(task_run_name=f"n{i:05d}").submit(f"n{i:05d}", wait_for=[f])
                f.result()
            else:
                root = noop.with_options(task_run_name="root").submit("root")
                mids = [
                    noop.with_options(task_run_name=f"m{i:05d}").submit(f"m{i:05d}", wait_for=[root])
                    for i in range(nodes)
                ]
                noop.with_options(task_run_name="sink").submit("sink", wait_for=mids).result()
            body_of["flow_run_id"] = get_run_context().flow_run.id
            body_done.set()

        # One run of a one-task flow first pays for cold caches (imports, the client's connection, the server's first
        # writes), as in a deployment that has been running; it counts as setup.
        warm = bench_flow.with_options(name="pipectl-bench-warmup")("chain", 1, return_state=True)
        if not warm.is_completed():
            raise RuntimeError(f"the warm-up flow run ended {warm.type.value}")
        setup_ms = setup.ms()
        log(f"prefect {prefect.__version__}: server at {api} ({db} in {home}) ready and warm in {setup_ms:.0f} ms")

        expected = task_count(args.scenario, args.nodes)

        def completed() -> int:
            flow_run_id = body_of["flow_run_id"]
            with get_client(sync_client=True) as client:
                fr = client.read_flow_run(flow_run_id)
                if fr.state is None or fr.state.type != StateType.COMPLETED:
                    return 0
                n, offset = 0, 0
                while True:
                    page = client.read_task_runs(
                        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                        sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                        limit=200,
                        offset=offset,
                    )
                    n += sum(1 for tr in page if tr.state is not None and tr.state.type == StateType.COMPLETED)
                    if len(page) < 200:
                        return n
                    offset += 200

        counted = {"n": 0}
        polled: dict = {}

        def all_completed() -> bool:
            counted["n"] = completed()
            return counted["n"] == expected

        def poll() -> None:
            # Polls while the flow call is still returning (its heartbeat wait), so recordedMs is not held up by it.
            try:
                if not body_done.wait(args.timeout):
                    raise TimeoutError(f"the flow's body did not finish in {args.timeout:.0f}s")
                wait_until("task runs recorded as COMPLETED", all_completed, 120, every=0.05)
                polled["ms"] = (time.perf_counter() - started) * 1000.0
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                polled["error"] = e

        # The warm-up run went through the body too.
        body_done.clear()
        body_of.clear()
        # In this thread's context, so its client talks to the same server (PREFECT_API_URL) as the flow.
        poller = threading.Thread(target=contextvars.copy_context().run, args=(poll,), name="poll", daemon=True)
        poller.start()
        started = time.perf_counter()
        state = bench_flow(args.scenario, args.nodes, return_state=True)
        wall_ms = (time.perf_counter() - started) * 1000.0
        log(f"flow run {state.state_details.flow_run_id} returned {state.type.value} after {wall_ms:.0f} ms")
        if not state.is_completed():
            # The body failed before its last result: the poll counts what the server recorded all the same.
            body_of.setdefault("flow_run_id", state.state_details.flow_run_id)
            body_done.set()
        poller.join()
        if "error" in polled:
            error = polled["error"]
            log(f"flow state {state.type.value}; {counted['n']}/{expected} task runs COMPLETED on the server ({error})")
            sys.exit(3)
        recorded_ms = polled["ms"]

        emit(
            tool="prefect",
            version=prefect.__version__,
            scenario=args.scenario,
            nodes=args.nodes,
            wall_ms=wall_ms,
            setup_ms=setup_ms,
            variant=f"server+{db}+ThreadPoolTaskRunner",
            succeeded=counted["n"],
            notes=(
                f"prefect server start ({db}); flow called in the driver process against the server, tasks submitted "
                "to the default ThreadPoolTaskRunner with wait_for on upstream futures; default settings "
                "(no result persistence); after one warm-up flow run (in setupMs); task-run states reach the server "
                "as asynchronous events, so recordedMs (trigger to every task run COMPLETED on the server, polled "
                "every 0.05 s from when the flow body had its last result) is also given; the flow call returns at "
                "the end of its heartbeat thread's current 1-s sleep, so wallMs falls near whole seconds"
            ),
            extra={"recordedMs": round(recorded_ms, 1)},
        )
    finally:
        drain_to_server()
        procs.stop_all()


def drain_to_server() -> None:
    """Sends the logs and events Prefect still holds to the server while it runs (else they retry at exit)."""
    if "prefect" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)
    except Exception as e:  # noqa: BLE001 - best effort on the way out
        log(f"could not drain Prefect's log/event workers: {e}")


if __name__ == "__main__":
    main()
