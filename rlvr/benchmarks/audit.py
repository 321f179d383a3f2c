"""Audit log at scale: bytes per decision, and `rlvr audit` query time and peak memory. Behind
``scripts/bench_audit.py`` (its docstring tells the method); each query is a fresh process of this
module (``python -m rlvr.benchmarks.audit --query ...``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: the query processes run there

SKILLS = ("add2", "mul3x3", "sub4", "div2", "gcd", "mod7")
QUERIES = ("summary", "dropped", "prompt", "html")


def frontier_decisions(count: int, prompts: int, seed: int = 0) -> list[tuple[int, object]]:
    """``count`` (step, Decision) pairs from a real frontier filter over synthetic groups."""
    from curricula.base import GroupResult
    from curricula.config import FrontierConfig
    from curricula.frontier import FrontierFilter

    rng = random.Random(seed)
    ids = [f"{SKILLS[i % len(SKILLS)]}-{rng.getrandbits(40):010x}" for i in range(prompts)]
    truth = {pid: rng.betavariate(0.6, 0.6) for pid in ids}
    frontier = FrontierFilter(FrontierConfig(reprobe_interval=20, skip_zero_variance=True), ids)
    out, step, batch = [], 0, 512
    while len(out) < count:
        chosen = rng.sample(ids, batch)
        groups = []
        for pid in chosen:
            columns = {"skill": pid.split("-")[0], "source": "synthetic"}
            if frontier.is_excluded(pid) and not frontier.wants_probe(pid, step):
                continue
            skip = frontier.skip_decision(pid, step, seed, columns, pid[-12:])
            if skip is not None:
                out.append((step, skip))
                continue
            rewards = [1.0 if rng.random() < truth[pid] else 0.0 for _ in range(8)]
            groups.append(GroupResult(pid, rewards, columns, pid[-12:]))
        out.extend((step, d) for d in frontier.observe(groups, step, epoch=step / 200))
        step += 1
    return out[:count]


def write_logs(folder: Path, size: int, template: list, old: bool) -> dict:
    """The new log (segments + tail) and, with ``old``, the old single JSONL file, of ``size`` decisions."""
    from curricula.audit import AuditLog

    cycle_steps = template[-1][0] + 1
    new = AuditLog(folder / "new", "bench")
    old_file = open(folder / "old.jsonl", "w", encoding="utf-8") if old else None
    started, written, last_step = time.perf_counter(), 0, None
    while written < size:
        offset = (written // len(template)) * cycle_steps
        for step, decision in template[: size - written]:
            if last_step is not None and step + offset != last_step:
                new.flush()  # the trainer flushes once per step
            last_step = step + offset
            new.add(decision, global_step=step + offset, epoch=(step + offset) / 200)
        written += min(len(template), size - written)
    new.close()
    seconds = time.perf_counter() - started
    if old_file is not None:
        for record in _records(folder / "new"):
            old_file.write(json.dumps(record) + "\n")  # the previous writer: json.dumps, default separators
        old_file.close()
    return {"write_us_per_decision": 1e6 * seconds / size}


def _records(run_dir: Path):
    from curricula import audit_store

    for table in audit_store.iter_tables(run_dir / "audit.jsonl"):
        yield from audit_store.table_to_records(table)


def random_valued_bytes(size: int, seed: int = 0) -> float:
    """Bytes per decision of a log whose numbers, hashes and messages are all random (the least
    compressible audit log), with the decision mix of the issue's logs (59% kept)."""
    from curricula.audit import AuditLog
    from curricula.base import Decision

    rng = random.Random(seed)
    ids = [f"skill{i % 7}-{rng.getrandbits(40):010x}" for i in range(100_000)]
    kinds = ["kept"] * 59 + ["dropped"] * 15 + ["probed"] * 14 + ["readmitted"] * 4 + ["skipped"] * 8
    folder = Path(tempfile.mkdtemp(prefix="bench_audit_random_"))
    log = AuditLog(folder, "random")
    for i in range(size):
        pid, what, successes = rng.choice(ids), rng.choice(kinds), rng.randint(0, 64)
        lower, upper = sorted((round(rng.random(), 4), round(rng.random(), 4)))
        stats = {
            "successes": successes,
            "trials": 64,
            "unscored": rng.randint(0, 3),
            "visits": rng.randint(1, 30),
            "pass_rate": round(rng.random(), 4),
            "zero_variance_streak": rng.randint(0, 5),
            "lower": lower,
            "upper": upper,
            "low": 0.05,
            "high": 0.95,
            "confidence": 0.95,
            "bound": "beta",
            "active_pool": rng.randint(50_000, 100_000),
            "pool_size": 100_000,
        }
        message = (
            f"{what}: {successes} of 64 correct over {stats['visits']} visit(s), pass-rate bounds "
            f"[{lower:.4f}, {upper:.4f}]"
        )
        reason = rng.choice(["in_frontier", "too_hard", "too_easy", "reprobe_unchanged"])
        log.add(
            Decision(
                "frontier",
                pid,
                what,
                reason,
                message,
                stats,
                {"skill": pid.split("-")[0], "source": "gsm8k"},
                f"{rng.getrandbits(48):012x}",
            ),
            i // 512,
            0.0,
        )
        if i % 512 == 511:
            log.flush()
    log.close()
    size_on_disk = disk_bytes(folder)
    shutil.rmtree(folder)
    return size_on_disk / size


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def run_query(query: str, target: Path, old: bool, prompt: str) -> dict:
    """One query in a fresh process: its wall time and peak RSS."""
    command = [
        sys.executable,
        "-m",
        __spec__.name,  # this module, run with python -m
        "--query",
        query,
        "--log",
        str(target),
        "--prompt",
        prompt,
    ]
    out = subprocess.run(
        command + (["--old"] if old else []), check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def query_child(query: str, log: Path, old: bool, prompt: str) -> None:
    """In the child process: run ``query`` on ``log`` and print seconds and peak RSS as JSON."""
    started = time.perf_counter()
    sink = Path(tempfile.mkdtemp()) / "out.csv"
    if old:
        from rlvr.audit_report import render, select

        records = [json.loads(line) for line in open(log, encoding="utf-8")]
        chosen = select(records, dropped=query == "dropped", prompt=prompt if query == "prompt" else None)
        if query == "summary":
            _old_summary(chosen)
        else:
            sink.write_text(render(chosen, "csv"))
    else:
        import contextlib
        import io

        from rlvr.cli import main

        extra = {
            "summary": [],
            "dropped": ["--dropped", "--format", "csv", "-o", str(sink)],
            "prompt": ["--prompt", prompt, "--format", "csv", "-o", str(sink)],
            "html": ["--html", str(log.parent / "report.html")],
        }[query]
        with contextlib.redirect_stdout(io.StringIO()):
            main(["audit", str(log), *extra])
    seconds = time.perf_counter() - started
    rows = max(0, len(sink.read_text().splitlines()) - 1) if sink.exists() else None
    peak_mb = _peak_rss_mb()
    print(json.dumps({"seconds": round(seconds, 2), "peak_mb": round(peak_mb), "rows": rows}))


def _peak_rss_mb() -> float:
    """This process's peak resident memory. (Not ru_maxrss: Linux carries it over from the parent
    through fork + exec, so every child would report the benchmark driver's own peak.)"""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _old_summary(records: list[dict]) -> None:
    """The work of the previous `rlvr audit RUN` summary: counts and final status over the record list."""
    from collections import Counter

    counts = Counter((r["filter"], r["decision"], r["reason"]) for r in records)
    status = {}
    for r in records:
        if r["filter"] == "frontier" and r["decision"] in ("dropped", "readmitted"):
            status[r["prompt_id"]] = r["decision"]
    assert counts and status


# Headless chromium without network chatter or a first-run wizard (also the audit page's browser tests).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_load(page_path: Path) -> str:
    """Seconds until the page is ready (data inflated, table drawn) in headless chromium, and a search."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "browser: playwright not installed"
    args = CHROMIUM_ARGS
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium", args=args)
        page = context.new_page()
        started = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=600_000)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        page.fill("#search", "too_hard")
        page.wait_for_function(
            "(([a, b]) => a !== b.split(' ')[0])(document.getElementById('shown').textContent.split(' of '))",
            timeout=600_000,
        )
        searched = time.perf_counter() - started
        rows = page.locator(".row").count()
        context.close()
    return f"browser ready in {loaded:.1f} s, search {searched:.2f} s (incl. 0.12 s debounce), {rows} rows in the DOM"


def bench_size(size: int, template: list, old_max: int, work: Path) -> list[str]:
    folder = work / f"n{size}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    old = size <= old_max
    info = write_logs(folder, size, template, old)
    prompt = template[len(template) // 2][1].prompt_id
    new_bytes = disk_bytes(folder / "new") / size
    lines = [
        f"{size:>10,} decisions  bytes/decision: new {new_bytes:6.1f}"
        + (
            f"  old {disk_bytes(folder / 'old.jsonl') / size:6.1f}  (old/new {disk_bytes(folder / 'old.jsonl') / disk_bytes(folder / 'new'):.1f}x)"
            if old
            else "  old: not run (over --old-max)"
        )
        + f"   write {info['write_us_per_decision']:.1f} us/decision"
    ]
    print(lines[0], flush=True)
    for query in QUERIES:
        new = run_query(query, folder / "new", False, prompt)
        line = f"    {query:8s} new {new['seconds']:7.2f} s {new['peak_mb']:6d} MB"
        if query == "html":
            line += f"   page {disk_bytes(folder / 'report.html') / 1e6:.1f} MB, " + browser_load(
                folder / "report.html"
            )
        elif old:
            was = run_query(query, folder / "old.jsonl", True, prompt)
            assert was["rows"] == new["rows"], (query, was, new)  # the same answer
            line += (
                f"   old {was['seconds']:7.2f} s {was['peak_mb']:6d} MB   "
                f"time old/new {was['seconds'] / max(new['seconds'], 1e-3):.1f}x  "
                f"memory old/new {was['peak_mb'] / new['peak_mb']:.1f}x"
            )
        lines.append(line + (f"  ({new['rows']} rows)" if new["rows"] is not None else ""))
        print(lines[-1], flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    return lines


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--old-max", type=int, default=1_000_000, help="largest size the old path runs at")
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--template", type=int, default=200_000, help="real frontier decisions replayed")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument(
        "--random-valued",
        type=int,
        metavar="N",
        help="only: bytes per decision of N decisions with random numbers and messages",
    )
    parser.add_argument("--query", choices=QUERIES, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--old", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prompt", help=argparse.SUPPRESS)
    return parser


def main(argv=None, description: str | None = None) -> None:
    """The benchmark at every size (or only the random-valued log, or, with ``--query``, one query
    in this process)."""
    args = build_parser(description).parse_args(argv)
    if args.query:
        return query_child(args.query, Path(args.log), args.old, args.prompt)
    if args.random_valued:
        print(
            f"random-valued log, {args.random_valued:,} decisions: "
            f"{random_valued_bytes(args.random_valued):.1f} bytes/decision"
        )
        return None
    started = time.perf_counter()
    template = frontier_decisions(args.template, args.prompts)
    print(
        f"template: {len(template):,} frontier decisions over {args.prompts:,} prompts in "
        f"{time.perf_counter() - started:.0f} s; mix " + decision_mix([d for _, d in template]),
        flush=True,
    )
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_audit_"))
    for size in args.sizes:
        bench_size(size, template, args.old_max, work)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def decision_mix(decisions) -> str:
    """Share of each kind of decision, most common first: ``"kept 82%, skipped 18%"``."""
    mix = {}
    for d in decisions:
        mix[d.decision] = mix.get(d.decision, 0) + 1
    return ", ".join(f"{k} {v / len(decisions):.0%}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
