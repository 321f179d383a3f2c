"""``python -m rlvr.toy``: the same as ``rlvr toy`` (`rlvr.cli.toy`)."""

from rlvr.cli.toy import main

if __name__ == "__main__":
    raise SystemExit(main())
