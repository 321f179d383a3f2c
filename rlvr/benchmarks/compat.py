"""Compatibility filter benchmark: scoring throughput against a plain forward, and memory as the
data grows. Behind ``scripts/bench_compat.py`` (its docstring tells the method); the memory runs
are fresh processes of this module (``python -m rlvr.benchmarks.compat --memory-child ...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--student",
        default="random",
        help="'random' (a freshly initialised toy-architecture model: same speed, no build), "
        "'toy' (build_toy_world) or a model folder.",
    )
    p.add_argument("--rows", type=int, default=1000, help="Rows for the throughput comparison.")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="Timed repeats; the best of each is reported.")
    p.add_argument("--memory-rows", type=int, default=500, help="N for the memory test (also runs 10x N).")
    p.add_argument("--threads", type=int, default=1, help="Torch threads (1: see compat_experiment.py).")
    p.add_argument(
        "--heap", action="store_true", help="Also trace the Python-heap peak with tracemalloc (slower; inflates RSS)."
    )
    p.add_argument("--memory-child", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    return p


def load(student: str):
    from rlvr.cli.compat import load_student

    if student != "random":
        model, tokenizer, _ = load_student(student, device="cpu")
        return model, tokenizer
    from rlvr.toy import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    return build_model(tokenizer, seed=0).eval(), tokenizer


def toy_rows(n: int) -> list[dict]:
    """``n`` teacher-refined rows cycling over every toy skill (unique ids, prompts may repeat)."""
    from rlvr.toy import SKILLS, make_examples
    from rlvr.toy.compat import refine_examples

    pool = [ex for skill in SKILLS for ex in make_examples(skill, max(1, n // len(SKILLS) + 1), "train")]
    rows = refine_examples(pool, seed=0)
    return [{**rows[i % len(rows)], "id": f"r{i:07d}"} for i in range(n)]


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def throughput(args) -> None:
    import torch

    from curricula.compat import CompatConfig, encode_views
    from curricula.likelihood import StudentLikelihood, pad_pairs

    model, tokenizer = load(args.student)
    config = CompatConfig()
    likelihood = StudentLikelihood(model, tokenizer, batch_size=args.batch_size)
    rows = toy_rows(args.rows)

    start = time.perf_counter()
    pairs = []
    for row in rows:
        for prompt, response in ((row["prompt"], row["response"]), (row["prompt"], row["original_response"])):
            views = encode_views(likelihood, config, prompt, response)
            pairs += [views.a_given_q, views.a_alone, views.q_given_a]
        pairs.append(likelihood.encode(None, row["prompt"]))
    encode_seconds = time.perf_counter() - start
    tokens = sum(len(p.input_ids) for p in pairs)

    # The plain forward sees exactly the scorer's batches: same order, same padding.
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].input_ids), reverse=True)
    batches = [
        pad_pairs([pairs[i] for i in order[s : s + args.batch_size]], likelihood.pad_id)
        for s in range(0, len(order), args.batch_size)
    ]

    def plain_forward():
        with torch.no_grad():
            for batch in batches:
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    plain_forward()  # warm-up
    likelihood.score(pairs[: args.batch_size])
    plain_times, score_times = [], []
    for _ in range(args.repeats):  # interleaved, so load from other processes hits both alike
        t = time.perf_counter()
        plain_forward()
        plain_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        likelihood.score(pairs)
        score_times.append(time.perf_counter() - t)
    plain, score = min(plain_times), min(score_times)
    print(
        f"Throughput: {args.rows} rows -> {len(pairs)} sequences, {tokens} tokens, batch {args.batch_size}, "
        f"{torch.get_num_threads()} thread(s), best of {args.repeats}"
    )
    print(f"  {'plain no-grad forward':34s} {tokens / plain:>10,.0f} tokens/s  ({plain:.2f}s)")
    print(
        f"  {'StudentLikelihood.score':34s} {tokens / score:>10,.0f} tokens/s  ({score:.2f}s)"
        f"   ratio {plain / score:.3f}x"
    )
    print(
        f"  {'score + tokenisation':34s} {tokens / (score + encode_seconds):>10,.0f} tokens/s  "
        f"({score + encode_seconds:.2f}s)   ratio {plain / (score + encode_seconds):.3f}x"
    )


def memory_child(args) -> None:
    """Runs in a subprocess: one `run_compat` over a file; prints peak RSS before and after as JSON."""
    from curricula.compat import CompatConfig
    from curricula.compat.run import run_compat

    model, tokenizer = load(args.student)
    data, out = args.memory_child
    # Profile from 5% of rows so the 10x run stays short; the generation path is still exercised.
    config = CompatConfig(
        chunk_size=256, batch_size=args.batch_size, profile_fraction=0.05, profile_max_new_tokens=16, min_profile_size=1
    )
    # Warm every code path (lazy imports, allocator pools) on 8 rows, so "before" is the floor.
    warm_config = dataclasses.replace(config, profile_fraction=1.0)
    run_compat(toy_rows(8), Path(out) / "warm", warm_config, student=(model, tokenizer), progress=False)
    # ru_maxrss keeps the high-water mark of model loading, which can hide the run; sample the
    # current RSS every 20 ms during the run instead.
    before = current_rss_mb()
    peak = [before]
    running = threading.Event()
    running.set()

    def sample():
        while running.is_set():
            peak[0] = max(peak[0], current_rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if args.heap:  # Python-heap peak: what this code holds, apart from torch's native memory
        tracemalloc.start()  # (its own bookkeeping inflates RSS, so only on request)
    start = time.perf_counter()
    run_compat(data, Path(out) / "run", config, student=(model, tokenizer), progress=False)
    seconds = time.perf_counter() - start
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.heap else None
    tracemalloc.stop()
    running.clear()
    sampler.join()
    peak[0] = max(peak[0], current_rss_mb())
    print(json.dumps({"before_mb": before, "peak_mb": peak[0], "heap_peak_mb": heap_peak, "seconds": seconds}))


def memory(args) -> None:
    sizes = [args.memory_rows, 10 * args.memory_rows]
    print("Memory: peak RSS of `run_compat`, one fresh process per size (chunks of 256 rows, profile 5%)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            data = Path(tmp) / f"rows{n}.jsonl"
            with open(data, "w") as f:
                for row in toy_rows(n):
                    f.write(json.dumps(row) + "\n")
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    __spec__.name,  # this module, run with python -m
                    "--student",
                    args.student,
                    "--threads",
                    str(args.threads),
                    "--batch-size",
                    str(args.batch_size),
                    "--memory-child",
                    str(data),
                    str(Path(tmp) / f"out{n}"),
                ]
                + (["--heap"] if args.heap else []),
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                raise SystemExit(f"memory run for {n} rows failed:\n{child.stderr[-3000:]}")
            r = json.loads(child.stdout.strip().splitlines()[-1])
            results.append((n, r["before_mb"], r["peak_mb"], r["heap_peak_mb"]))
            heap = f"; Python-heap peak {r['heap_peak_mb']:5.1f} MiB" if args.heap else ""
            print(
                f"  {n:>7,} rows: peak RSS {r['peak_mb']:7.1f} MiB, {r['before_mb']:7.1f} MiB before scoring, "
                f"growth {r['peak_mb'] - r['before_mb']:6.1f} MiB{heap} ({r['seconds']:.0f}s, "
                f"{n / r['seconds']:.0f} rows/s)"
            )
    print(memory_summary(results, args.heap))


def memory_summary(results: list[tuple], heap: bool) -> str:
    """The closing line of the memory test: N vs 10x N rows, from ``(rows, before MiB, peak MiB,
    heap peak MiB)`` per size."""
    (n1, before1, peak1, heap1), (n2, before2, peak2, heap2) = results
    growth1, growth2 = peak1 - before1, peak2 - before2
    return (
        f"  {n2:,} vs {n1:,} rows: peak RSS ratio {peak2 / peak1:.3f}x, RSS growth {growth2:.1f} vs "
        f"{growth1:.1f} MiB ({growth2 - growth1:+.1f} MiB for 10x the rows)"
        + (f", Python-heap peak ratio {heap2 / heap1:.2f}x" if heap else "")
    )


def main(argv=None, description: str | None = None) -> int:
    """Throughput, then memory (or, with ``--memory-child``, one memory run in this process)."""
    args = build_parser(description).parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return 0
    throughput(args)
    print()
    memory(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
