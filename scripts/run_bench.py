"""Side-by-side benchmark of MLflow-protocol tracking servers (issue 5).

    python scripts/run_bench.py                 # make bench: modelops, mlflow server, FastTrackML, modelops on PG
    python scripts/run_bench.py --quick         # the same in under a couple of minutes, tiny sizes
    python scripts/run_bench.py --url http://127.0.0.1:5000 [--server-pid PID]   # any running server

Workloads (every answer is checked; a fast wrong answer never counts):
  W1 log-batch ingest          runs x 100 keys x 100 steps, batches of 1,000 metrics
  W2 single log-metric calls   1 and N client threads
  W3 search                    filter + order, top 100 of N runs; full paged scan (pages of 1,000)
  W4 metric history            get-history of one long metric (all pages); get-history-bulk-interval
  W5 proxied artifacts         upload and download of one big file, sha256 checked
  W6 model registry            versions created from a run's model, search by name, get by alias
  W7 footprint                 RSS of the server's process tree; cold start to the first API answer

Each workload runs interleaved across the servers (A W1, B W1, C W1, then W2 …), repeated
``--repetitions`` times; the table shows the median (min–max). The seeding of W3 and W4 is done once
per server and is not timed. Before each timed workload the bench waits until the machine is quiet
(under 10% of a core busy for 0.5 s), and after each start until the started server's process tree
is: a server still loading, or a database still working off the last workload, would otherwise be
measured into whichever server runs next. Results go to bench-results/bench-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import profile, report, servers, workloads
from bench.client import Client
from bench.workloads import ServerState, Sizes

ROOT = Path(__file__).resolve().parent.parent
ALL_WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"]
ALL_SERVERS = ["modelops", "mlflow", "fasttrackml", "modelops-pg"]

DEFAULTS = {
    "runs": 10,
    "search_runs": 10_000,
    "history_steps": 100_000,
    "artifact_mb": 100,
    "artifact_repeats": 5,
    "versions": 500,
    "repetitions": 3,
    "metric_calls": 1000,
    "search_repeats": 5,
    "version_search_repeats": 25,
    "bulk_repeats": 10,
    "alias_calls": 200,
    "time_cap": 60.0,
    "search_scale_runs": 100_000,
}
QUICK = {
    "runs": 1,
    "search_runs": 100,
    "history_steps": 2_000,
    "artifact_mb": 10,
    "artifact_repeats": 1,
    "versions": 10,
    "repetitions": 1,
    "metric_calls": 50,
    "search_repeats": 2,
    "version_search_repeats": 3,
    "bulk_repeats": 3,
    "alias_calls": 20,
    "time_cap": 3.0,
    "search_scale_runs": 1_000,
}

_started = time.perf_counter()


def log(message: str) -> None:
    elapsed = time.perf_counter() - _started
    print(f"[{int(elapsed // 60):3d}:{elapsed % 60:04.1f}] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition, no restarts: about a minute")
    p.add_argument("--url", help="benchmark this running server only (no servers are started)")
    p.add_argument("--server-pid", type=int, help="with --url: the server's pid, for W7's RSS")
    p.add_argument(
        "--servers",
        default=",".join(ALL_SERVERS),
        help=f"which servers to start (default: all of {','.join(ALL_SERVERS)} that are installed)",
    )
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="e.g. W1,W3 (default: all)")
    g = p.add_argument_group("sizes (defaults: make bench; --quick: tiny)")
    g.add_argument("--runs", type=int, help=f"W1 runs of 100 keys x 100 steps (default {DEFAULTS['runs']})")
    g.add_argument("--search-runs", type=int, help=f"W3 experiment size (default {DEFAULTS['search_runs']:,})")
    g.add_argument("--history-steps", type=int, help=f"W4 history length (default {DEFAULTS['history_steps']:,})")
    g.add_argument("--artifact-mb", type=int, help=f"W5 file size in MiB (default {DEFAULTS['artifact_mb']})")
    g.add_argument(
        "--artifact-repeats",
        type=int,
        help=f"W5 uploads and downloads timed per repetition, the median reported (default "
        f"{DEFAULTS['artifact_repeats']}: one 100 MiB transfer takes 50-100 ms here, and a single "
        f"one measured this VM's slow and fast moments as much as the server)",
    )
    g.add_argument("--versions", type=int, help=f"W6 model versions (default {DEFAULTS['versions']})")
    g.add_argument("--repetitions", type=int, help=f"repetitions (default {DEFAULTS['repetitions']})")
    g.add_argument(
        "--metric-calls", type=int, help=f"W2 log-metric calls per mode (default {DEFAULTS['metric_calls']})"
    )
    g.add_argument("--threads", type=int, default=8, help="W2 concurrent client threads (default 8)")
    g.add_argument("--search-repeats", type=int, help="W3 searches timed per repetition (default 5)")
    g.add_argument(
        "--version-search-repeats",
        type=int,
        help="W6 searches timed per repetition (default 25: each takes milliseconds, and the median "
        "of 5 taken within 50 ms measured this VM's slow and fast phases, not the server)",
    )
    g.add_argument("--bulk-repeats", type=int, help="W4 bulk-interval calls per repetition (default 10)")
    g.add_argument("--alias-calls", type=int, help="W6 get-by-alias calls per repetition (default 200)")
    g.add_argument(
        "--time-cap",
        type=float,
        help="seconds after which the W1/W2/W6 loops stop early; rates stay valid (default 60)",
    )
    g.add_argument(
        "--search-scale",
        dest="search_scale",
        action="store_true",
        default=True,
        help="also seed --search-scale-runs runs on our server(s) and time the same search there "
        "(default: on; issue 5 asks for the search to stay flat from 10,000 to 100,000 runs)",
    )
    g.add_argument("--no-search-scale", dest="search_scale", action="store_false")
    g.add_argument("--search-scale-runs", type=int, help="default 100,000")
    g.add_argument("--seed-threads", type=int, default=8, help="client threads for the untimed seeding")
    s = p.add_argument_group("servers")
    s.add_argument("--modelops-bin", default=str(ROOT / ".venv/bin/modelops"))
    s.add_argument("--mlflow-bin", default=str(ROOT / ".venv-bench/bin/mlflow"))
    s.add_argument("--fml-bin", default=str(ROOT / ".venv-bench/bin/fml"))
    s.add_argument(
        "--pg-dsn",
        default=os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
        help="admin connection used to create and drop the bench_<random> database",
    )
    s.add_argument("--pg-workers", type=int, default=4)
    s.add_argument(
        "--restart",
        dest="restart",
        action="store_true",
        default=None,
        help="restart every server before each repetition, timing the cold start (default, not --quick)",
    )
    s.add_argument("--no-restart", dest="restart", action="store_false")
    s.add_argument(
        "--cold",
        action="store_true",
        help="time W3 and W4 without their untimed warm-up pass (on a machine that pages out "
        "idle file pages, that times its disk)",
    )
    p.add_argument("--out-dir", default=str(ROOT / "bench-results"))
    p.add_argument("--keep-tmp", action="store_true", help="keep the servers' temporary directories")
    p.add_argument(
        "--py-spy",
        metavar="DIR",
        help="record each server's process tree with py-spy during each timed workload (not the "
        "seeding) into DIR/<server>-<workload>-rep<N>.txt and print the hottest functions; "
        "the numbers of such a run are for finding hot spots, not for the table",
    )
    args = p.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.restart is None:
        args.restart = not args.quick
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    return args


def machine_info() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    info["ram_gib"] = round(int(line.split()[1]) / (1 << 20), 1)
                    break
    except OSError:
        pass
    return info


# What the reference servers run on, as installed in the bench venv: their own dependencies are
# not pinned (a fresh venv takes the newest), and one of them can move the reference a lot (uvicorn
# 0.55.0 set TCP_NODELAY on multi-worker sockets, taking ~40 ms off each keep-alive request).
PEER_PACKAGES = ("mlflow", "uvicorn", "starlette", "fastapi", "flask", "werkzeug", "sqlalchemy", "fasttrackml")


def peer_versions(mlflow_bin: str) -> dict:
    python = Path(mlflow_bin).with_name("python")
    if not python.exists():
        return {}
    script = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    try:
        done = subprocess.run([str(python), "-c", script, *PEER_PACKAGES], capture_output=True, text=True, timeout=60)
        return json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


class External:
    """A server we did not start (--url)."""

    def __init__(self, url: str, pid: int | None):
        self.url, self._pid = url.rstrip("/"), pid
        self.key, self.label = "server", url

    @property
    def pid(self) -> int | None:
        return self._pid

    def rss(self):
        return servers.tree_rss(self._pid) if self._pid else (0, 0)


def build_servers(args, tmp: Path, notes: list[str]) -> tuple[list, object | None]:
    specs, pg = [], None
    for key in args.servers:
        if key == "modelops":
            specs.append(servers.modelops_spec(args.modelops_bin, tmp / "modelops"))
        elif key == "mlflow":
            if not Path(args.mlflow_bin).exists():
                notes.append(f"mlflow skipped: {args.mlflow_bin} not found (make bench creates .venv-bench)")
                continue
            specs.append(servers.mlflow_spec(args.mlflow_bin, tmp / "mlflow"))
        elif key == "fasttrackml":
            if not Path(args.fml_bin).exists():
                notes.append(f"FastTrackML skipped: {args.fml_bin} not found (pip install fasttrackml)")
                continue
            specs.append(servers.fasttrackml_spec(args.fml_bin, tmp / "fasttrackml"))
        elif key == "modelops-pg":
            try:
                pg = servers.PostgresDatabase(args.pg_dsn)
            except Exception as exc:  # no server, no driver, no rights: the column is left out
                notes.append(f"modelops on PostgreSQL skipped: {type(exc).__name__}: {str(exc).strip()[:200]}")
                continue
            specs.append(
                servers.modelops_spec(
                    args.modelops_bin,
                    tmp / "modelops-pg",
                    backend_uri=pg.uri,
                    workers=args.pg_workers,
                    key="modelops-pg",
                    label=f"modelops (PostgreSQL, {args.pg_workers} workers)",
                )
            )
        else:
            raise SystemExit(f"unknown server {key!r}; choose from {ALL_SERVERS}")
    return [servers.Server(spec) for spec in specs], pg


def describe(key: str, value) -> str:
    if isinstance(value, dict):
        return f"{key}={value.get('status')}" + (f" ({value.get('error', '')[:160]})" if value.get("error") else "")
    return f"{key}={report.fmt_number(value)}"


def main(argv=None) -> int:
    args = parse_args(argv)
    # make's or the user's SIGTERM still stops the servers and drops the database (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = Sizes(
        runs=args.runs,
        metric_calls=args.metric_calls,
        threads=args.threads,
        search_runs=args.search_runs,
        search_repeats=args.search_repeats,
        version_search_repeats=args.version_search_repeats,
        search_scale_runs=args.search_scale_runs if args.search_scale else 0,
        history_steps=args.history_steps,
        bulk_repeats=args.bulk_repeats,
        artifact_mb=args.artifact_mb,
        artifact_repeats=args.artifact_repeats,
        versions=args.versions,
        alias_calls=args.alias_calls,
        time_cap=args.time_cap,
        seed_threads=args.seed_threads,
        warm_up=not args.cold,
    )
    selected = args.workloads
    notes: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="modelops-bench-"))
    pg = None
    started_at = dt.datetime.now()
    machine_at_start = machine_info()
    peers = {} if args.url else peer_versions(args.mlflow_bin)
    # samples[server][metric] = [value or {"status", "error"} per repetition]
    samples: dict[str, dict[str, list]] = {}
    states: dict[str, ServerState] = {}
    run_servers: list = []
    try:
        if args.url:
            run_servers = [External(args.url, args.server_pid)]
        else:
            run_servers, pg = build_servers(args, tmp, notes)
        for note in notes:
            log(note)
        columns = [(s.key, getattr(s, "spec", s).label) for s in run_servers]

        def record(server, values: dict):
            per = samples.setdefault(server.key, {})
            for key, value in values.items():
                per.setdefault(key, []).append(value)

        def settle(server):
            """Wait until a server that just answered for the first time is done starting (its tree
            quiet), so that no workload, its own or another server's, is measured against it."""
            seconds, quiet = server.settle()
            record(server, {"w7.settle_s": seconds if quiet else workloads.failed(f"still busy after {seconds:.0f} s")})
            log(f"W7 {server.key}: quiet {seconds:.1f} s after its first answer" + ("" if quiet else " (timed out)"))

        # --- first start, on an empty database ------------------------------------------------
        for server in list(run_servers):
            if isinstance(server, External):
                continue
            try:
                seconds = server.start()
                log(f"{server.spec.label}: first start (empty db) {seconds:.2f} s on {server.url}")
                record(server, {"w7.first_start_s": seconds})
                settle(server)
            except RuntimeError as exc:
                notes.append(f"{server.spec.label} left out: {exc}")
                log(notes[-1])
                run_servers.remove(server)
                columns = [c for c in columns if c[0] != server.key]

        # --- untimed seeding, once per server --------------------------------------------------------
        for server in run_servers:
            api, state = Client(server.url), ServerState()
            states[server.key] = state
            if "W3" in selected:
                t = time.perf_counter()
                try:
                    state.search = workloads.seed_search(
                        api, sizes.search_runs, sizes.seed_threads, server.key, progress=log
                    )
                    log(f"{server.key}: seeded {sizes.search_runs:,} runs in {time.perf_counter() - t:.1f} s")
                except Exception as exc:
                    state.errors["search"] = f"{type(exc).__name__}: {exc}"[:500]
                    log(f"{server.key}: seeding W3 FAILED: {state.errors['search']}")
                if sizes.search_scale_runs and server.key.startswith("modelops"):
                    t = time.perf_counter()
                    try:
                        state.search_large = workloads.seed_search(
                            api, sizes.search_scale_runs, sizes.seed_threads, server.key, progress=log
                        )
                        log(f"{server.key}: seeded {sizes.search_scale_runs:,} runs in {time.perf_counter() - t:.1f} s")
                    except Exception as exc:
                        state.errors["search_large"] = f"{type(exc).__name__}: {exc}"[:500]
                        log(f"{server.key}: seeding the large W3 FAILED: {state.errors['search_large']}")
            if "W4" in selected:
                t = time.perf_counter()
                try:
                    state.history_run = workloads.seed_history(api, sizes.history_steps)
                    log(
                        f"{server.key}: seeded a {sizes.history_steps:,}-step history in "
                        f"{time.perf_counter() - t:.1f} s"
                    )
                except Exception as exc:
                    state.errors["history"] = f"{type(exc).__name__}: {exc}"[:500]
                    log(f"{server.key}: seeding W4 FAILED: {state.errors['history']}")
            api.close()

        # --- repetitions, each workload interleaved across the servers ---------------------------
        steps = [
            ("W1", lambda api, rep, state: workloads.w1_log_batch(api, sizes, rep)),
            ("W2", lambda api, rep, state: workloads.w2_log_metric(api, sizes, rep)),
            ("W3", lambda api, rep, state: workloads.w3_search(api, sizes, state)),
            ("W4", lambda api, rep, state: workloads.w4_history(api, sizes, state)),
            ("W5", lambda api, rep, state: workloads.w5_artifacts(api, sizes, rep)),
            ("W6", lambda api, rep, state: workloads.w6_registry(api, sizes, rep)),
        ]
        for rep in range(1, args.repetitions + 1):
            log(f"=== repetition {rep}/{args.repetitions}")
            if args.restart:
                for server in list(run_servers):
                    if isinstance(server, External):
                        continue
                    server.stop()
                    try:
                        seconds = server.start()
                        record(server, {"w7.cold_start_s": seconds})
                        log(f"W7 {server.key}: cold start {seconds:.2f} s")
                        settle(server)
                    except RuntimeError as exc:
                        record(server, {"w7.cold_start_s": workloads.failed(str(exc))})
                        log(f"W7 {server.key}: restart FAILED: {exc}")
            clients = {server.key: Client(server.url) for server in run_servers}
            for name, fn in steps:
                if name not in selected:
                    continue
                for server in run_servers:
                    # what an earlier workload left to write back (mlflow's W5 leaves ~500 MB of
                    # dirty pages, flushed by the kernel ~30 s later, into whatever runs then)
                    os.sync()
                    waited, quiet = servers.wait_quiet(timeout=30.0)
                    if not quiet:
                        log(f"{name} {server.key}: the machine was still busy after {waited:.0f} s; measuring anyway")
                    profiler = None
                    if args.py_spy and server.pid:
                        profiler = profile.Profiler(server.pid, Path(args.py_spy) / f"{server.key}-{name}-rep{rep}.txt")
                    t = time.perf_counter()
                    try:
                        values = fn(clients[server.key], rep, states.get(server.key, ServerState()))
                    except Exception as exc:  # a bug in a workload must not lose the other results
                        traceback.print_exc()
                        values = {f"{name.lower()}.error": workloads.failed(f"{type(exc).__name__}: {exc}")}
                    finally:
                        if profiler:
                            raw = profiler.stop()
                            summary = profile.summarize(raw)
                            raw.with_suffix(".md").write_text(summary + "\n")
                            log(f"py-spy {server.key} {name}: {raw}\n" + summary)
                    rss, _ = server.rss()
                    if rss:  # memory growth per workload, for the JSON (not in the table)
                        values[f"w7.rss_mb_after_{name}"] = rss / 1e6
                    record(server, values)
                    log(
                        f"{name} {server.key} ({time.perf_counter() - t:.1f} s): "
                        + ", ".join(describe(k, v) for k, v in values.items())
                    )
            for api in clients.values():
                api.close()
            if "W7" in selected:
                for server in run_servers:
                    rss, count = server.rss()
                    if rss:
                        record(server, {"w7.rss_mb": rss / 1e6, "w7.processes": count})
                        log(f"W7 {server.key}: RSS {rss / 1e6:.0f} MB in {count} processes")
    finally:
        for server in run_servers:
            if not isinstance(server, External):
                server.stop()
        if pg is not None:
            try:
                pg.drop()
            except Exception as exc:
                log(f"could not drop {pg.name}: {exc}")
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- the table and the JSON ------------------------------------------------------------
    summaries = {
        server: {key: report.summarize(values) for key, values in per.items()} for server, per in samples.items()
    }
    size_fields = asdict(sizes)
    size_fields["search_scale_runs"] = args.search_scale_runs
    table, rows = report.build_table(summaries, columns, size_fields, sizes.threads)
    scale_lines = []
    for server, per in summaries.items():
        small, large = per.get("w3.search_ms", {}), per.get("w3.search_large_ms", {})
        if "median" in small and "median" in large:
            scale_lines.append(
                f"search scaling on {server}: {large['median']:.1f} ms at {args.search_scale_runs:,} runs vs "
                f"{small['median']:.1f} ms at {sizes.search_runs:,} runs: "
                f"x{large['median'] / small['median']:.2f} for x{args.search_scale_runs / sizes.search_runs:.0f} runs "
                f"(both experiments in the same database)"
            )
    elapsed = time.perf_counter() - _started
    command = "python scripts/run_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print()
    print(f"## bench {started_at:%Y-%m-%d %H:%M} — {args.repetitions} repetition(s), medians (min–max)")
    m = machine_at_start
    print(
        f"{m.get('nproc')} cores ({m.get('cpu', '?')}), {m.get('ram_gib', '?')} GiB, Python {m.get('python')}; "
        f"load average {m['loadavg'][0]:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    if peers:
        print("reference servers' packages: " + ", ".join(f"{name} {version}" for name, version in peers.items()))
    print()
    print(table)
    print()
    print(
        "↑ higher is better, ↓ lower is better. 'ours vs X': how many times faster (or smaller) "
        "modelops on SQLite is than X; rates are ours/theirs, times and sizes theirs/ours."
    )
    for line in scale_lines + notes:
        print("- " + line)
    failures = [
        (server, key, s.get("error", ""))
        for server, per in summaries.items()
        for key, s in per.items()
        if s.get("status") == "failed"
    ]
    for server, key, error in failures:
        print(f"- FAILED {server} {key}: {error[:300]}")
    print(f"\nTotal bench time: {elapsed / 60:.1f} min")

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"bench-{started_at:%Y%m%d-%H%M%S}.json"
    versions = {}
    if not args.url:
        versions = {
            "mlflow": servers.tool_version([args.mlflow_bin, "--version"]) if Path(args.mlflow_bin).exists() else None,
            "fasttrackml": servers.tool_version([args.fml_bin, "--version"]) if Path(args.fml_bin).exists() else None,
        }
    out.write_text(
        json.dumps(
            {
                "started_at": started_at.isoformat(timespec="seconds"),
                "seconds": round(elapsed, 1),
                "command": command,
                "machine": machine_at_start,
                "peer_packages": peers,
                "loadavg_at_end": list(os.getloadavg()),
                "versions": versions,
                "sizes": size_fields,
                "repetitions": args.repetitions,
                "restart_each_repetition": args.restart,
                "servers": dict(columns),
                "samples": samples,
                "summaries": summaries,
                "ratios": rows,
                "search_scaling": scale_lines,
                "notes": notes,
                "table": table,
            },
            indent=1,
            default=str,
        )
    )
    print(f"Results: {out}")
    return 1 if failures and any(server == "modelops" for server, _, _ in failures) else 0


if __name__ == "__main__":
    sys.exit(main())
