"""``rlvr compat``: score teacher-refined data with the student and keep what it can learn.

    rlvr compat --student toy --data refined.jsonl --out runs/compat
    rlvr compat --student PATH --data refined.parquet --out DIR --config run.yaml quantile=0.8 \\
        --column response=refined_output --column original_response=output

Settings are `curricula.compat.CompatConfig`'s fields: its defaults, then the ``compat:`` section
of ``--config``, then ``KEY=VALUE`` overrides (`rlvr.cli.options`). The old one-flag-per-field
spellings (``--quantile 0.8``, ``--no-reverse``) still work: they become overrides. Rerunning into
the same ``--out`` resumes scoring where it stopped and redoes the (cheap) decisions.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from curricula.compat import CompatConfig
from rlvr.cli.options import add_config_arguments, flags_to_overrides, parse_overrides, read_section

# Fields with their own flags (a list and a mapping), besides KEY=VALUE.
_SPECIAL_FIELDS = {"columns", "rules"}


def _setting_kinds() -> dict[str, bool]:
    """CompatConfig field -> whether it is a boolean (``--flag`` / ``--no-flag``)."""
    return {
        f.name: str(f.type).startswith("bool")
        for f in dataclasses.fields(CompatConfig)
        if f.name not in _SPECIAL_FIELDS
    }


def translate_argv(argv: list[str]) -> list[str]:
    """``--quantile 0.8`` (the old flag per field) -> ``quantile=0.8``."""
    return flags_to_overrides(argv, _setting_kinds())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--student",
        default="toy",
        help="The student: 'toy' (the toy world's warmed-up model), a model folder or a cached Hub name. Default: toy.",
    )
    parser.add_argument(
        "--data",
        required=True,
        help="Teacher-refined rows: .jsonl, .parquet, .csv, a save_to_disk folder or a datasets name.",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="Output folder: scores.jsonl, audit.jsonl, filtered.jsonl, bad_rows.jsonl, "
        "summary.json. Rerunning into it resumes.",
    )
    add_config_arguments(parser, "compat", "quantile=0.8 on_too_long=drop (see CompatConfig)")
    parser.add_argument("--device", help="Torch device (default: cuda if available, else cpu).")
    parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
    parser.add_argument(
        "--column",
        action="append",
        metavar="NAME=SOURCE",
        default=argparse.SUPPRESS,
        help="Map an rlvr column (prompt, response, original_prompt, original_response, "
        "answer, id) to the source's column; repeatable.",
    )
    parser.add_argument(
        "--rules", default=argparse.SUPPRESS, metavar="R1,R2", help="Comma-separated rules (CompatConfig.rules)."
    )


def config_from_args(args: argparse.Namespace) -> CompatConfig:
    """Defaults < the YAML ``compat:`` section < KEY=VALUE overrides < --rules / --column."""
    overrides = parse_overrides(args.overrides, "compat")
    if hasattr(args, "rules"):
        overrides["rules"] = [r.strip() for r in args.rules.split(",") if r.strip()]
    if hasattr(args, "column"):
        columns = {}
        for item in args.column:
            name, sep, source = item.partition("=")
            if not sep or not name or not source:
                raise ValueError(f"--column {item!r} must look like NAME=SOURCE (e.g. response=refined).")
            columns[name.strip()] = source.strip()
        overrides["columns"] = columns
    if args.config:
        read_section(args.config, "compat")  # a missing file or a section that is not a mapping: one line
        return CompatConfig.from_yaml(args.config, overrides)
    return CompatConfig.from_dict(overrides)


def format_summary(result) -> str:
    """Counts per decision and reason, the profile threshold, one example message per reason."""
    lines = [
        f"{result.rows} rows: {result.kept} kept, {result.dropped} dropped ({result.scored_now} scored in this run)."
    ]
    if result.profile is not None:
        p = result.profile
        lines.append(
            f"Frontier: p{p.quantile * 100:g} of the student's {p.source} NLL = {p.threshold:.3f} "
            f"({p.size} rows)" + "".join(f"; {p.by}={g}: {t:.3f} ({n})" for g, (t, n) in p.groups.items())
        )
    width = max((len(k) for k in result.reasons), default=0)
    for key, count in result.reasons.items():
        lines.append(f"  {key.ljust(width)}  {count:>7}   e.g. {result.examples[key]}")
    lines.append(f"Kept rows: {result.filtered_path}  (audit: {result.out_dir / 'audit.jsonl'})")
    return "\n".join(lines)


def load_student(spec: str, device: str | None = None):
    """``(model, tokenizer, name)``; ``spec`` is a registered model (`rlvr.sources`: ``"toy"``,
    the toy world), a folder or a Hub name."""
    from curricula.compat.run import load_student as load_student_from
    from rlvr.sources import MODELS, resolve_model

    return load_student_from(spec, device, path=resolve_model(spec) if spec in MODELS else None)


def run(args: argparse.Namespace) -> int:
    from curricula.compat.run import run_compat
    from curricula.records import DataError
    from rlvr.errors import report_user_error

    try:
        config = config_from_args(args)
        model, tokenizer, name = load_student(args.student, args.device)
        result = run_compat(
            args.data, args.out, config, student=(model, tokenizer, name), progress=not args.no_progress
        )
    except (DataError, ValueError, FileNotFoundError) as err:
        if getattr(args, "debug", False):
            raise
        return report_user_error("rlvr compat", err)
    except KeyboardInterrupt:
        print(
            f"rlvr compat: interrupted; rerun the same command to resume from {args.out}/scores.jsonl.", file=sys.stderr
        )
        return 130
    print(format_summary(result))
    return 0
