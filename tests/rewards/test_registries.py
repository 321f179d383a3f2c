"""`rewards.registries.Registry`: the one registry kind for verifiers, scorers, selectors, data
sources and models, and the unknown-key check every config section uses."""

import sys

import pytest

from rewards.registries import Registry, check_known_keys, did_you_mean, unknown_keys_message


def test_register_get_names_and_duplicate_names():
    reg: Registry[int] = Registry("widget")
    reg.register("one", 1)

    @reg.register("double")
    def double(x):
        return 2 * x

    assert reg.get("one") == 1 and reg["double"](4) == 8
    assert reg.names() == ["double", "one"] and "one" in reg and "two" not in reg and len(reg) == 2
    reg.register("one", 1)  # the same object again: a no-op
    with pytest.raises(ValueError, match="'one' is already registered"):
        reg.register("one", 2)


def test_unknown_name_suggests_close_names_and_lists_known_ones():
    reg = Registry("widget", error=LookupError, hint="Or a file.")
    for name in ("alpha", "beta", "gamma"):
        reg.register(name, name.upper())
    with pytest.raises(LookupError) as err:
        reg.get("alpah")
    assert (
        str(err.value) == "Unknown widget 'alpah'. Did you mean 'alpha'? Known widgets: alpha, beta, gamma. Or a file."
    )


def test_lazy_entry_is_imported_on_first_get_only(tmp_path, monkeypatch):
    (tmp_path / "lazy_widget_mod.py").write_text("VALUE = {'built': True}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget")
    reg.register("lazy", lazy="lazy_widget_mod:VALUE")
    assert "lazy" in reg and not reg.is_loaded("lazy") and "lazy_widget_mod" not in sys.modules
    assert reg.get("lazy") == {"built": True} and reg.is_loaded("lazy")
    sys.modules.pop("lazy_widget_mod", None)
    with pytest.raises(ValueError, match="already registered"):  # loaded now: another object is refused
        reg.register("lazy", {"other": 1})
    # Before the first get, the target may register its own object under the lazy name.
    reg.register("late", lazy="lazy_widget_mod:VALUE")
    reg.register("late", {"own": 1})
    assert reg.get("late") == {"own": 1}


def test_copy_is_independent():
    reg = Registry("widget")
    reg.register("a", 1)
    other = reg.copy()
    other.register("b", 2)
    assert reg.names() == ["a"] and other.names() == ["a", "b"]


def test_unknown_keys_message_and_check():
    assert unknown_keys_message({"lr": 1}, ["lr", "steps"], "train") is None
    message = unknown_keys_message({"stpes": 1, "zzz": 2}, ["lr", "steps"], "train")
    assert message == (
        "Unknown key 'train.stpes'. Did you mean 'steps'? Unknown key 'train.zzz'. Known keys of 'train': lr, steps."
    )
    with pytest.raises(KeyError):
        check_known_keys(["zzz"], ["lr"], "train", error=KeyError)
    assert did_you_mean("lerning_rate", ["learning_rate", "seed"]) == " Did you mean 'learning_rate'?"
    assert did_you_mean("xyz", ["learning_rate"]) == ""
