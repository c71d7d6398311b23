"""The command line as users drive it: exit codes, messages, files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]
ROOT = Path(__file__).resolve().parents[2]


def test_13b_on_four_gpus_excludes_unsloth_with_reason(cli: Cli) -> None:
    code, out, _ = cli("recommend", "--model-params-b", "13", "--gpu-count", "4", "--method", "lora",
                       "--format", "json")
    assert code == 0
    data = json.loads(out)
    # tool-multi-gpu-limited tests the plan (gpu_count > 1); with the count pinned to 4 every unsloth plan has 4
    (unsloth,) = [e for e in data["tool"]["excluded"] if e["id"] == "unsloth"]
    assert unsloth["rules"] == ["tool-multi-gpu-limited"]
    (because,) = unsloth["because"]  # the rule's reason for the one count in play, naming the rule and the plans
    assert ("Unsloth's multi-GPU support is limited (the seed's matrix; in 2026 only with manual "
            "accelerate/DeepSpeed/FSDP set-up), so it is not planned on 4 GPUs") in because
    assert "tool-multi-gpu-limited" in because and "gpu_count = 4" in because
    assert "2 GPUs" not in because and "8 GPUs" not in because
    assert data["tool"]["choice"] != "unsloth"
    assert data["method"]["choice"] == "lora"
    assert data["hardware"]["count"] == 4
    assert data["trace"]["engine"] == "durable-rules"
    limited = [f for f in data["trace"]["fired"] if f["rule"] == "tool-multi-gpu-limited"]
    assert limited and all(f["entry"] == "unsloth" and f["stage"] == "plan" for f in limited)
    assert all(f["matched"] == {} for f in limited)  # the rule reads no fact: it tests only the plan
    assert "so it is not planned on 4 GPUs" in {f["because"].split("), ")[-1] for f in limited}
    assert set(data["memory"]["breakdown"]) >= {"weights", "gradients", "optimizer", "activations", "overhead"}


def test_new_model_excludes_unsloth_naming_the_rule(cli: Cli) -> None:
    # tool-new-model-lag excludes unsloth from every plan; no other rule is needed to explain the exclusion
    code, out, _ = cli("recommend", "--model-params-b", "13", "--set", "new_model=true", "--format", "json")
    assert code == 0
    (unsloth,) = [e for e in json.loads(out)["tool"]["excluded"] if e["id"] == "unsloth"]
    assert "tool-new-model-lag" in unsloth["rules"], unsloth
    assert any("Unsloth can take days to weeks to support a new architecture" in b for b in unsloth["because"])


def test_set_and_flags_and_profile_combine(cli: Cli) -> None:
    code, out, _ = cli("recommend", str(ROOT / "facts/profiles/beginner.yaml"), "--set", "gpu_count=2",
                       "--experience", "advanced", "--format", "json")
    assert code == 0
    constraints = json.loads(out)["constraints"]
    assert constraints["gpu_count"] == 2 and constraints["experience"] == "advanced"
    assert constraints["model"] == "mistral-7b-v0.3"


def test_gradient_checkpointing_pins_the_plan_from_a_flag_or_a_yaml_boolean(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("recommend", "--model", "llama-3.1-8b", "--gradient-checkpointing", "false",
                       "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["constraints"]["gradient_checkpointing"] == "false"
    assert data["memory"]["setup"]["gradient_checkpointing"] is False
    assert data["derived"]["chosen_gradient_checkpointing"]["value"] is False
    code, out, _ = cli("recommend", "--model", "llama-3.1-8b", "--gradient-checkpointing", "off", "--format", "json")
    assert code == 0 and json.loads(out)["constraints"]["gradient_checkpointing"] == "false"  # on/off as printed
    code, out, _ = cli("recommend", "--model", "llama-3.1-8b", "--gradient-checkpointing", "--format", "json")
    assert code == 0  # the bare flag (as the README writes it) means true
    assert json.loads(out)["constraints"]["gradient_checkpointing"] == "true"
    profile = tmp_path / "p.yaml"
    profile.write_text("constraints:\n  model: llama-3.1-8b\n  gradient_checkpointing: true\n")  # YAML true
    code, out, _ = cli("recommend", str(profile), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["constraints"]["gradient_checkpointing"] == "true"
    assert data["memory"]["setup"]["gradient_checkpointing"] is True


@pytest.mark.parametrize(("argv", "message"), [
    (["--gpu-count", "0"], "tuneplan: error: constraint 'gpu_count': must be at least 1 (GPUs), got '0'"),
    (["--method", "qlor"], "tuneplan: error: constraint 'method': 'qlor' is not allowed (did you mean 'qlora'?)"),
    (["--set", "gpu_cnt=2"], "tuneplan: error: constraint 'gpu_cnt': unknown fact (did you mean 'gpu_count'?)"),
    (["--budget-usd", "nan"], "tuneplan: error: constraint 'budget_usd': expected a finite number (USD), got 'nan'"),
    (["--gpu", "a100"], "tuneplan: error: constraint 'gpu': unknown GPU id 'a100' (did you mean"),
    (["--gradient-checkpointing", "maybe"], "tuneplan: error: constraint 'gradient_checkpointing': 'maybe' is "
                                            "not allowed; allowed: auto, true, false"),
    (["--owned-gpu", "h100"], "tuneplan: error: constraint 'owned_gpu': unknown GPU id 'h100' (did you mean"),
])
def test_bad_constraints_exit_1_naming_the_fact(cli: Cli, argv: list[str], message: str) -> None:
    code, out, err = cli("recommend", "--model", "llama-3.1-8b", *argv)
    assert code == 1 and out == ""
    assert err.startswith(message)
    assert "Traceback" not in err


def test_usage_errors_exit_2(cli: Cli) -> None:
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--no-such-flag")
    assert code == 2 and "unknown argument(s): --no-such-flag" in err
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--set", "novalue")
    assert code == 2 and "--set expects NAME=VALUE" in err


def test_graph_files_and_output_are_written(cli: Cli, tmp_path: Path) -> None:
    code, _, _ = cli("recommend", "--model", "llama-3.1-8b", "--format", "markdown", "--output",
                     str(tmp_path / "r.md"), "--graph", str(tmp_path / "g.dot"))
    assert code == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph tuneplan {")
    assert "![decision graph](g.dot)" in (tmp_path / "r.md").read_text()


def test_svg_without_graphviz_is_a_clear_error(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--graph", str(tmp_path / "g.svg"))
    assert code == 1
    assert "the Graphviz 'dot' program is not installed (apt-get install graphviz" in err
    assert not (tmp_path / "g.svg").exists()


def test_check_clean_and_broken(cli: Cli, rules_copy: Path) -> None:
    code, _, err = cli("check", str(ROOT / "rules"), str(ROOT / "facts"))
    assert code == 0 and err.startswith("ok:")
    tool = rules_copy / "sets" / "tool.yaml"
    tool.write_text(tool.read_text().replace("when: {new_model: true}", "when: {new_modle: true}", 1))
    (rules_copy / "catalog" / "tools.yaml").write_text(
        (rules_copy / "catalog" / "tools.yaml").read_text().replace("hf_native: true", "hf_native: yes", 1))
    code, out, _ = cli("check", str(rules_copy))
    lines = out.splitlines()
    assert code == 1 and len(lines) == 2
    assert lines[0].endswith("tools.yaml:45:16: 'yes' is ambiguous (YAML 1.1 reads it as a boolean); write "
                             "true/false, or quote it for a string")
    assert lines[1].endswith("tool.yaml:17:12: rule 'tool-new-model-lag': unknown fact 'new_modle' "
                             "(did you mean 'new_model'?)")


def test_check_reports_bad_profiles(cli: Cli, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("constraints:\n  model: llama-3.1-8b\n  gpu_count: -1\n  experiance: beginner\n")
    code, out, _ = cli("check", str(profile))
    assert code == 1
    assert out.splitlines() == [
        f"{profile}:3:3: constraint 'gpu_count': must be at least 1 (GPUs), got -1",
        f"{profile}:4:3: constraint 'experiance': unknown fact (did you mean 'experience'?); known facts: "
        + out.splitlines()[1].split("known facts: ")[1],
    ]


def test_an_internal_error_exits_3_without_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.pipeline.run

    def boom(*_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(engine.pipeline.run.Run, "run", boom)
    code, _, err = cli("recommend", "--model", "llama-3.1-8b")
    assert code == 3
    assert "internal error (RuntimeError: simulated bug); this is a bug" in err and "Traceback" not in err
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--debug")
    assert code == 3 and "Traceback" in err


def test_scenario_runner_reports_failures_and_coverage(cli: Cli, tmp_path: Path) -> None:
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text("scenarios:\n  - name: wrong on purpose\n    constraints: {model: llama-3.1-8b}\n"
                         "    expect: {method: full}\n")
    code, out, _ = cli("test", str(scenarios))
    assert code == 1
    assert out.splitlines()[0].endswith("s.yaml:2:5: FAIL wrong on purpose: method: expected full, got lora")
    assert out.splitlines()[-1] == "0 passed, 1 failed"
    code, out, _ = cli("test", "--coverage", "--min-coverage", "90")
    assert code == 0 and "total" in out
