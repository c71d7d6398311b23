"""From advice to a run (issue 15): `--emit-config` writes the chosen tool's own config for the chosen plan.
Golden files per tool and method, and checks from first principles: every file parses or compiles, every
key is one the tool documents, every value is the plan's (sequence length, rank, precision, accumulation,
ZeRO stage), and what only the user knows is marked FILL-IN."""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.language.ir import CatalogEntry, Location
from engine.pipeline import Engine
from engine.render.views import Report as Recommendation
from engine.tools.emit import FILL_IN, EmitError, documented_problems, emit, plan_values

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "emit"
UPDATE = os.environ.get("TUNEPLAN_UPDATE_GOLDEN") == "1"
CASES: dict[str, dict[str, Any]] = {
    "axolotl-lora": {"model": "llama-3.1-8b", "tool": "axolotl", "method": "lora"},
    "axolotl-qlora": {"model": "llama-3.1-8b", "tool": "axolotl", "method": "qlora", "seq_len": 4096},
    "axolotl-full-zero3": {"model": "llama-3.1-8b", "tool": "axolotl", "method": "full", "gpu_count": 4},
    "axolotl-dpo": {"model": "qwen2.5-7b", "tool": "axolotl", "method": "lora", "alignment": "dpo"},
    "llama-factory-lora": {"model": "qwen2.5-7b", "tool": "llama-factory", "method": "lora"},
    "llama-factory-qlora": {"model": "llama-3.1-70b", "tool": "llama-factory", "method": "qlora"},
    "llama-factory-full-zero3": {"model": "qwen2.5-14b", "tool": "llama-factory", "method": "full", "gpu_count": 8},
    "llama-factory-dpo": {"model": "mistral-7b-v0.3", "tool": "llama-factory", "method": "lora", "alignment": "dpo"},
    "llama-factory-orpo": {"model": "qwen2.5-7b", "tool": "llama-factory", "method": "lora", "alignment": "orpo"},
    "trl-lora": {"model": "llama-3.1-8b", "tool": "trl", "method": "lora"},
    "trl-qlora-t4": {"model": "llama-3.2-3b", "tool": "trl", "method": "qlora", "owned_gpu": "t4"},
    "trl-dpo": {"model": "llama-3.1-8b", "tool": "trl", "method": "lora", "alignment": "dpo"},
    "trl-grpo-ddp": {"model": "qwen2.5-7b", "tool": "trl", "method": "lora", "alignment": "grpo", "gpu_count": 2},
    "unsloth-lora": {"model": "llama-3.1-8b", "tool": "unsloth", "method": "lora"},
    "unsloth-qlora-ollama": {"model": "mistral-7b-v0.3", "tool": "unsloth", "method": "qlora", "deploy": "ollama",
                             "owned_gpu": "rtx-4090"},
    "unsloth-full": {"model": "llama-3.2-1b", "tool": "unsloth", "method": "full"},
    "axolotl-context-parallel": {"model": "llama-3.1-8b", "tool": "axolotl", "method": "lora", "seq_len": 131072,
                                 "gpu": "h100-80gb", "gpu_count": 8},
    "trl-context-parallel": {"model": "llama-3.1-8b", "tool": "trl", "method": "lora", "seq_len": 131072,
                             "gpu": "h100-80gb", "gpu_count": 8},
    "torchtune-lora": {"model": "llama-3.1-8b", "tool": "torchtune", "method": "lora"},
    "torchtune-qlora-own-config": {"model": "qwen2.5-7b", "tool": "torchtune", "method": "qlora"},
    "torchtune-full-fsdp": {"model": "llama-3.1-70b", "tool": "torchtune", "method": "full", "gpu_count": 8},
    "torchtune-dpo": {"model": "llama-3.1-8b", "tool": "torchtune", "method": "lora", "alignment": "dpo"},
}


def _recommend(constraints: dict[str, Any]) -> Recommendation:
    return Engine.for_rules().recommend(constraints)


@pytest.fixture(scope="module")
def emitted() -> dict[str, tuple[Recommendation, dict[str, str]]]:
    out = {}
    for name, constraints in CASES.items():
        rec = _recommend(constraints)
        assert not rec.blocked, (name, rec.blocked)
        out[name] = (rec, {f.name: f.text for f in emit(rec)})
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_files(emitted: dict[str, tuple[Recommendation, dict[str, str]]], case: str) -> None:
    _, files = emitted[case]
    folder = GOLDEN / case
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, text in files.items():
            (folder / name).write_text(text)
    assert folder.is_dir(), f"missing {folder}; run with TUNEPLAN_UPDATE_GOLDEN=1"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    for name, text in files.items():
        assert text == (folder / name).read_text(), f"{case}/{name} differs from its golden file"


def _parsed(files: dict[str, str]) -> dict[str, Any]:
    """Every file parsed: YAML and JSON loaded, Python compiled (and its settings dicts evaluated)."""
    out: dict[str, Any] = {}
    for name, text in files.items():
        if name.endswith(".yaml"):
            out[name] = yaml.safe_load(text)
        elif name.endswith(".json"):
            out[name] = json.loads(text)
        elif name.endswith(".sh"):
            out[name] = _shell_overrides(name, text)
        elif name.endswith(".py"):
            tree = ast.parse(text)
            compile(tree, name, "exec")
            out[name] = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
                         if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                         and node.targets[0].id in ("MODEL", "DATASET", "CONFIG", "LORA", "QUANTIZATION", "LOAD")}
    return out


def _shell_overrides(name: str, text: str) -> dict[str, Any]:
    """A script checked by bash -n, and its tune run line: the recipe, the config and each key=value override."""
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"{name}: {checked.stderr}"
    block = text.split("OVERRIDES=(\n", 1)[1].split("\n)\n", 1)[0]
    overrides = dict(shlex.split(line, comments=True)[0].split("=", 1) for line in block.splitlines())
    run = next(line for line in text.splitlines() if line.startswith("tune run "))
    words = shlex.split(run)
    at = words.index("--config")
    return {"overrides": overrides, "recipe": words[at - 1], "config": words[at + 1],
            "nproc": int(words[words.index("--nproc_per_node") + 1]) if "--nproc_per_node" in words else 1}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_file_parses_and_every_value_is_the_plans(emitted: dict[str, tuple[Recommendation, dict[str, str]]],
                                                        case: str) -> None:
    rec, files = emitted[case]
    plan = rec.plan
    assert plan is not None
    parsed = _parsed(files)
    constraints = CASES[case]
    seq_len = constraints.get("seq_len", 2048)
    gpu = rec.rulebase.catalogs["gpus"].by_id(plan.offer.gpu)
    bf16 = bool(gpu.attrs["bf16"])   # type: ignore[union-attr]
    settings = _settings(case, parsed)
    # the tool's keys for the plan's numbers
    assert settings["seq_len"] == seq_len
    if plan.setup.method in ("lora", "qlora"):
        assert settings["rank"] == rec.facts["lora_rank"]
    assert settings["bf16"] is bf16 and settings["fp16"] is (not bf16)        # a T4 gets fp16, never bf16
    assert settings["micro"] * settings["accum"] * plan.setup.gpu_count >= 16  # the global batch of the defaults
    assert settings["four_bit"] is (plan.setup.method == "qlora")
    assert settings["checkpointing"] is plan.setup.gradient_checkpointing
    if plan.setup.sharding in ("zero2", "zero3"):
        ds = parsed[f"ds_{plan.setup.sharding}.json"]
        assert ds["zero_optimization"]["stage"] == (3 if plan.setup.sharding == "zero3" else 2)
        assert settings["deepspeed"] == f"ds_{plan.setup.sharding}.json"
    if plan.setup.sharding == "fsdp-cp":   # every sequence split across all the plan's GPUs
        count = plan.setup.gpu_count
        if case.startswith("axolotl"):
            assert parsed["axolotl.yaml"]["context_parallel_size"] == count
        else:
            assert parsed["accelerate.yaml"]["parallelism_config"]["parallelism_config_cp_size"] == count
            assert parsed["accelerate.yaml"]["distributed_type"] == "FSDP"
    # what only the user knows is marked, never invented
    text = "\n".join(files.values())
    assert f"{FILL_IN}:" in text and "dataset" in text.lower()
    assert "None" not in files["RUN.md"] and "?" not in files["RUN.md"]
    assert rec.facts.get("model") is None or str(plan_values(rec)["model"]).count("/") == 1


def _settings(case: str, parsed: dict[str, Any]) -> dict[str, Any]:
    """The plan-carrying settings of each tool, read back by their keys."""
    if case.startswith("axolotl"):
        c = parsed["axolotl.yaml"]
        return {"seq_len": c["sequence_len"], "rank": c.get("lora_r"), "bf16": c["bf16"], "fp16": c["fp16"],
                "micro": c["micro_batch_size"], "accum": c["gradient_accumulation_steps"],
                "four_bit": c.get("load_in_4bit", False), "checkpointing": c["gradient_checkpointing"],
                "deepspeed": c.get("deepspeed")}
    if case.startswith("llama-factory"):
        c = parsed["llamafactory.yaml"]
        return {"seq_len": c["cutoff_len"], "rank": c.get("lora_rank"), "bf16": c["bf16"], "fp16": c["fp16"],
                "micro": c["per_device_train_batch_size"], "accum": c["gradient_accumulation_steps"],
                "four_bit": c.get("quantization_bit") == 4, "checkpointing": not c["disable_gradient_checkpointing"],
                "deepspeed": c.get("deepspeed")}
    if case.startswith("torchtune"):
        o = parsed["train.sh"]["overrides"]
        return {"seq_len": int(o["tokenizer.max_seq_len"]), "rank": int(o.get("model.lora_rank", 0)) or None,
                "bf16": o["dtype"] == "bf16", "fp16": o["dtype"] != "bf16", "micro": int(o["batch_size"]),
                "accum": int(o["gradient_accumulation_steps"]), "four_bit": "qlora" in parsed["train.sh"]["config"]
                or "qlora" in case, "checkpointing": o["enable_activation_checkpointing"] == "True", "deepspeed": None}
    script = parsed["train.py"]
    config, lora = script["CONFIG"], script["LORA"]
    four_bit = script.get("QUANTIZATION", {}).get("load_in_4bit", False) or script.get("LOAD", {}).get("load_in_4bit")
    seq = config.get("max_length") or script.get("LOAD", {}).get("max_seq_length")
    checkpointing = config.get("gradient_checkpointing", lora.get("use_gradient_checkpointing") == "unsloth")
    if case.startswith("unsloth") and not lora:   # full fine-tuning: Unsloth checkpoints by default
        checkpointing = True
    return {"seq_len": seq if "grpo" not in case else 2048, "rank": lora.get("r"), "bf16": config["bf16"],
            "fp16": config["fp16"], "micro": config["per_device_train_batch_size"],
            "accum": config["gradient_accumulation_steps"], "four_bit": bool(four_bit), "checkpointing": checkpointing,
            "deepspeed": config.get("deepspeed")}


def test_every_key_is_one_the_tool_documents() -> None:
    catalog = Engine.for_rules().rulebase.catalogs["tool-configs"]
    assert [p for e in catalog.entries if e.id != "defaults" for p in documented_problems(e)] == []


def test_a_misspelt_key_is_caught() -> None:
    entry = CatalogEntry("axolotl", "tool-configs", {"documented_keys": ["sequence_len"],
                                                     "keys": [{"key": "sequence_length"}]}, "test", Location("t", 1, 1))
    assert documented_problems(entry) == ["axolotl: key 'sequence_length' is not in its documented_keys"]


def test_a_generic_model_is_a_fill_in_not_an_invented_id() -> None:
    rec = _recommend({"model_params_b": 13, "tool": "axolotl", "method": "lora"})
    config = yaml.safe_load(next(f.text for f in emit(rec) if f.name == "axolotl.yaml"))
    assert config["base_model"].startswith(f"{FILL_IN}: ") and "13B" in config["base_model"]


def test_a_tool_without_a_template_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.tools.emit.files

    rec = _recommend({"model": "llama-3.1-8b", "tool": "torchtune", "method": "lora"})
    real = engine.tools.emit.files.tool_entry
    monkeypatch.setattr(engine.tools.emit.files, "tool_entry", lambda rb, tool: None if tool == "torchtune" else real(rb, tool))
    with pytest.raises(EmitError) as info:
        emit(rec)
    assert "no config template for tool 'torchtune'" in str(info.value) and "axolotl" in str(info.value)


def test_torchtune_runs_the_recipe_the_plan_needs() -> None:
    """The recipe follows stage, method and device count (torchtune's recipes/ folder); a built-in config is used
    only where torchtune ships one for the model, otherwise the user's own config is a FILL-IN the script
    refuses to run with; full DPO has no one-device recipe, which is an error, not a guess."""
    cases = {
        "lora": ({"model": "llama-3.1-8b", "method": "lora"}, "lora_finetune_single_device",
                 "llama3_1/8B_lora_single_device", 1),
        "qlora": ({"model": "llama-3.1-8b", "method": "qlora"}, "lora_finetune_single_device",
                  "llama3_1/8B_qlora_single_device", 1),
        "full 8 GPUs": ({"model": "llama-3.1-70b", "method": "full", "gpu_count": 8}, "full_finetune_distributed",
                        "llama3_1/70B_full", 8),
        "dpo": ({"model": "llama-3.1-8b", "method": "lora", "alignment": "dpo"}, "lora_dpo_single_device",
                "llama3_1/8B_lora_dpo_single_device", 1),
        "no built-in config": ({"model": "qwen2.5-7b", "method": "qlora"}, "lora_finetune_single_device",
                               f"{FILL_IN}: a config of your own", 1),
    }
    for name, (constraints, recipe, config, nproc) in cases.items():
        rec = _recommend({**constraints, "tool": "torchtune"})
        assert rec.plan is not None and rec.plan.setup.gpu_count == nproc, name
        files = {f.name: f.text for f in emit(rec)}
        run = _shell_overrides("train.sh", files["train.sh"])
        assert (run["recipe"], run["nproc"]) == (recipe, nproc) and run["config"].startswith(config), (name, run)
    rec = _recommend({"model": "llama-3.1-8b", "tool": "torchtune", "method": "full", "alignment": "dpo",
                      "gpu_count": 1})
    with pytest.raises(EmitError, match="torchtune has no recipe for dpo with full on 1 GPU"):
        emit(rec)


def test_the_torchtune_script_refuses_to_run_with_a_fill_in(tmp_path: Path) -> None:
    rec = _recommend({"model": "llama-3.1-8b", "tool": "torchtune", "method": "lora"})
    script = tmp_path / "train.sh"
    script.write_text(next(f.text for f in emit(rec) if f.name == "train.sh"))
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and "replace every FILL-IN value first" in done.stderr, done.stderr


def test_the_cli_writes_the_files_and_refuses_a_file_as_folder(cli: Callable[..., tuple[int, str, str]],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--tool", "axolotl", "--emit-config", str(out),
                       "--format", "json")
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["RUN.md", "axolotl.yaml"]
    assert f"wrote {out / 'axolotl.yaml'}" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--emit-config", str(blocker))
    assert code == 1 and "is not a folder" in err
    code, _, err = cli("recommend", "--model", "llama-3.1-8b", "--emit-config", str(tmp_path / "no" / "such"))
    assert code == 1 and "does not exist" in err


# -- the reverse: --from-config ------------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in sorted(CASES) if c.startswith(("axolotl", "llama-factory"))])
def test_emit_then_from_config_gives_the_same_plan(case: str, tmp_path: Path) -> None:
    """A round trip: the config written for a plan, read back, is planned the same way (tool, method,
    checkpointing, GPU type and count, strategy, platform, tier)."""
    from engine.tools.readconfig import read_config

    engine = Engine.for_rules()
    rec = engine.recommend(CASES[case])
    (config,) = [f for f in emit(rec) if f.name.endswith(".yaml")]
    path = tmp_path / config.name
    path.write_text(config.text)
    constraints = read_config(path, engine.rulebase)
    launch = {k: CASES[case][k] for k in ("gpu_count", "gpu") if k in CASES[case]}   # a YAML does not say on
    again = engine.recommend({**constraints, **launch})                                  # how many GPUs, or which
    assert again.plan is not None and rec.plan is not None
    assert again.plan.setup == rec.plan.setup and again.plan.offer == rec.plan.offer
    assert constraints["tool"] == CASES[case]["tool"] and constraints["method"] == CASES[case]["method"]


@pytest.mark.parametrize("text, message", [
    ("x: 1\n", "not an Axolotl config (no base_model) nor a LLaMA-Factory config"),
    ("base_model: someone/unknown-model\n", "model 'someone/unknown-model' is not in the models catalog"),
    ("model_name_or_path: Qwen/Qwen2.5-7B\nstage: rm\n", "training stage 'rm' is not one tuneplan plans"),
    ("- a list\n", "a training config is a mapping"),
])
def test_from_config_problems_are_located(cli: Callable[..., tuple[int, str, str]], tmp_path: Path, text: str,
                                          message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    code, out, err = cli("recommend", "--from-config", str(path))
    assert code == 1 and out == "" and f"{path}:" in err and message in err, err


def test_from_config_settings_are_shown_as_given_and_flags_override_them(cli: Callable[..., tuple[int, str, str]],
                                                                        tmp_path: Path) -> None:
    path = tmp_path / "axolotl.yaml"
    path.write_text("base_model: meta-llama/Llama-3.1-8B\nadapter: qlora\nsequence_len: 4096\nlora_r: 32\n"
                    "micro_batch_size: 2\n")
    code, out, _ = cli("recommend", "--from-config", str(path), "--seq-len", "1024")
    given = out.splitlines()[1]
    assert code == 0 and "tool=axolotl" in given and "method=qlora" in given and "lora_rank=32" in given
    assert "batch_size=2" in given and "seq_len=1024" in given
