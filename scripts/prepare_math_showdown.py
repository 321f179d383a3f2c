"""Write MATH (Hendrycks et al.) as the JSONL pool and held-out files `rlvr compare` reads, for
the showdown on a real model (configs/showdown_math_1p5b.yaml):

    python scripts/prepare_math_showdown.py --out data/math          # from the Hugging Face Hub
    python scripts/prepare_math_showdown.py --out data/math --files train.parquet test.parquet

Each row: ``id``, ``prompt`` (the problem), ``answer`` (the solution's last ``\\boxed{}``),
``skill`` (the subject: Algebra, Geometry, ...), ``level``. Writes ``train.jsonl`` and
``test.jsonl`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlvr.compare.inputs import math_rows

HUB_NAME = "EleutherAI/hendrycks_math"
SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)


def hub_records(split: str, name: str) -> list[dict]:
    import datasets

    return [r for subject in SUBJECTS for r in datasets.load_dataset(name, subject, split=split)]


def file_records(path: str) -> list[dict]:
    import datasets

    kind = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}[Path(path).suffix]
    return list(datasets.load_dataset(kind, data_files=path, split="train"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for train.jsonl and test.jsonl")
    parser.add_argument("--hub-name", default=HUB_NAME, help="Hub dataset with one config per subject")
    parser.add_argument("--files", nargs=2, metavar=("TRAIN", "TEST"), help="local files instead of the Hub")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, split in enumerate(("train", "test")):
        records = file_records(args.files[i]) if args.files else hub_records(split, args.hub_name)
        rows = math_rows(records, source=args.files[i] if args.files else f"{args.hub_name}/{split}")
        with open(out / f"{split}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        print(f"{out / f'{split}.jsonl'}: {len(rows)} rows, skills {sorted({r['skill'] for r in rows})}")


if __name__ == "__main__":
    main()
