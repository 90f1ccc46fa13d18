"""Metric definitions, medians over repetitions, ratios and the printed (Markdown) table."""

from __future__ import annotations

import math

from bench.client import median

HIGHER, LOWER = "higher", "lower"

# key, workload, label, unit, which direction is better
METRICS = [
    ("w1.points_per_s", "W1", "log-batch ingest (100 keys x 100 steps/run, 1,000/batch)", "points/s", HIGHER),
    ("w1.batch_p50_ms", "W1", "log-batch latency p50", "ms", LOWER),
    ("w1.batch_p95_ms", "W1", "log-batch latency p95", "ms", LOWER),
    ("w2.t1.req_per_s", "W2", "log-metric, 1 thread", "req/s", HIGHER),
    ("w2.t1.p50_ms", "W2", "log-metric, 1 thread, p50", "ms", LOWER),
    ("w2.t1.p95_ms", "W2", "log-metric, 1 thread, p95", "ms", LOWER),
    ("w2.t1.p99_ms", "W2", "log-metric, 1 thread, p99", "ms", LOWER),
    ("w2.tN.req_per_s", "W2", "log-metric, {threads} threads", "req/s", HIGHER),
    ("w2.tN.p50_ms", "W2", "log-metric, {threads} threads, p50", "ms", LOWER),
    ("w2.tN.p95_ms", "W2", "log-metric, {threads} threads, p95", "ms", LOWER),
    ("w2.tN.p99_ms", "W2", "log-metric, {threads} threads, p99", "ms", LOWER),
    ("w3.search_ms", "W3", "search filter+order, top 100 of {search_runs:,} runs", "ms", LOWER),
    ("w3.scan_s", "W3", "paged scan of {search_runs:,} runs (pages of 1,000)", "s", LOWER),
    ("w3.search_large_ms", "W3", "search filter+order, top 100 of {search_scale_runs:,} runs", "ms", LOWER),
    ("w4.history_s", "W4", "get-history, {history_steps:,} steps (pages of {history_page:,})", "s", LOWER),
    ("w4.bulk_interval_ms", "W4", "get-history-bulk-interval ({bulk_max_results:,} of {history_steps:,})", "ms", LOWER),
    ("w5.upload_mb_s", "W5", "proxied artifact upload, {artifact_mb} MiB", "MiB/s", HIGHER),
    ("w5.download_mb_s", "W5", "proxied artifact download, {artifact_mb} MiB", "MiB/s", HIGHER),
    ("w6.create_ops_s", "W6", "create model version (x{versions})", "ops/s", HIGHER),
    ("w6.create_p50_ms", "W6", "create model version p50", "ms", LOWER),
    ("w6.search_ms", "W6", "search_model_versions by name ({versions} versions)", "ms", LOWER),
    ("w6.alias_p50_ms", "W6", "get model version by alias p50", "ms", LOWER),
    ("w7.rss_mb", "W7", "server RSS of the process tree after the run", "MB", LOWER),
    ("w7.processes", "W7", "processes in the server's tree", "", LOWER),
    ("w7.cold_start_s", "W7", "cold start to first API answer (existing db)", "s", LOWER),
    ("w7.first_start_s", "W7", "first start on an empty db (schema creation)", "s", LOWER),
    ("w7.settle_s", "W7", "busy after its first answer, until quiet (< 10% of a core per 0.5 s)", "s", LOWER),
]

WORDS = {HIGHER: ("faster", "slower"), LOWER: ("faster", "slower")}
MEMORY_WORDS = ("smaller", "larger")


def metric_key(key: str, threads: int) -> str:
    return key.replace("tN", f"t{threads}")


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def summarize(samples: list) -> dict:
    """``samples``: one entry per repetition, a number or a {"status", "error"} dict."""
    numbers = [s for s in samples if is_number(s)]
    statuses = [s for s in samples if isinstance(s, dict)]
    if numbers and len(numbers) == len(samples):
        return {"median": median(numbers), "min": min(numbers), "max": max(numbers), "n": len(numbers)}
    if numbers:  # some repetitions failed: a failure is a failure
        return {
            "status": "failed",
            "error": statuses[0].get("error", ""),
            "n": len(numbers),
            "median_of_ok": median(numbers),
        }
    if statuses:
        status = "unsupported" if all(s.get("status") == "unsupported" for s in statuses) else "failed"
        error = next((s.get("error", "") for s in statuses if s.get("status") == status), "")
        return {"status": status, "error": error}
    return {"status": "not run"}


def ratio(ours: dict, theirs: dict, better: str) -> float | None:
    """How many times better ours is than theirs (> 1: ours wins)."""
    if "median" not in ours or "median" not in theirs:
        return None
    a, b = ours["median"], theirs["median"]
    if a <= 0 or b <= 0:
        return None
    return a / b if better == HIGHER else b / a


def fmt_number(value: float) -> str:
    if not is_number(value):
        return "?"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_cell(summary: dict, integer: bool = False) -> str:
    if "median" in summary:
        fmt = (lambda v: f"{v:.0f}") if integer else fmt_number
        text = fmt(summary["median"])
        if summary.get("n", 1) > 1 and summary["min"] != summary["max"]:
            text += f" ({fmt(summary['min'])}–{fmt(summary['max'])})"
        return text
    status = summary.get("status", "not run")
    if status == "failed" and "median_of_ok" in summary:
        return f"FAILED in {summary.get('n')} ok reps"
    return status.upper() if status == "failed" else status


def fmt_ratio(value: float | None, key: str) -> str:
    if value is None:
        return "–"
    good, bad = MEMORY_WORDS if key.startswith(("w7.rss", "w7.proc")) else ("faster", "slower")
    if key.startswith("w7.proc"):
        good, bad = "fewer", "more"
    if value >= 1:
        return f"{value:.1f}× {good}" if value < 100 else f"{value:,.0f}× {good}"
    return f"{1 / value:.1f}× {bad}"


def build_table(
    summaries: dict,
    columns: list[tuple[str, str]],
    sizes: dict,
    threads: int,
    ours: str = "modelops",
    others=("mlflow", "fasttrackml"),
) -> tuple[str, list[dict]]:
    """A Markdown table: one row per metric, one column per server, then ours-vs-each-other."""
    present_others = [o for o in others if o in dict(columns)]
    header = ["workload", "metric", "unit"] + [label for _, label in columns]
    header += [f"ours vs {dict(columns)[o].split(' (')[0]}" for o in present_others]
    rows, table_rows = [], []
    for key, workload, label, unit, better in METRICS:
        key = metric_key(key, threads)
        cells = {server: summaries.get(server, {}).get(key) for server, _ in columns}
        if all(c is None or c.get("status") == "not run" for c in cells.values()):
            continue
        arrow = "↑" if better == HIGHER else "↓"
        try:
            title = label.format(**{**sizes, "threads": threads})
        except (KeyError, ValueError):
            title = label
        row = [workload, title, f"{unit} {arrow}".strip()]
        row += [
            fmt_cell(cells[server] or {"status": "not run"}, integer=key == "w7.processes") for server, _ in columns
        ]
        ratios = {}
        for other in present_others:
            r = ratio(cells.get(ours) or {}, cells.get(other) or {}, better)
            ratios[other] = r
            row.append(fmt_ratio(r, key) if key != "w7.processes" else "–")
        rows.append(row)
        table_rows.append(
            {"key": key, "workload": workload, "metric": title, "unit": unit, "better": better, "ratios": ratios}
        )
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out), table_rows
