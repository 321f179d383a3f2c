"""rlvr's GRPO loop on a model of real size: the check behind ``scripts/gpu_check.sh`` and
``scripts/gpu_check.py`` (whose docstring tells what it runs and measures).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]  # the repository

import torch  # noqa: E402

# Qwen2.5 shapes (hidden, MLP, layers, heads, KV heads); vocab 151936, tied embeddings.
SIZES = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    ),
    "0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        vocab_size=151936,
    ),
    "1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        vocab_size=151936,
    ),
}
SKILLS = ("add1", "add2", "copy", "mul1x2")
SOLVABLE = ("add1", "copy")  # the synthetic reward below pays only on these skills' prompts
FIXTURE = ROOT / "tests" / "fixtures" / "gsm8k_mini.jsonl"
RECIPE = ROOT / "configs" / "math_1p5b_lora.yaml"


def parse_args(argv=None, description: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--tiny",
        action="store_true",
        default=os.environ.get("GPU_CHECK_TINY", "") not in ("", "0"),
        help="Tiny model and few steps; runs on CPU (also: GPU_CHECK_TINY=1).",
    )
    p.add_argument("--size", choices=sorted(SIZES), help="Model shape (default: 0.5b, or tiny with --tiny).")
    p.add_argument("--steps", type=int, help="Optimizer steps of the frontier phase.")
    p.add_argument("--influence-steps", type=int, help="Optimizer steps of the influence phase (0 skips it).")
    p.add_argument("--completion-length", type=int, help="max_completion_length (new tokens per rollout).")
    p.add_argument("--out", help="JSON results file (default: $OUT/gpu_check.json, else runs/gpu_check.json).")
    args = p.parse_args(argv)
    defaults = (
        dict(
            size="tiny",
            steps=3,
            influence_steps=2,
            completion_length=8,
            per_device=8,
            accum=1,
            generations=4,
            n_per_skill=3,
            min_samples=4,
            low=0.6,
            dim=256,
        )
        if args.tiny
        else dict(
            size="0.5b",
            steps=10,
            influence_steps=3,
            completion_length=256,
            per_device=32,
            accum=2,
            generations=8,
            n_per_skill=8,
            min_samples=8,
            low=0.35,
            dim=8192,
        )
    )
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def environment() -> dict:
    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.cuda.is_available()}
    for name in (
        "transformers",
        "trl",
        "accelerate",
        "peft",
        "datasets",
        "math-verify",
        "latex2sympy2_extended",
        "antlr4-python3-runtime",
        "pyarrow",
        "fsspec",
        "huggingface-hub",
        "tokenizers",
    ):
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    info["vllm"] = "installed (not used here)" if importlib.util.find_spec("vllm") else "not installed"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


# ------------------------------------------------------------------------------------------
# 1. Preflight: the real recipe's data + verifier path on the fixture.


def preflight() -> dict:
    from curricula.rollouts import weighted_rewards
    from rewards import make_reward_funcs
    from rlvr.config import load_config
    from rlvr.data import load_prompts

    config = load_config(RECIPE, [f"data.train={FIXTURE}", f"data.eval={FIXTURE}"])
    rows = load_prompts(config.data.train, config.data, split="train").dataset.to_list()
    funcs, weights = make_reward_funcs(config.verifiers)
    golds = [r["answer"].split("####")[-1].strip().replace(",", "") for r in rows]
    completions = [f"Step by step ... so the answer is \\boxed{{{g}}}." for g in golds]
    completions += [f"Step by step ... so the answer is \\boxed{{{int(float(g)) + 1}}}." for g in golds]
    both = rows + rows
    rewards = weighted_rewards(
        funcs,
        weights,
        [r["prompt"] for r in both],
        completions,
        [[0]] * len(both),
        {"answer": [r["answer"] for r in both], "id": [r["id"] for r in both]},
    )
    right, wrong = rewards[: len(rows)], rewards[len(rows) :]
    ok = all(r == 1.0 for r in right) and all(r == 0.0 for r in wrong)
    if not ok:
        raise SystemExit(f"preflight failed: math verifier scored right={right} wrong={wrong}")
    return {"rows": len(rows), "right": right, "wrong": wrong, "bf16": config.grpo.bf16}


# ------------------------------------------------------------------------------------------
# 2-3. Training phases.


def build_model(size: str, tokenizer, device: torch.device):
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    shape = dict(SIZES[size])
    shape.setdefault("vocab_size", len(tokenizer))
    # A vocabulary larger than the character tokenizer's keeps the real logits cost; ids it does
    # not know decode to nothing, so a random model's completions are mostly empty text.
    config = Qwen2Config(
        **shape,
        tie_word_embeddings=True,
        rope_theta=1_000_000.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def signal_reward(completion_ids, skill, **kwargs):
    """A reward with variance for a random model: token-id parity, only on SOLVABLE skills.

    The other skills always score 0, so the frontier filter drops them as too hard.
    """
    return [float(sum(ids) % 2) if s in SOLVABLE else 0.0 for ids, s in zip(completion_ids, skill)]


class Meter:
    """Times generation, input preparation and training steps of one trainer (instance patches)."""

    def __init__(self, trainer, model, eos_id: int):
        self.gen_s = self.prepare_s = self.step_s = 0.0
        self.gen_tokens = self.gen_calls = self.trained_tokens = 0
        self.eos_id = eos_id
        self._wrap(model, "generate", self._generate)
        self._wrap(trainer, "_prepare_inputs", self._prepare)
        self._wrap(trainer, "training_step", self._training_step)

    @staticmethod
    def _wrap(obj, name, wrapper):
        original = getattr(obj, name)
        setattr(obj, name, lambda *a, **k: wrapper(original, *a, **k))

    @staticmethod
    def _sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def _generate(self, original, *args, **kwargs):
        self._sync()
        started = time.perf_counter()
        out = original(*args, **kwargs)
        self._sync()
        self.gen_s += time.perf_counter() - started
        self.gen_calls += 1
        prompt_ids = kwargs.get("input_ids", args[0] if args else None)
        sequences = out.sequences if hasattr(out, "sequences") else out
        new = sequences[:, prompt_ids.shape[1] :] if prompt_ids is not None else sequences
        is_eos = new == self.eos_id
        lengths = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, new.shape[1])
        self.gen_tokens += int(lengths.sum())
        return out

    def _prepare(self, original, *args, **kwargs):
        started = time.perf_counter()
        out = original(*args, **kwargs)
        self._sync()
        self.prepare_s += time.perf_counter() - started
        if isinstance(out, dict) and "completion_mask" in out:
            self.trained_tokens += int(out["prompt_mask"].sum() + out["completion_mask"].sum())
        return out

    def _training_step(self, original, *args, **kwargs):
        self._sync()
        started = time.perf_counter()
        out = original(*args, **kwargs)
        self._sync()
        self.step_s += time.perf_counter() - started
        return out


def quiet_logging(trainer, name: str) -> None:
    """One line per logged step instead of transformers' full metric dicts and progress bar."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    class OneLine(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                log(
                    f"{name} step {state.global_step}: reward {logs['reward']:.3f}, "
                    f"active pool {logs.get('curriculum/active_pool')}, step_time {logs.get('step_time', 0):.2f} s"
                )

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(OneLine())


def run_phase(name: str, args, tokenizer, rows, device, influence_targets=None) -> dict | None:
    """One GRPO run with the frontier filter (and, given ``influence_targets``, the influence
    check); its timings and numbers, or None when the influence check is not available."""
    check, extra, steps = None, {}, args.steps
    if influence_targets is not None:
        check = influence_check(args, influence_targets)
        if check is None:
            return None
        extra, steps = {"influence_check": check}, args.influence_steps

    model = build_model(args.size, tokenizer, device)
    n_params = sum(p.numel() for p in model.parameters())
    trainer = make_trainer(name, args, model, tokenizer, rows, steps, extra)
    output_dir = trainer.args.output_dir
    meter = Meter(trainer, model, tokenizer.eos_token_id)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    log(
        f"{name}: {n_params / 1e6:.1f}M parameters, {steps} steps, bf16={trainer.args.bf16}, "
        f"gradient_checkpointing={trainer.args.gradient_checkpointing}"
    )
    started = time.perf_counter()
    trainer.train()
    Meter._sync()
    train_s = time.perf_counter() - started

    result = phase_result(name, trainer, meter, check, n_params, train_s)
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    if meter.gen_calls == 0:
        log(f"{name}: WARNING: no call to model.generate was intercepted; generation numbers are missing")
    if result["steps"] != steps:
        raise SystemExit(f"{name}: ran {result['steps']} steps, expected {steps}")
    if not all(math.isfinite(r) for r in rewards):
        raise SystemExit(f"{name}: non-finite rewards logged: {rewards}")
    del trainer, model, meter
    shutil.rmtree(output_dir, ignore_errors=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def influence_check(args, targets):
    """curricula.influence's in-training check on ``targets``, or None (logged) when that package
    is missing or its API is not what this check expects."""
    try:
        from curricula.influence import InfluenceCheck, InfluenceCheckConfig
    except ImportError as err:
        log(f"influence: skipped, curricula.influence is not available ({err})")
        return None
    try:
        return InfluenceCheck(
            InfluenceCheckConfig(enabled=True, every_n_steps=1, dim=args.dim, action="none", batch_size=16),
            targets=targets,
        )
    except (TypeError, ValueError) as err:
        log(f"influence: skipped, curricula.influence's API is not what this check expects ({err})")
        return None


def make_trainer(name: str, args, model, tokenizer, rows, steps: int, extra: dict):
    """A `CurriculumGRPOTrainer` over ``rows`` with the frontier filter, pre-rollout skipping on,
    writing to a fresh temporary folder (its ``args.output_dir``), logging one line a step."""
    from datasets import Dataset
    from trl import GRPOConfig

    from curricula.config import CurriculaConfig, FrontierConfig
    from rewards import VerifierSpec, make_reward_funcs
    from rlvr.config import cpu_defaults
    from rlvr.trainer import CurriculumGRPOTrainer

    funcs, weights = make_reward_funcs([VerifierSpec("exact")])
    output_dir = tempfile.mkdtemp(prefix=f"gpu_check_{name}_")  # audit log etc.; removed at the end
    values = dict(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=args.per_device,
        gradient_accumulation_steps=args.accum,
        num_generations=args.generations,
        max_completion_length=args.completion_length,
        learning_rate=1e-6,
        beta=0.0,
        temperature=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        reward_weights=[*weights, 1.0],
    )
    grpo = GRPOConfig(**{**cpu_defaults(values), **values})  # as rlvr's recipe: TRL's defaults on GPU
    # Pre-rollout skipping on too, so its bookkeeping is inside the filter's measured share.
    frontier = FrontierConfig(
        enabled=True,
        min_samples=args.min_samples,
        low=args.low,
        high=None,
        reprobe_interval=None,
        skip_zero_variance=True,
    )
    trainer = CurriculumGRPOTrainer(
        model=model,
        reward_funcs=[*funcs, signal_reward],
        args=grpo,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        curricula=CurriculaConfig(frontier=frontier),
        **extra,
    )
    quiet_logging(trainer, name)
    return trainer


def phase_result(name: str, trainer, meter, check, n_params: int, train_s: float) -> dict:
    """The numbers of one trained phase: where its time went, tokens/s, memory, the filter's summary."""
    influence_s = 0.0
    if check is not None:
        influence_s = getattr(check, "total_seconds", 0.0) or sum(r.seconds for r in check.history)
    fwd_bwd_s = max(meter.step_s - meter.prepare_s, 1e-9)
    summary = trainer.curriculum_summary()
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    return {
        "phase": name,
        "parameters_m": round(n_params / 1e6, 1),
        "steps": trainer.state.global_step,
        "train_s": round(train_s, 2),
        "generation_s": round(meter.gen_s, 2),
        "generation_calls": meter.gen_calls,
        "generation_tokens": meter.gen_tokens,
        "generation_tokens_per_s": round(meter.gen_tokens / meter.gen_s, 1) if meter.gen_s else None,
        "scoring_and_logprobs_s": round(meter.prepare_s - meter.gen_s - influence_s, 2),
        "forward_backward_s": round(fwd_bwd_s, 2),
        "training_tokens": meter.trained_tokens,
        "training_tokens_per_s": round(meter.trained_tokens / fwd_bwd_s, 1),
        "optimizer_and_other_s": round(train_s - meter.step_s, 2),
        "curriculum_s": round(trainer.curriculum_seconds, 4),
        "filter_share": round(trainer.curriculum_seconds / train_s, 5),
        "influence_s": round(influence_s, 2) if check is not None else None,
        "influence_share": round(influence_s / train_s, 4) if check is not None else None,
        "influence_checks": len(check.history) if check is not None else None,
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
        "reward_first_last": [rewards[0], rewards[-1]] if rewards else None,
        "frontier": {k: v for k, v in summary.items() if k != "audit_log" and not isinstance(v, (list, dict))},
    }


def print_table(results: list[dict]) -> None:
    rows = [
        ("parameters (M)", "parameters_m"),
        ("steps", "steps"),
        ("train time (s)", "train_s"),
        ("generation (s)", "generation_s"),
        ("generation tokens/s", "generation_tokens_per_s"),
        ("scoring + log-probs (s)", "scoring_and_logprobs_s"),
        ("forward+backward (s)", "forward_backward_s"),
        ("training tokens/s", "training_tokens_per_s"),
        ("optimizer + other (s)", "optimizer_and_other_s"),
        ("filter time (s)", "curriculum_s"),
        ("filter share of train time", "filter_share"),
        ("influence time (s)", "influence_s"),
        ("influence share of train time", "influence_share"),
        ("peak GPU memory (GiB)", "peak_gpu_memory_gib"),
    ]
    header = f"{'':32}" + "".join(f"{r['phase']:>16}" for r in results)
    print("\n" + header)
    for label, key in rows:
        print(f"{label:32}" + "".join(f"{str(r.get(key)):>16}" for r in results))
    for r in results:
        print(f"{r['phase']} frontier: {r['frontier']}")
    sys.stdout.flush()


def main(argv=None, description: str | None = None) -> int:
    """Preflight, the frontier phase, the influence phase if time allows; the table and the JSON
    file. 0 when all passed, 1 when the influence phase failed, 2 without CUDA (and no --tiny)."""
    args = parse_args(argv, description)
    if not torch.cuda.is_available() and not args.tiny:
        print("No CUDA device: run with --tiny (or GPU_CHECK_TINY=1) for the CPU plumbing check.", file=sys.stderr)
        return 2
    if args.tiny and not torch.cuda.is_available():
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out_path = (
        Path(args.out)
        if args.out
        else (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else ROOT / "runs" / "gpu_check.json")
    )
    report: dict = {
        "mode": "tiny" if args.tiny else "full",
        "size": args.size,
        "environment": environment(),
        "generation": "transformers generate (no vLLM)",
        "phases": [],
    }
    log(f"environment: {json.dumps(report['environment'])}")

    started = time.perf_counter()

    def save() -> None:  # after every phase, so a later failure keeps the numbers measured so far
        report["total_s"] = round(time.perf_counter() - started, 1)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(report, indent=2))

    report["preflight"] = preflight()
    log(f"preflight: recipe data + math verifier OK on {report['preflight']['rows']} GSM8K-style rows")

    from rlvr.toy.tasks import make_examples
    from rlvr.toy.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.model_max_length = 1 << 20  # prompt + completion may pass the toy's 128
    rows = [row for skill in SKILLS for row in make_examples(skill, args.n_per_skill, seed=0)]
    frontier = run_phase("frontier", args, tokenizer, rows, device)
    report["phases"].append(frontier)
    save()

    failed = None
    if args.influence_steps > 0:
        failed = influence_phase(args, report, tokenizer, rows, device, started)
    print_table(report["phases"])
    save()
    log(f"wrote {out_path}; total {report['total_s']} s")
    if failed:
        print(f"GPU_CHECK: FAIL ({failed})", flush=True)
        return 1
    print("GPU_CHECK: PASS", flush=True)
    return 0


def influence_phase(args, report: dict, tokenizer, rows, device, started: float) -> str | None:
    """The influence phase, skipped when it would overrun gpu_check.sh's time limit; its result
    or why it was skipped goes into ``report``. Returns why it failed, or None."""
    budget_s = float(os.environ.get("GPU_CHECK_BUDGET_S", "450"))  # gpu_check.sh's limit, less a margin
    from rlvr.toy.tasks import make_examples

    # Skip rather than overrun: the influence phase costs its steps plus one check per step.
    frontier = report["phases"][0]
    per_step = frontier["train_s"] / max(frontier["steps"], 1)
    needed = 2.5 * per_step * args.influence_steps + 30
    elapsed = time.perf_counter() - started
    if elapsed + needed > budget_s:
        report["influence"] = f"skipped: ~{needed:.0f} s needed, {budget_s - elapsed:.0f} s left"
        log(f"influence: {report['influence']}")
        return None
    targets = [row for skill in SKILLS for row in make_examples(skill, 2, "eval", seed=0)]
    try:
        result = run_phase("influence", args, tokenizer, rows, device, influence_targets=targets)
    except Exception as err:  # keep the frontier numbers; the run still fails below
        import traceback

        traceback.print_exc()
        report["influence"] = f"influence phase raised {type(err).__name__}: {err}"
        return report["influence"]
    if result is None:
        report["influence"] = "skipped: curricula.influence not available"
    else:
        report["phases"].append(result)
    return None
