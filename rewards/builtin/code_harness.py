"""Runs inside the sandbox (as the program): the solution, then each test, one result line each.

Not imported by `rewards`: `rewards.builtin.code` sends this file's text to `run_python`, with
``solution.py`` (the model's program) and ``tests.json`` beside it. Standard library only.

Output protocol, one line per counted test on the real stdout: ``<marker> <index> pass|fail``.
The marker is random per run so that a program printing "pass" lines does not score; the
solution's own prints are discarded so that they cannot crowd the results out of the capped
output. (This stops accidents, not a program written to attack the harness: both run in the
same interpreter. The sandbox protects the host, not the reward.)
"""

import json
import sys
import traceback


class _Discard:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


def main():
    with open("tests.json") as handle:
        spec = json.load(handle)
    results = sys.stdout
    sys.stdout = _Discard()
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    solution_ok = True
    try:
        with open("solution.py") as handle:
            exec(compile(handle.read(), "solution.py", "exec"), namespace)  # noqa: S102 - the point
    except BaseException:  # noqa: BLE001 - SystemExit included: every test then fails
        solution_ok = False
        traceback.print_exc(limit=3)
    for index, test in enumerate(spec["tests"]):
        passed = False
        if solution_ok:
            try:
                exec(compile(test["code"], f"<test {index}>", "exec"), namespace)  # noqa: S102
                passed = True
            except BaseException:  # noqa: BLE001
                traceback.print_exc(limit=1)
        if test["counted"]:
            results.write(f"{spec['marker']} {index} {'pass' if passed else 'fail'}\n")
            results.flush()


if __name__ == "__main__":  # run as the sandbox's main.py
    main()
