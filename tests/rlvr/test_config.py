import pytest

from rlvr.config import ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_toy_config_builds_every_section():
    config = load_config("configs/toy.yaml", ["grpo.max_steps=3", "verifiers.0.weight=0.5"])
    assert config.model.model_name_or_path == "toy"
    assert config.grpo.max_steps == 3 and config.grpo.num_generations == 8
    assert config.verifiers[0].name == "exact" and config.verifiers[0].weight == 0.5
    assert config.curricula.frontier.enabled and config.curricula.frontier.high == 0.9
    assert config.grpo.bf16 is False  # CPU default, not TRL's bf16=True


def test_unknown_keys_name_the_key_and_suggest(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown key 'grpo.lerning_rate'. Did you mean 'learning_rate'\?"):
        load_config(write(tmp_path, "grpo:\n  lerning_rate: 0.1\n"))
    with pytest.raises(ConfigError, match=r"Unknown key 'data.trian'. Did you mean 'train'\?"):
        load_config(write(tmp_path, "data:\n  trian: x.jsonl\n"))
    with pytest.raises(ConfigError, match=r"Unknown section 'curicula'.*Did you mean 'curricula'\?"):
        load_config(write(tmp_path, "curicula: {}\n"))
    with pytest.raises(ConfigError, match=r"curricula.frontier.mni_samples.*Did you mean 'min_samples'\?"):
        load_config(write(tmp_path, "curricula:\n  frontier:\n    mni_samples: 3\n"))
    with pytest.raises(ConfigError, match=r"Unknown key 'verifiers.0.wieght'"):
        load_config(write(tmp_path, "verifiers:\n  - name: exact\n    wieght: 2\n"))


def test_overrides_need_a_section_and_say_which(tmp_path):
    path = write(tmp_path, "grpo:\n  output_dir: out\n")
    with pytest.raises(ConfigError, match=r"Did you mean 'grpo.max_steps'\?"):
        load_config(path, ["max_steps=5"])
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config(path, ["grpo.max_steps"])


def test_bad_values_are_reported_with_their_section(tmp_path):
    with pytest.raises(ConfigError, match="frontier.high must be in"):
        load_config(write(tmp_path, "curricula:\n  frontier:\n    low: 0.5\n    high: 0.2\n"))
    with pytest.raises(ConfigError, match="Config file .* does not exist"):
        load_config(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------------------------
# Values are checked against their field's type before anything is built


@pytest.mark.parametrize(
    "override, message",
    [
        ("grpo.max_steps=ten", "grpo.max_steps: expected an integer, got 'ten'"),
        ("curricula.frontier.confidence=high", "curricula.frontier.confidence: expected a number, got 'high'"),
        ("data.skip_bad_rows=maybe", "data.skip_bad_rows: expected true or false, got 'maybe'"),
        ("data.skip_bad_rows=1", "data.skip_bad_rows: expected true or false, got 1"),
        ("curricula.frontier.high=high", "curricula.frontier.high: expected a number or null, got 'high'"),
        ("curricula.influence.dim=big", "curricula.influence.dim: expected an integer, got 'big'"),
        ("verifiers.0.weight=heavy", "verifiers.0.weight: expected a number, got 'heavy'"),
        ("model.lora_r=8.5", "model.lora_r: expected an integer, got 8.5"),
        ("data.toy_skills=[add1, [add2]]", "data.toy_skills.1: expected a string, got ['add2']"),
        ("data.columns={prompt: [q]}", "data.columns.prompt: expected a string, got ['q']"),
        ("grpo.learning_rate=1e-3x", "grpo.learning_rate: expected a number, got '1e-3x'"),
    ],
)
def test_a_mistyped_value_names_its_key_value_and_type(override, message):
    with pytest.raises(ConfigError) as caught:
        load_config("configs/toy.yaml", [override])
    assert str(caught.value) == message


def test_number_strings_are_numbers_and_ints_are_floats(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as a string; torch would crash on it after the model loaded.
    config = load_config(
        write(
            tmp_path,
            "grpo:\n  learning_rate: 1e-3\n  max_steps: '7'\n  warmup_steps: 1.0e+1\neval:\n  temperature: 1\n",
        )
    )
    assert config.grpo.learning_rate == 0.001 and type(config.grpo.learning_rate) is float
    assert config.grpo.max_steps == 7 and config.grpo.warmup_steps == 10
    assert config.eval.temperature == 1.0 and type(config.eval.temperature) is float
    config = load_config("configs/toy.yaml", ["grpo.max_steps=1e2", "data.skip_bad_rows=yes"])
    assert config.grpo.max_steps == 100 and config.data.skip_bad_rows is True


def test_unions_keep_what_the_library_checks_itself():
    # TRL's `lr_scheduler_type: SchedulerType | str`: a string stays a string for transformers.
    config = load_config(
        "configs/toy.yaml",
        [
            "grpo.lr_scheduler_type=cosine",
            "curricula.frontier.high=null",
            "curricula.influence.protected_skills=[add1, add2]",
        ],
    )
    assert config.grpo.lr_scheduler_type.value == "cosine"
    assert config.curricula.frontier.high is None
    assert config.curricula.influence.protected_skills == ["add1", "add2"]
    with pytest.raises(ConfigError, match="Invalid 'grpo' section: .*not a valid SchedulerType"):
        load_config("configs/toy.yaml", ["grpo.lr_scheduler_type=cosinee"])


def test_unknown_key_message_names_a_few_close_keys_not_all():
    with pytest.raises(ConfigError) as caught:
        load_config("configs/toy.yaml", ["grpo.max_stepz=3"])
    message = str(caught.value)
    assert message.startswith("Unknown key 'grpo.max_stepz'. Did you mean 'max_steps'?")
    assert "per_device_train_batch_size" not in message and len(message) < 200  # was ~4,000 characters
    with pytest.raises(ConfigError, match=r"^Unknown key 'grpo.zzzqq'. 'grpo' has \d+ keys; see the GRPOConfig "):
        load_config("configs/toy.yaml", ["grpo.zzzqq=1"])
    with pytest.raises(ConfigError, match=r"Known keys of 'eval': batch_size, enabled, "):
        load_config("configs/toy.yaml", ["eval.enabeld=false"])


def test_a_missing_required_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^verifiers.0: missing required key 'name'.$"):
        load_config(write(tmp_path, "verifiers:\n  - weight: 2\n"))


def test_coerce_value_handles_every_annotation_kind():
    import enum
    from dataclasses import dataclass, field
    from typing import Any, Literal

    from rlvr.config_types import build_dataclass, coerce_value

    class Color(enum.Enum):
        RED = "red"

    @dataclass
    class Inner:
        n: int = 0

    @dataclass
    class Outer:
        mode: Literal["a", "b"] = "a"
        color: Color = Color.RED
        pair: tuple[int, float] = (0, 0.0)
        weights: dict[str, float] = field(default_factory=dict)
        inner: Inner = field(default_factory=Inner)
        anything: Any = None

    built = build_dataclass(
        Outer,
        {"color": "red", "pair": ["1", 2], "weights": {"x": "1e-3"}, "inner": {"n": 4.0}, "anything": object},
        "outer",
    )
    assert (built.color, built.pair, built.weights, built.inner, built.anything) == (
        Color.RED,
        (1, 2.0),
        {"x": 0.001},
        Inner(4),
        object,
    )
    with pytest.raises(ConfigError, match=r"^outer.mode: expected one of 'a', 'b', got 'c'$"):
        build_dataclass(Outer, {"mode": "c"}, "outer")
    with pytest.raises(
        ConfigError, match=r"^Unknown key 'outer.inner.nn'. Did you mean 'n'\? Known keys of 'outer.inner': n.$"
    ):
        build_dataclass(Outer, {"inner": {"nn": 1}}, "outer")
    assert coerce_value(True, bool | None, "k") is True and coerce_value("5", int | str, "k") == "5"
    with pytest.raises(ConfigError, match=r"^k: expected a string, got True$"):
        coerce_value(True, str, "k")  # `name: yes` must not silently become the name "True"


def test_user_errors_share_one_base_class():
    from rewards import UnknownVerifierError, UserInputError
    from rlvr.data import DataError

    assert issubclass(ConfigError, UserInputError) and issubclass(DataError, UserInputError)
    assert issubclass(UnknownVerifierError, UserInputError) and issubclass(UnknownVerifierError, KeyError)


# --- red-team cases (issue 14): config mistakes that crashed or passed silently -----------------


def test_duplicate_keys_are_errors_naming_both_lines(tmp_path):
    # PyYAML lets the last duplicate win silently: the first max_steps was ignored.
    with pytest.raises(ConfigError, match=r"duplicate key 'max_steps' \(first at line 2\)[\s\S]*run.yaml\", line 3"):
        load_config(write(tmp_path, "grpo:\n  max_steps: 2\n  max_steps: 3\n"))


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"\xff\xfe grpo")
    with pytest.raises(ConfigError, match=r"run.yaml' is not UTF-8 text \(byte b'\\xff' at offset 0\)"):
        load_config(path)


def test_yaml_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"in \".*run.yaml\", line 2, column 1"):
        load_config(write(tmp_path, "grpo:\n\tmax_steps: 2\n"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("verifiers.5.weight=1", r"index 5 is past the end of 'verifiers' \(1 item\(s\)\)"),
        ("verifiers.x.weight=1", r"'verifiers' is a list; 'x' is not an index"),
        ("verifiers.-1.weight=1", r"'verifiers' is a list; '-1' is not an index"),
        ("grpo.max_steps.x=1", r"'grpo.max_steps' is 60, not a section; it has no key 'x'"),
        ("grpo.max_steps=[", r"Override 'grpo.max_steps=\[': the value is not valid YAML"),
    ],
)
def test_bad_override_paths_and_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("configs/toy.yaml", [override])


@pytest.mark.parametrize(
    "override, message",
    [
        ("grpo.num_generations=0", r"grpo.num_generations must be >= 2 .*got 0"),  # was a ZeroDivisionError
        ("grpo.num_generations=1", r"grpo.num_generations must be >= 2 .*got 1"),
        ("grpo.max_completion_length=0", r"grpo.max_completion_length must be >= 1, got 0"),
        ("grpo.per_device_train_batch_size=0", r"grpo.per_device_train_batch_size must be >= 1, got 0"),
        ("grpo.gradient_accumulation_steps=0", r"grpo.gradient_accumulation_steps must be >= 1, got 0"),
        ("grpo.temperature=0", r"grpo.temperature must be > 0"),
        ("grpo.learning_rate=-1e-3", r"grpo.learning_rate must be >= 0, got -0.001"),
        ("grpo.top_p=2", r"grpo.top_p must be in \(0, 1\], got 2.0"),
        ("grpo.top_k=-5", r"grpo.top_k must be >= 0 \(0 = off\), got -5"),
        ("grpo.beta=-1", r"grpo.beta must be >= 0 \(the KL coefficient; 0 = no KL term\), got -1.0"),
        ("grpo.epsilon=-0.2", r"grpo.epsilon must be >= 0 \(the clipping range\), got -0.2"),
        ("grpo.output_dir=null", r"grpo.output_dir must be a directory path, got None"),
        ("grpo.max_grad_norm=-1", r"grpo.max_grad_norm must be >= 0 \(0 = no gradient clipping\), got -1.0"),
        ("verifiers=[]", r"'verifiers' .*is an empty list: name at least one verifier"),
        ("data.max_rows=0", r"Invalid 'data' section: max_rows must be >= 1, got 0"),
        ("data.max_rows=-1", r"max_rows must be >= 1, got -1"),
        ("data.toy_n_per_skill=0", r"toy_n_per_skill must be >= 1, got 0"),
        ("eval.batch_size=0", r"Invalid 'eval' section: batch_size must be >= 1, got 0"),
        ("eval.temperature=-1", r"temperature must be >= 0 \(0 = greedy\), got -1.0"),
        (
            "model.model_name_or_path=null",
            r"model.model_name_or_path must be a local folder, a Hub name or 'toy', got None",
        ),
        ("model.dtype=float99", r"model.dtype: expected one of auto, bfloat16, float16, float32, got 'float99'"),
        ("verifiers.0.weight=.nan", r"weight must be a finite number, got nan"),
        ("verifiers.0.error_value=.inf", r"error_value must be a finite number or None, got inf"),
    ],
)
def test_nonsensical_values_stop_before_the_model_loads(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("configs/toy.yaml", [override])


def test_sensible_edge_values_are_still_accepted():
    config = load_config(
        "configs/toy.yaml",
        [
            "grpo.learning_rate=0",
            "model.dtype=auto",
            "data.max_rows=1",
            "eval.temperature=0",
            "verifiers.0.weight=-0.5",
        ],
    )
    assert config.grpo.learning_rate == 0 and config.data.max_rows == 1 and config.verifiers[0].weight == -0.5


def test_no_verifiers_section_means_exact_and_no_gradient_clipping_is_zero():
    config = load_config("configs/toy.yaml", ["verifiers=null", "grpo.max_grad_norm=0"])
    assert [v.name for v in config.verifiers] == ["exact"]
    assert config.grpo.max_grad_norm == 0
