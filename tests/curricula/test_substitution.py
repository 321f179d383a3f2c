from curricula.substitution import Replacements, choose_replacements, excluded_and_skipped

POOL = [f"p{i}" for i in range(10)]


def choose(batch, pool=POOL, excluded=(), probe=(), skipped=(), step=3, seed=0):
    return choose_replacements(
        batch,
        pool,
        is_excluded=set(excluded).__contains__,
        wants_probe=set(probe).__contains__,
        skips=set(skipped).__contains__,
        step=step,
        seed=seed,
    )


def test_nothing_excluded_or_skipped_changes_nothing():
    assert choose(["p0", "p1", "p2", "p3"]) == Replacements({}, [])


def test_excluded_and_skipped_prompts_get_unskipped_active_prompts_outside_the_batch():
    # p5 is excluded, p7 skipped: neither may replace. Seed 0, step 3 draws p4 then p6.
    choice = choose(["p0", "p1", "p2", "p3"], excluded={"p0", "p5"}, skipped={"p2", "p7"})
    assert choice.replacement == {"p0": "p4", "p2": "p6"}
    assert choice.skipped == ["p2"]
    assert list(choice.replacement) == ["p0", "p2"]  # excluded prompts first


def test_the_draw_is_fixed_by_seed_and_step():
    batch, rules = ["p0", "p1", "p2", "p3"], dict(excluded={"p0", "p5"}, skipped={"p2", "p7"})
    assert choose(batch, **rules) == choose(batch, **rules)
    assert choose(batch, step=4, **rules).replacement == {"p0": "p4", "p2": "p8"}
    assert choose(batch, seed=1, **rules).replacement == {"p0": "p8", "p2": "p6"}


def test_an_excluded_prompt_due_for_a_probe_keeps_its_slot():
    choice = choose(["p0", "p1", "p2", "p3"], excluded={"p0", "p1"}, probe={"p1"})
    assert choice.replacement == {"p0": "p8"} and choice.skipped == []


def test_a_prompt_is_skipped_only_if_a_replacement_is_left():
    # Outside the batch only p3 is active and not skipped: the excluded p0 takes it, so p1 (the
    # filter would skip it) is rolled out after all and recorded as no skip.
    choice = choose(["p0", "p1", "p2"], pool=["p0", "p1", "p2", "p3", "p4"], excluded={"p0"}, skipped={"p1", "p4"})
    assert choice.replacement == {"p0": "p3"} and choice.skipped == []


def test_excluded_prompts_fall_back_to_skipped_prompts_then_repeats():
    # No unskipped prompt outside the batch: a takes the skipped d, b repeats an active prompt (c).
    choice = choose(["a", "b", "c"], pool=["a", "b", "c", "d"], excluded={"a", "b"}, skipped={"c", "d"}, step=1)
    assert choice.replacement == {"a": "d", "b": "c"} and choice.skipped == []
    # One active prompt outside the batch for two excluded ones: both get it.
    choice = choose(["a", "b"], pool=["a", "b", "c"], excluded={"a", "b"}, step=1)
    assert choice.replacement == {"a": "c", "b": "c"}


def test_an_excluded_prompt_stays_when_no_prompt_is_active():
    assert choose(["a", "b"], pool=["a", "b"], excluded={"a", "b"}).replacement == {}


def test_excluded_and_skipped_is_the_safety_nets_verdict_in_order():
    excluded = {"a", "c", "e"}
    probing = {"c"}  # excluded, but due for a re-probe: neither out nor skipped
    skipping = {"b", "e", "f"}  # "e" is excluded already: counted there only
    out, skipped = excluded_and_skipped(
        ["f", "e", "d", "c", "b", "a"],
        is_excluded=excluded.__contains__,
        wants_probe=probing.__contains__,
        skips=skipping.__contains__,
    )
    assert out == ["e", "a"] and skipped == ["f", "b"]
