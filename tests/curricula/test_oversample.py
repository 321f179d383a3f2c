from curricula.oversample import (
    Pairing,
    draw_prompts,
    extra_group_budget,
    groups_to_draw,
    pair_groups,
    process_deficits,
)

POOL = [f"p{i}" for i in range(10)]


def test_the_budget_is_the_multiplier_less_the_batch():
    assert extra_group_budget(4.0, 8) == 24
    assert extra_group_budget(2.5, 3) == 4  # 7.5 groups in all, rounded down
    assert extra_group_budget(1.0, 8) == 0


def test_deficits_are_counted_per_process():
    zero = [True, False, True, False, False, False, False, True]
    assert process_deficits(zero, n_proc=2, groups_per_proc=4) == [2, 1]
    assert process_deficits(zero, n_proc=1, groups_per_proc=8) == [3]


def test_batch_mode_draws_a_whole_batch():
    assert groups_to_draw("batch", 1, 0.25, groups_per_proc=4, budget_left=12) == 4
    assert groups_to_draw("batch", 1, 0.25, groups_per_proc=4, budget_left=1) == 4


def test_deficit_mode_draws_what_the_informative_rate_needs():
    # A deficit of 2 at an informative rate of 0.5 (half the batch had zero variance): 4 groups.
    assert groups_to_draw("deficit", 2, 0.5, groups_per_proc=8, budget_left=12) == 4
    assert groups_to_draw("deficit", 1, 0.25, groups_per_proc=4, budget_left=12) == 2  # ceil(1 / 0.75)
    # The rate is floored at 0.25: at most 4x the deficit, then capped by the batch and the budget.
    assert groups_to_draw("deficit", 3, 0.75, groups_per_proc=8, budget_left=12) == 8
    assert groups_to_draw("deficit", 3, 0.75, groups_per_proc=16, budget_left=12) == 12
    assert groups_to_draw("deficit", 3, 0.75, groups_per_proc=16, budget_left=5) == 5
    assert groups_to_draw("deficit", 2, 0.5, groups_per_proc=8, budget_left=0) == 1  # never 0


def draw(n, excluded=(), skipped=(), pool=POOL, step=3, seed=0, round_index=1):
    return draw_prompts(
        pool,
        n,
        is_excluded=set(excluded).__contains__,
        skips=set(skipped).__contains__,
        step=step,
        seed=seed,
        round_index=round_index,
    )


def test_draws_active_unskipped_prompts_seeded_by_step_and_round():
    picks = draw(3, excluded={"p0", "p5"}, skipped={"p2", "p7"})
    assert picks == ["p1", "p3", "p8"]
    assert draw(3, excluded={"p0", "p5"}, skipped={"p2", "p7"}, round_index=2) == ["p6", "p9", "p8"]
    assert draw(3, excluded={"p0", "p5"}, skipped={"p2", "p7"}) == picks  # same (seed, step, round)


def test_skipped_prompts_are_drawn_when_all_are_skipped_and_repeat_when_the_pool_runs_out():
    assert draw(5, excluded={"a"}, skipped={"b", "c"}, pool=["a", "b", "c"], step=0) == ["c", "b", "b", "b", "c"]


def test_no_active_prompt_draws_nothing():
    assert draw(2, excluded={"a"}, pool=["a"]) is None


def test_each_process_pairs_its_zero_variance_groups_with_its_informative_new_ones():
    # Two processes of 4 groups, 3 new groups each.
    zero = [True, False, True, False, False, True, True, False]
    new_zero = [False, True, False, True, True, False]
    pairing = pair_groups(zero, new_zero, n_proc=2, groups_per_proc=4, n_draw=3)
    # Process 0: groups 0 and 2 <- new 0 and 2. Process 1 (local indices): group 1 <- new 2; its
    # group 2 stays zero-variance (its other new groups had zero variance too).
    assert pairing == Pairing(
        pairs=[[(0, 0), (2, 2)], [(1, 2)]], zero=[False, False, False, False, False, False, True, False]
    )
    assert zero == [True, False, True, False, False, True, True, False]  # the input is not changed


def test_pairs_never_cross_processes():
    # Process 0 has no deficit and informative new groups; process 1 the reverse: nothing pairs.
    pairing = pair_groups([False, False, True, True], [False, False, True, True], n_proc=2, groups_per_proc=2, n_draw=2)
    assert pairing.pairs == [[], []] and pairing.zero == [False, False, True, True]
