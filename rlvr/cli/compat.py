"""``rlvr compat``: score teacher-refined data with the student and keep what it can learn.

    rlvr compat --student toy --data refined.jsonl --out runs/compat
    rlvr compat --student PATH --data refined.parquet --out DIR --config run.yaml --quantile 0.8 \\
        --column response=refined_output --column original_response=output

Settings come from `curricula.compat.CompatConfig`: its defaults, then the ``compat:`` section of
``--config``, then flags (one per field, ``--quantile``, ``--on-too-long`` ...). Rerunning into the
same ``--out`` resumes scoring where it stopped and redoes the (cheap) decisions.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys

from curricula.compat import CompatConfig

# Fields set by their own flags (or only in YAML) rather than the generic one-flag-per-field.
_SPECIAL_FIELDS = {"columns", "rules"}


def _field_help(cls) -> dict[str, str]:
    """Each field's description from the class docstring's ``Args:`` section."""
    docs: dict[str, str] = {}
    current = None
    for line in (cls.__doc__ or "").split("Args:", 1)[-1].splitlines():
        match = re.match(r"^\s{8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2)
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return {name: text.replace("%", "%%") for name, text in docs.items()}


def _flag_type(field: dataclasses.Field):
    kind = str(field.type)
    for name, cast in (("int", int), ("float", float), ("str", str), ("bool", bool)):
        if kind.startswith(name):
            return cast
    raise TypeError(f"CompatConfig.{field.name} has type {kind}; give it a flag in rlvr.cli.compat.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--student", default="toy",
                        help="The student: 'toy' (the toy world's warmed-up model), a model folder or a "
                             "cached Hub name. Default: toy.")
    parser.add_argument("--data", required=True,
                        help="Teacher-refined rows: .jsonl, .parquet, .csv, a save_to_disk folder or a "
                             "datasets name.")
    parser.add_argument("--out", required=True,
                        help="Output folder: scores.jsonl, audit.jsonl, filtered.jsonl, bad_rows.jsonl, "
                             "summary.json. Rerunning into it resumes.")
    parser.add_argument("--config", help="A YAML file whose 'compat:' section sets CompatConfig fields.")
    parser.add_argument("--device", help="Torch device (default: cuda if available, else cpu).")
    parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
    parser.add_argument("--column", action="append", metavar="NAME=SOURCE", default=argparse.SUPPRESS,
                        help="Map an rlvr column (prompt, response, original_prompt, original_response, "
                             "answer, id) to the source's column; repeatable.")
    helps = _field_help(CompatConfig)
    parser.add_argument("--rules", default=argparse.SUPPRESS, metavar="R1,R2",
                        help="Comma-separated. " + helps.get("rules", ""))
    group = parser.add_argument_group("filter settings (CompatConfig; flags override --config)")
    for field in dataclasses.fields(CompatConfig):
        if field.name in _SPECIAL_FIELDS:
            continue
        flag = "--" + field.name.replace("_", "-")
        cast = _flag_type(field)
        if cast is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=helps.get(field.name))
        else:
            group.add_argument(flag, type=cast, default=argparse.SUPPRESS, help=helps.get(field.name))


def config_from_args(args: argparse.Namespace) -> CompatConfig:
    """Defaults < the YAML ``compat:`` section < flags."""
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(CompatConfig)
                 if f.name not in _SPECIAL_FIELDS and hasattr(args, f.name)}
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
        return CompatConfig.from_yaml(args.config, overrides)
    return CompatConfig.from_dict(overrides)


def format_summary(result) -> str:
    """Counts per decision and reason, the profile threshold, one example message per reason."""
    lines = [f"{result.rows} rows: {result.kept} kept, {result.dropped} dropped "
             f"({result.scored_now} scored in this run)."]
    if result.profile is not None:
        p = result.profile
        lines.append(f"Frontier: p{p.quantile * 100:g} of the student's {p.source} NLL = {p.threshold:.3f} "
                     f"({p.size} rows)" + "".join(f"; {p.by}={g}: {t:.3f} ({n})" for g, (t, n) in p.groups.items()))
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
        result = run_compat(args.data, args.out, config, student=(model, tokenizer, name),
                            progress=not args.no_progress)
    except (DataError, ValueError, FileNotFoundError) as err:
        if getattr(args, "debug", False):
            raise
        return report_user_error("rlvr compat", err)
    except KeyboardInterrupt:
        print(f"rlvr compat: interrupted; rerun the same command to resume from {args.out}/scores.jsonl.",
              file=sys.stderr)
        return 130
    print(format_summary(result))
    return 0
