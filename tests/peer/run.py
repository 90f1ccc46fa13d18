"""``make test-peer``: MLflow's own REST tests (``../shared/peer``) against ``modelops server``.

Runs the harness's ``run.sh`` with a fresh ``modelops server`` per test (SQLite, proxied
artifacts, the default artifact root each test asks for), skipping the harness's own skip list
(tests that fail against the reference server too) and ``out_of_scope.txt`` (whole feature groups
this server does not build). Fails when any other test fails, when an out-of-scope pattern
matches no test (a stale entry), or when a test left out of scope passed anyway.

    python tests/peer/run.py [extra pytest args, e.g. -k search]

Environment: ``PEER_DIR`` (default ``../shared/peer`` beside the project), ``MODELOPS_BIN``
(default ``.venv/bin/modelops``), and the harness's own variables (PEER_VENV, PEER_OUT, ...).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_OF_SCOPE = os.path.join(HERE, "out_of_scope.txt")


def patterns(path: str) -> list[tuple[str, str]]:
    """(pattern, reason) of a skip-list file: ``pattern  # reason`` lines, ``#`` comments."""
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern, _, reason = line.partition("#")
        out.append((pattern.strip(), reason.strip()))
    return out


def matches(nodeid: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(nodeid, pattern) or fnmatch.fnmatchcase(nodeid.split("[", 1)[0], pattern)


def main(argv: list[str]) -> int:
    peer = os.environ.get("PEER_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "peer")
    if not os.path.exists(os.path.join(peer, "run.sh")):
        print(f"test-peer: no harness at {peer} (set PEER_DIR)", file=sys.stderr)
        return 2
    modelops = os.path.abspath(os.environ.get("MODELOPS_BIN") or os.path.join(ROOT, ".venv", "bin", "modelops"))
    command = (
        f"exec {modelops} server --backend-store-uri sqlite:///{{workdir}}/db.sqlite "
        "--default-artifact-root {artifact_root} --serve-artifacts "
        "--artifacts-destination {artifacts_destination} --host {host} --port {port}"
    )
    ours = patterns(OUT_OF_SCOPE)
    with tempfile.TemporaryDirectory(prefix="test-peer-") as work:
        skiplist = os.path.join(work, "skiplist.txt")
        with open(skiplist, "w", encoding="utf-8") as fh:
            fh.write(open(os.path.join(peer, "skiplist.txt"), encoding="utf-8").read())
            fh.write("\n# -- out of scope for modelops-registry (tests/peer/out_of_scope.txt)\n")
            for pattern, reason in ours:
                fh.write(f"{pattern}  # out of scope: {reason}\n")
        out = os.environ.get("PEER_OUT") or os.path.join(work, "out")
        env = dict(os.environ, PEER_SKIPLIST=skiplist, PEER_OUT=out)
        subprocess.run(
            ["bash", os.path.join(peer, "run.sh"), os.path.join(peer, "mlflow-src"), command, *argv], env=env, cwd=ROOT
        )
        results_path = os.path.join(out, "results.json")
        if not os.path.exists(results_path):
            print("test-peer: the harness produced no results", file=sys.stderr)
            return 1
        results = json.load(open(results_path, encoding="utf-8"))
    return verdict(results, ours, filtered=bool(argv))


def verdict(results: dict, ours: list[tuple[str, str]], filtered: bool = False) -> int:
    """0 when every test that used the server passed and the out-of-scope list is exact."""
    failed = sorted(n for n, r in results.items() if r.get("outcome") == "failed" and r.get("server"))
    passed = sorted(n for n, r in results.items() if r.get("outcome") == "passed" and r.get("server"))
    out_of_scope = {n for n in results if any(matches(n, p) for p, _ in ours)}
    problems = []
    for n in failed:
        problems.append(f"FAILED {n}")
    for n in sorted(out_of_scope & set(passed)):
        problems.append(f"out of scope but passed (remove it from out_of_scope.txt): {n}")
    if not filtered:  # with -k only some tests are collected: a pattern may match none of them
        for pattern, _ in ours:
            if not any(matches(n, pattern) for n in results):
                problems.append(f"stale out-of-scope pattern (matches no test): {pattern}")
    print(
        f"test-peer: {len(passed)} passed, {len(failed)} failed, {len(out_of_scope)} out of scope "
        f"({len(ours)} patterns)"
    )
    for line in problems:
        print("  " + line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
