"""``rlvr train``: its arguments are parsed by `rlvr.train` (recipes, ``section.key=value``)."""

from __future__ import annotations


def main(argv: list[str]) -> int:
    from rlvr.train import cli

    return cli(argv)
