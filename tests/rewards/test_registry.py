"""Finding verifiers: registered names, module and file paths, entry points."""

from __future__ import annotations

import doctest
import importlib
import os
import textwrap

import pytest

import rewards
import rewards.adapter
import rewards.base
from rewards import get_verifier, list_verifiers, register_verifier, registry
from rewards.base import UserInputError
from rewards.registry import UnknownVerifierError, VerifierImportError, is_batched


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Registrations made by a test disappear after it."""
    monkeypatch.setattr(registry, "_VERIFIERS", registry._VERIFIERS.copy())
    monkeypatch.setattr(registry, "_FILE_MODULES", {})


def test_importing_rewards_registers_the_builtins():
    assert {"exact", "math", "format", "choice", "code"} <= set(list_verifiers())
    assert get_verifier("exact")("46", {"answer": "46"}) == 1.0
    assert is_batched(get_verifier("code")) and not is_batched(get_verifier("math"))


def test_register_and_get():
    @register_verifier("always_half")
    def always_half(completion, example):
        return 0.5

    assert get_verifier("always_half") is always_half
    assert "always_half" in list_verifiers()


def test_duplicate_name_is_refused_naming_both_functions():
    @register_verifier("twice")
    def first(completion, example):
        return 1.0

    with pytest.raises(ValueError) as raised:

        @register_verifier("twice")
        def second(completion, example):
            return 0.0

    message = str(raised.value)
    assert "'twice' is already registered" in message
    assert "first" in message and "second" in message
    assert get_verifier("twice") is first


def test_unknown_name_suggests_and_lists():
    with pytest.raises(KeyError) as raised:
        get_verifier("mathh")
    assert isinstance(raised.value, UnknownVerifierError)
    message = str(raised.value)
    assert message.startswith("Unknown verifier 'mathh'. Did you mean 'math'?")
    assert "Known verifiers: choice, code, digit_match, exact, format, math" in message

    with pytest.raises(UnknownVerifierError) as raised:
        get_verifier("zzzzzz")
    assert "Did you mean" not in str(raised.value)


def test_module_function_spec():
    assert get_verifier("os.path:basename") is os.path.basename
    assert get_verifier("rewards.builtin.exact:exact") is get_verifier("exact")
    with pytest.raises(UnknownVerifierError, match="no module named 'no_such_pkg.mod'"):
        get_verifier("no_such_pkg.mod:f")
    with pytest.raises(UnknownVerifierError, match="Did you mean 'exact'"):
        get_verifier("rewards.builtin.exact:exactt")


def test_module_with_a_broken_import_keeps_its_own_error(tmp_path, monkeypatch):
    # Not "no module named 'rlvr_broken_verifiers'": the missing dependency inside it, and where.
    (tmp_path / "rlvr_broken_verifiers.py").write_text("import rlvr_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        VerifierImportError,
        match=r"importing module 'rlvr_broken_verifiers' failed \(.*"
        r"rlvr_broken_verifiers.py, line 1\): ModuleNotFoundError: "
        r"No module named 'rlvr_missing_dependency'",
    ):
        get_verifier("rlvr_broken_verifiers:f")


VERIFIER_FILE = textwrap.dedent(
    """
    from rewards import register_verifier

    def shouting(completion, example):
        return 1.0 if completion.isupper() else 0.0

    @register_verifier("from_file_registered", batched=True)
    def batch_length(completions, examples):
        return [float(len(c)) for c in completions]
    """
)


def test_file_path_spec_absolute_and_relative(tmp_path, monkeypatch):
    path = tmp_path / "my verifiers" / "checks.py"
    path.parent.mkdir()
    path.write_text(VERIFIER_FILE)

    shouting = get_verifier(f"{path}:shouting")
    assert shouting("YES", {}) == 1.0 and shouting("no", {}) == 0.0

    monkeypatch.chdir(tmp_path)
    # Same file through a relative path: loaded once, so its decorator does not run twice.
    assert get_verifier("my verifiers/checks.py:shouting") is shouting
    batch_length = get_verifier("my verifiers/checks.py:batch_length")
    assert is_batched(batch_length) and batch_length(["ab", "c"], [{}, {}]) == [2.0, 1.0]
    assert get_verifier("from_file_registered") is batch_length


def test_file_path_spec_errors(tmp_path):
    with pytest.raises(UnknownVerifierError, match="does not exist"):
        get_verifier(f"{tmp_path}/missing.py:f")
    path = tmp_path / "checks.py"
    path.write_text(VERIFIER_FILE)
    with pytest.raises(UnknownVerifierError, match="Did you mean 'shouting'"):
        get_verifier(f"{path}:shoutin")


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A real (tiny) installed distribution declaring two verifiers as entry points."""
    (tmp_path / "rlvr_test_plugin.py").write_text(
        textwrap.dedent(
            """
            LOADED = True

            def word_count(completion, example, words=3):
                return 1.0 if len(completion.split()) == words else 0.0

            def broken(completion, example):
                return 0.0
            """
        )
    )
    dist_info = tmp_path / "rlvr_test_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlvr-test-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[rlvr.verifiers]\nthree_words = rlvr_test_plugin:word_count\nplugin_missing = rlvr_test_plugin:not_there\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    import sys

    sys.modules.pop("rlvr_test_plugin", None)


def test_entry_point_verifier_is_listed_then_loaded_on_first_use(installed_plugin):
    import sys

    assert "three_words" in list_verifiers()
    assert "rlvr_test_plugin" not in sys.modules  # listing does not import the plugin
    three_words = get_verifier("three_words")
    assert three_words("one two three", {}) == 1.0
    assert three_words("one two three four", {}, words=4) == 1.0
    assert "rlvr_test_plugin" in sys.modules
    assert registry._VERIFIERS["three_words"] is three_words
    # An unknown name suggests entry-point names too.
    with pytest.raises(UnknownVerifierError, match="Did you mean 'three_words'"):
        get_verifier("three_word")


def test_entry_point_pointing_nowhere_fails_loudly(installed_plugin):
    with pytest.raises(AttributeError, match="not_there"):
        get_verifier("plugin_missing")


def test_module_docstring_examples_run():
    for module in (rewards.base, rewards.adapter):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


@pytest.mark.parametrize(
    "body, error, line",
    [
        (
            "import rlvr_missing_dependency_xyz\n",
            "ModuleNotFoundError: No module named 'rlvr_missing_dependency_xyz'",
            1,
        ),
        ("x = 1\ndef f(completion, example) return 1.0\n", "SyntaxError: ", 2),
        ("\nraise RuntimeError('boom at import')\n", "RuntimeError: boom at import", 2),
        ("import sys\n\nsys.exit(4)\n", "SystemExit: 4", 3),  # would have ended the whole run with status 4
    ],
)
def test_a_verifier_file_that_fails_to_import_is_one_user_error(tmp_path, body, error, line):
    path = tmp_path / "my_rewards.py"
    path.write_text(body)
    with pytest.raises(VerifierImportError) as err:
        get_verifier(f"{path}:f")
    message = str(err.value)
    assert message.startswith(f"Verifier spec '{path}:f': importing '{path}' failed ({path}, line {line}): {error}")
    assert isinstance(err.value, UserInputError)
