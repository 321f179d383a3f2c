from rewards import VerifierSpec, make_reward_funcs
from rlvr.config import EvalConfig
from rlvr.evaluate import evaluate_skills
from rlvr.toy import toy_dataset


def test_held_out_accuracy_matches_the_toy_worlds_spread(toy_world_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(toy_world_path)
    tokenizer = AutoTokenizer.from_pretrained(toy_world_path)
    rows = toy_dataset("eval", n_per_skill=16, seed=0).to_list()
    funcs, weights = make_reward_funcs([VerifierSpec("exact")])
    acc = evaluate_skills(
        model, tokenizer, rows, funcs, weights, EvalConfig(max_prompts_per_skill=16), max_new_tokens=8
    )
    # Greedy decoding: the skills the warm-up taught are solved, the hopeless one is not.
    assert acc["copy"] >= 0.9 and acc["add1"] >= 0.8
    assert acc["mul3x3"] == 0.0
    again = evaluate_skills(
        model, tokenizer, rows, funcs, weights, EvalConfig(max_prompts_per_skill=16), max_new_tokens=8
    )
    assert again == acc
