"""Gradient-feature extraction against a plain forward+backward and LESS's per-example loop:
time, bytes per example and peak memory. Behind ``scripts/bench_influence.py``; the memory runs
are fresh processes of this module (``python -m rlvr.benchmarks.influence --child-rows N``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import torch  # noqa: E402

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def toy_model(which: str = "toy"):
    """``(model, tokenizer, description)``: ``"toy"`` = the warmed-up toy model (built once, then
    cached; a random model of its size before the toy world exists), ``"random"``, or a model
    directory."""
    import rlvr.toy
    from rlvr.toy.model import build_model
    from rlvr.toy.tokenizer import build_tokenizer

    path = None
    if which == "toy" and hasattr(rlvr.toy, "build_toy_world"):
        path = rlvr.toy.build_toy_world(progress=False)
    elif which not in ("toy", "random"):
        path = which
    if path is not None:
        from curricula.models import load_causal_lm

        description = "warm toy model" if which == "toy" else f"model {path}"
        return *load_causal_lm(path, pad_to_eos=False), description
    tokenizer = build_tokenizer()
    note = "" if which == "random" else " (no toy world in this checkout)"
    return build_model(tokenizer, seed=0), tokenizer, "random toy-sized model" + note


def with_lora(model, r: int = 8):
    from peft import LoraConfig, get_peft_model

    # Random B as well as A (as after LESS's warm-up), so no gradient is trivially zero.
    return get_peft_model(
        model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=LORA_TARGETS, init_lora_weights=False)
    )


def toy_rows(n: int) -> list[dict]:
    """``n`` toy training rows over all skills, repeating prompts under new ids if needed."""
    from rlvr.toy.tasks import SKILLS, make_examples

    per_skill = -(-n // len(SKILLS))
    base = [r for s in SKILLS for r in make_examples(s, per_skill, "train", seed=0)]
    rows = [dict(base[i % len(base)], id=f"{base[i % len(base)]['id']}-{i // len(base)}") for i in range(n)]
    return rows


def best_of(repeats: int, fn) -> float:
    """Fastest of a few runs: the machine may be shared, and the minimum is the least disturbed."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def plain_forward_backward(model, sequences, batch_size, pad_id):
    """The baseline: the same batches, one forward and one ``loss.backward()`` each."""
    from curricula.influence.batching import collate
    from curricula.influence.features import forward_losses, length_sorted_batches

    model.eval()
    for indices in length_sorted_batches(sequences, batch_size):
        batch = collate([sequences[i] for i in indices], pad_id)
        forward_losses(model, batch).sum().backward()
        model.zero_grad(set_to_none=True)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so the next peak is the extraction's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_child(rows: int, batch_size: int, dim: int, which: str) -> None:
    """Run in a fresh process: extract ``rows`` rows into a store; print peak RSS as JSON."""
    from curricula.influence import FeatureConfig, GradientFeaturizer, encode_rows
    from curricula.influence.store import extract_to_store

    model, tokenizer, _ = toy_model(which)
    model = with_lora(model)
    data = toy_rows(rows)
    featurizer = GradientFeaturizer(
        model, FeatureConfig(dim=dim, batch_size=batch_size), pad_token_id=tokenizer.pad_token_id
    )
    featurizer.features(encode_rows(tokenizer, data[:batch_size]))  # warm up allocations
    before = _status_kib("VmRSS")
    exact_peak = reset_peak_rss()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store = extract_to_store(
            Path(tmp) / "store",
            data,
            featurizer.dim,
            {"kind": "nll"},
            lambda shard: featurizer.features(encode_rows(tokenizer, shard)),
            shard_rows=256,
        )
        seconds = time.perf_counter() - started
        disk = sum(f.stat().st_size for f in Path(tmp, "store").iterdir() if f.suffix in (".f16", ".f32"))
    peak = _status_kib("VmHWM") if exact_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": rows,
                "peak_kib": peak,
                "before_kib": before,
                "seconds": seconds,
                "disk_bytes": disk,
                "bytes_per_row": store.bytes_per_row(),
            }
        )
    )


def measure_peak(rows: int, batch_size: int, dim: int, which: str) -> dict:
    command = [
        sys.executable,
        "-m",
        __spec__.name,  # this module, run with python -m
        "--child-rows",
        str(rows),
        "--batch-size",
        str(batch_size),
        "--dim",
        str(dim),
        "--threads",
        str(torch.get_num_threads()),
        "--model",
        which,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--model",
        default="toy",
        help="toy: the warmed-up toy model (built on first use, then cached); random: untrained; "
        "or a model directory (a small causal LM).",
    )
    parser.add_argument("--rows", type=int, default=256, help="Examples timed (1x for the memory check).")
    parser.add_argument("--less-rows", type=int, default=64, help="Examples timed in the slow LESS loop.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dim", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; 1 keeps timings stable on a shared machine (spinning threads "
        "of an oversubscribed pool make a run 10x slower at random).",
    )
    parser.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv=None, description: str | None = None) -> None:
    """The whole benchmark (or, with ``--child-rows``, one memory run in this process)."""
    args = build_parser(description).parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child_rows:
        peak_memory_child(args.child_rows, args.batch_size, args.dim, args.model)
        return
    from curricula.influence import encode_rows

    base, tokenizer, model_description = toy_model(args.model)
    data = toy_rows(args.rows)
    sequences = encode_rows(tokenizer, data)
    tokens = sum(len(s.input_ids) for s in sequences) / len(sequences)
    print(
        f"rlvr influence benchmark: {model_description}; {args.rows} toy examples (mean {tokens:.1f} tokens), "
        f"batch {args.batch_size}, requested dim {args.dim}, torch threads {torch.get_num_threads()}"
    )
    model, featurizer, per = bench_lora(base, sequences, tokenizer.pad_token_id, args)
    bench_all_linear(model, sequences, tokenizer.pad_token_id, args)
    small = measure_peak(args.rows, args.batch_size, args.dim, args.model)
    large = measure_peak(10 * args.rows, args.batch_size, args.dim, args.model)
    print(memory_report(small, large, featurizer.dim))
    print(verdicts_line(per, small, large))


def bench_lora(base, sequences, pad_id, args):
    """Time plain forward+backward, fast features and the LESS loop with LoRA r=8 (the LESS
    setting); print the table. Returns the LoRA model, its featurizer and seconds per example."""
    from curricula.influence import AdamMoments, DenseProjector, FeatureConfig, GradientFeaturizer, less_features

    model = with_lora(base)
    featurizer = GradientFeaturizer(model, FeatureConfig(dim=args.dim, batch_size=args.batch_size), pad_token_id=pad_id)
    modules = featurizer.modules
    lora_params = sum(m.weight.numel() for m in modules.values())
    projector = DenseProjector(lora_params, args.dim, seed=0)
    projector.project(torch.zeros(1, lora_params))  # generate (and cache) the dense matrix before timing
    featurizer.features(sequences[: args.batch_size])  # warm-up
    plain = best_of(args.repeats, lambda: plain_forward_backward(model, sequences, args.batch_size, pad_id))
    fast = best_of(args.repeats, lambda: featurizer.features(sequences))
    less_subset = sequences[: args.less_rows]
    # LESS preconditions training gradients with Adam's moments: the same elementwise work here.
    moments = AdamMoments(torch.zeros(lora_params), torch.full((lora_params,), 1e-6))
    less = best_of(1, lambda: less_features(model, less_subset, modules, projector, moments, pad_token_id=pad_id))
    per = {"plain": plain / len(sequences), "fast": fast / len(sequences), "less": less / len(less_subset)}

    print(
        f"\nLoRA r=8 on {'/'.join(LORA_TARGETS)}: {len(modules)} adapter matrices, {lora_params} parameters; "
        f"fast features {featurizer.dim} dims, LESS dense projection {lora_params} x {args.dim}"
    )
    print(f"{'':44s}{'ms/example':>12s}{'vs plain fwd+bwd':>18s}{'vs LESS loop':>14s}")
    print(
        f"{'plain batched forward+backward':44s}{1e3 * per['plain']:12.3f}{1.0:17.2f}x"
        f"{per['less'] / per['plain']:13.1f}x faster"
    )
    print(
        f"{'fast features (factored projection)':44s}{1e3 * per['fast']:12.3f}{per['fast'] / per['plain']:17.2f}x"
        f"{per['less'] / per['fast']:13.1f}x faster"
    )
    print(
        f"{'LESS per-example loop + dense projection':44s}{1e3 * per['less']:12.3f}"
        f"{per['less'] / per['plain']:17.2f}x{1.0:13.1f}x"
    )
    return model, featurizer, per


def bench_all_linear(model, sequences, pad_id, args) -> None:
    """Time the fast path on every linear layer of the base model, where a dense LESS projection
    would not fit; print it."""
    from curricula.influence import FeatureConfig, GradientFeaturizer
    from curricula.influence.features import select_linear_modules

    base_model = model.unload().requires_grad_(True)  # peft froze the base weights
    full = GradientFeaturizer(base_model, FeatureConfig(dim=args.dim, batch_size=args.batch_size), pad_token_id=pad_id)
    full_params = sum(m.weight.numel() for m in select_linear_modules(base_model).values())
    full.features(sequences[: args.batch_size])
    plain_full = best_of(args.repeats, lambda: plain_forward_backward(base_model, sequences, args.batch_size, pad_id))
    fast_full = best_of(args.repeats, lambda: full.features(sequences))
    print(
        f"\nAll {len(full.modules)} linear layers ({full_params} parameters), features {full.dim} dims "
        f"(a dense LESS projection would be {full_params} x {args.dim} = {full_params * args.dim * 4 / 2**30:.1f} GiB fp32)"
    )
    print(f"{'plain batched forward+backward':44s}{1e3 * plain_full / len(sequences):12.3f}{1.0:17.2f}x")
    print(
        f"{'fast features (factored projection)':44s}{1e3 * fast_full / len(sequences):12.3f}"
        f"{fast_full / plain_full:17.2f}x"
    )


def memory_report(small: dict, large: dict, feature_dim: int) -> str:
    """Bytes per example and the peak RSS of the 1x and 10x memory runs (`peak_memory_child`'s JSON)."""
    growth_small = (small["peak_kib"] - small["before_kib"]) / 1024
    growth_large = (large["peak_kib"] - large["before_kib"]) / 1024
    return (
        f"\nbytes stored per example: {small['bytes_per_row']} (fp16 features {2 * feature_dim} + fp32 norm 4 "
        f"+ fp32 loss 4); on disk {small['disk_bytes'] / small['rows']:.0f} B/row\n"
        f"peak RSS during extraction into a store (fresh process each; model loaded before):\n"
        f"  {small['rows']:6d} rows: {small['peak_kib'] / 1024:7.1f} MiB peak ({small['before_kib'] / 1024:.1f} "
        f"before, +{growth_small:.1f}), {1e3 * small['seconds'] / small['rows']:.2f} ms/row\n"
        f"  {large['rows']:6d} rows: {large['peak_kib'] / 1024:7.1f} MiB peak ({large['before_kib'] / 1024:.1f} "
        f"before, +{growth_large:.1f}), {1e3 * large['seconds'] / large['rows']:.2f} ms/row\n"
        f"  10x rows / 1x rows: peak {large['peak_kib'] / small['peak_kib']:.3f}x, growth "
        f"{growth_large / max(growth_small, 0.1):.2f}x"
    )


def verdicts_line(per: dict, small: dict, large: dict) -> str:
    """The targets, each met or MISSED, from seconds per example and the two memory runs."""
    verdicts = [
        ("fast <= 1.5x plain forward+backward (LoRA)", per["fast"] / per["plain"] <= 1.5),
        ("fast >= 10x faster than the LESS loop", per["less"] / per["fast"] >= 10),
        ("peak memory flat from 1x to 10x rows (<= 1.1x)", large["peak_kib"] / small["peak_kib"] <= 1.1),
    ]
    return "\ntargets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdicts)


if __name__ == "__main__":
    main()
