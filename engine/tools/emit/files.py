"""The files of an emitted run: the tool's config (YAML, a Python script or a shell script), the DeepSpeed
or accelerate file a multi-GPU plan needs, and RUN.md."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from engine.language.ir import CatalogEntry, RuleBase
from engine.tools.emit.values import (
    DATASETS,
    FILL_IN,
    EmitError,
    defaults,
    plan_values,
    records,
    settings,
    tool_entry,
)

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation


@dataclass(frozen=True)
class Emitted:
    """One file to write: its name, its text and what it is (yaml, json, python, markdown)."""

    name: str
    text: str
    kind: str


def emit(rec: Recommendation) -> list[Emitted]:
    """Every file of the run for the chosen plan: the tool's config, DeepSpeed or accelerate files when the
    plan uses several GPUs, and RUN.md."""
    values = plan_values(rec)
    entry = tool_entry(rec.rulebase, str(values["tool"]))
    if entry is None:
        raise EmitError(f"no config template for tool '{values['tool']}' in rules/catalog/tool-configs.yaml; "
                        f"tools with one: {', '.join(_tools(rec.rulebase))}")
    header = _header(rec, values, entry)
    files: list[Emitted] = []
    values = {**values, "template": _template(entry, values)}
    tree, notes = settings(entry, values)
    if entry.attrs.get("format") == "yaml":
        files.append(Emitted(str(entry.attrs["file"]), header + _yaml_with_notes(tree, notes), "yaml"))
        fill = _fill_ins(tree)
    elif entry.attrs.get("format") == "python":
        files.append(Emitted(str(entry.attrs["file"]), _python(entry, values, header), "python"))
        fill = [("DATASET", DATASETS[str(values["stage"])]), *_fill_ins(tree)]
        if str(values["model"]).startswith(FILL_IN):
            fill.insert(0, ("MODEL", str(values["model"]).split(": ", 1)[1]))
    elif entry.attrs.get("format") == "shell":
        script, fill = _shell(entry, values, header)
        files.append(Emitted(str(entry.attrs["file"]), script, "shell"))
    else:  # pragma: no cover - the catalog's formats are yaml, python and shell
        raise EmitError(f"tool-configs entry '{entry.id}' has an unknown format")
    if values["deepspeed_file"]:
        files.append(Emitted(values["deepspeed_file"], _deepspeed(values), "json"))
    if values["gpu_count"] > 1 and entry.attrs.get("format") == "python":
        files.append(Emitted("accelerate.yaml", _accelerate(values), "yaml"))
    files.append(Emitted("RUN.md", _run_md(rec, values, entry, files, fill), "markdown"))
    return files


def _fill_ins(tree: Any, path: str = "") -> list[tuple[str, str]]:
    """(key path, what to give) of every FILL-IN value in the settings."""
    if isinstance(tree, dict):
        return [item for key, value in tree.items() for item in _fill_ins(value, f"{path}.{key}" if path else key)]
    if isinstance(tree, list):
        return [item for i, value in enumerate(tree) for item in _fill_ins(value, f"{path}[{i}]")]
    if isinstance(tree, str) and tree.startswith(f"{FILL_IN}: "):
        return [(path, tree.split(": ", 1)[1])]
    return []


def _tools(rulebase: RuleBase) -> list[str]:
    catalog = rulebase.catalogs.get("tool-configs")
    return [e.id for e in catalog.entries if e.id != "defaults"] if catalog is not None else []


def _template(entry: CatalogEntry, values: Mapping[str, Any]) -> str:
    for pair in entry.attrs.get("templates") or []:
        prefix, _, template = str(pair).partition("=")
        if values["model_id"].startswith(prefix):
            return template
    return f"{FILL_IN}: the chat template of your model (see the tool's supported-models table)"


def _header(rec: Recommendation, values: Mapping[str, Any], entry: CatalogEntry) -> str:
    mem = rec.estimates.get("memory")
    peak = f"{mem.value.per_gpu_gib:.1f} GiB per GPU" if mem is not None else "no estimate"
    return (f"# Written by tuneplan for: {_summary(rec, values)}\n"
            f"# Expected training memory: {peak} (tuneplan's estimate; the tool's own peak may differ by a few %).\n"
            f"# Keys: {_by_stage(entry, 'docs', values)}. Replace every {FILL_IN} value before running.\n")


def _summary(rec: Recommendation, values: Mapping[str, Any]) -> str:
    plan = rec.plan
    assert plan is not None
    gpus = f"{values['gpu_count']} x {values['gpu']}"
    strategy = f", {values['sharding']}" if values["gpu_count"] > 1 else ""
    return (f"{values['tool']} {values['method']} ({values['stage']}) of {values['model_id'] or 'your model'} on "
            f"{gpus}{strategy}, seq {values['seq_len']} tokens, checkpointing "
            f"{'on' if values['gradient_checkpointing'] else 'off'}, {'bf16' if values['bf16'] else 'fp16'}")


def _yaml_with_notes(tree: Mapping[str, Any], notes: Mapping[str, str]) -> str:
    lines = yaml.safe_dump(dict(tree), sort_keys=False, allow_unicode=True, width=110).splitlines()
    out = []
    for line in lines:
        key = line.split(":", 1)[0]
        note = notes.get(key) if not line.startswith(" ") else None
        out.append(f"{line}  # {note}" if note else line)
    return "\n".join(out) + "\n"


def _python(entry: CatalogEntry, values: Mapping[str, Any], header: str) -> str:
    trainers = dict(str(p).split("=", 1) for p in entry.attrs.get("trainers") or [])
    if values["stage"] not in trainers:
        raise EmitError(f"{entry.id} has no trainer for the {values['stage']} stage in tool-configs.yaml; "
                        f"stages it has: {', '.join(trainers)}")
    trainer_class, config_class = trainers[values["stage"]].split(",")
    tree, notes = settings(entry, values)
    extra = ""
    if values["stage"] == "grpo":
        extra = "\n        reward_funcs=[reward],  # FILL-IN: the reward function below"
    export = ""
    if values["gguf"] and entry.attrs.get("gguf_export"):
        export = f"\n    {entry.attrs['gguf_export']}  # the plan deploys to GGUF / Ollama"
    script = str(entry.attrs["script"]).format(
        title=header.splitlines()[0].lstrip("# "), summary=header.splitlines()[1].lstrip("# "),
        run=_run_command(entry, values),
        config_class=config_class, trainer_class=trainer_class, model_literal=repr(values["model"]),
        dataset_literal=repr(f"{FILL_IN}: {DATASETS[values['stage']]}"),
        config=_literal(tree.get("config", {}), notes, "config"), lora=_literal(tree.get("lora", {}), notes, "lora"),
        quantization=_literal(tree.get("quantization", {}), notes, "quantization"),
        load=_literal(tree.get("load", {}), notes, "load"),
        dtype="bfloat16" if values["bf16"] else "float16", extra_arguments=extra, export=export)
    if values["stage"] == "grpo":
        script = script.replace("\n\ndef main()", "\n\ndef reward(completions, **kwargs):\n"
                                "    raise NotImplementedError(\"FILL-IN: return one score per completion\")\n"
                                "\n\ndef main()", 1)
    return script


def _shell(entry: CatalogEntry, values: Mapping[str, Any], header: str) -> tuple[str, list[tuple[str, str]]]:
    """A bash script that downloads the model and runs the tool's recipe with the plan as command-line
    overrides (torchtune: ``tune run RECIPE --config CONFIG key=value ...``), and what the user must fill in.
    The script refuses to run while a FILL-IN value is left."""
    devices = "multi" if values["gpu_count"] > 1 else "single"
    recipe = next((r for r in entry.attrs.get("recipes") or []
                   if values["stage"] in r["stages"] and values["method"] in r["methods"] and r["devices"] == devices),
                  None)
    if recipe is None:
        offered = sorted({f"{'/'.join(r['stages'])} {'/'.join(r['methods'])} on {r['devices']} GPU"
                          for r in entry.attrs.get("recipes") or []})
        raise EmitError(f"{entry.id} has no recipe for {values['stage']} with {values['method']} on "
                        f"{values['gpu_count']} GPU(s) (rules/catalog/tool-configs.yaml); its recipes: "
                        f"{'; '.join(offered)}")
    model = next((m for m in entry.attrs.get("models") or [] if m["model"] == values["model_id"]), None)
    fill: list[tuple[str, str]] = []
    if model is not None and recipe["config"] in model["has"]:
        config = f"{model['config']}_{recipe['config']}"
    else:
        config = f"{FILL_IN}: a config of your own for {recipe['recipe']} (copy the nearest built-in one: " \
                 f"tune ls, then tune cp NAME my_config.yaml, and set its model and checkpointer)"
        fill.append(("--config", config.split(": ", 1)[1]))
    overrides = [("checkpointer.checkpoint_dir", "${MODEL_DIR}", "where tune download put the model")]
    overrides += [(f"tokenizer.{key.removeprefix('tokenizer_')}", f"${{MODEL_DIR}}/{path}", "")
                  for key, path in (model or {}).items() if key.startswith("tokenizer_")]
    if model is None:
        overrides.append(("tokenizer.path", f"{FILL_IN}: the tokenizer file inside the model folder", ""))
    overrides += records(entry, values)
    fill += [(key, str(value).split(": ", 1)[1]) for key, value, _ in overrides
             if isinstance(value, str) and value.startswith(f"{FILL_IN}: ")]
    model_dir = f"{FILL_IN}: a folder for the downloaded model, e.g. ./models/{values['model_id'] or 'base'}"
    fill.insert(0, ("MODEL_DIR", model_dir.split(": ", 1)[1]))
    if str(values["model"]).startswith(FILL_IN):
        fill.insert(0, ("MODEL", str(values["model"]).split(": ", 1)[1]))
    launcher = f"--nproc_per_node {values['gpu_count']} " if values["gpu_count"] > 1 else ""
    lines = ["#!/usr/bin/env bash", *header.splitlines(),
             f"# {entry.id}'s {recipe['recipe']} recipe with the plan as command-line overrides. Run: bash train.sh",
             "set -euo pipefail", "",
             f"MODEL={_sh(values['model'])}", f"MODEL_DIR={_sh(model_dir)}", "",
             "OVERRIDES=("]
    for key, value, note in overrides:
        lines.append(f"  {_sh(f'{key}={_override(value)}', expand='${MODEL_DIR}')}" + (f"  # {note}" if note else ""))
    lines += [")", "",
              f'for value in "$MODEL" "$MODEL_DIR" {_sh(config)} "${{OVERRIDES[@]}}"; do',
              f'  case "$value" in *{FILL_IN}*) echo "train.sh: replace every {FILL_IN} value first: $value" >&2; '
              'exit 1;; esac',
              "done", "",
              'tune download "$MODEL" --output-dir "$MODEL_DIR"',
              f"tune run {launcher}{recipe['recipe']} --config {_sh(config)} " + '"${OVERRIDES[@]}"', ""]
    return "\n".join(lines), fill


def _override(value: Any) -> str:
    """A value as a torchtune (OmegaConf) command-line override writes it."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _sh(text: str, expand: str = "") -> str:
    """``text`` quoted for bash; the one variable reference ``expand`` (if any) is left to expand."""
    if expand and expand in text:
        return '"' + expand.join(re.sub(r'(["\\$`])', r"\\\1", part) for part in text.split(expand)) + '"'
    return shlex.quote(text)


def _literal(mapping: Mapping[str, Any], notes: Mapping[str, str], section: str) -> str:
    """A Python dict literal of one settings section, each record's note as a comment on its line."""
    if not mapping:
        return "{}"
    lines = []
    for key, value in mapping.items():
        note = notes.get(f"{section}.{key}")
        lines.append(f"\n    {key!r}: {value!r},{f'  # {note}' if note else ''}")
    return "{" + "".join(lines) + "\n}"


def _deepspeed(values: Mapping[str, Any]) -> str:
    """A DeepSpeed config matching the plan's ZeRO stage; "auto" values are filled by the HF integration
    from the training arguments, so the batch sizes cannot disagree with the tool's config."""
    stage = 3 if values["sharding"] == "zero3" else 2
    config: dict[str, Any] = {
        "zero_optimization": {"stage": stage, "overlap_comm": True, "contiguous_gradients": True,
                              "reduce_bucket_size": "auto"},
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "gradient_accumulation_steps": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": "auto",
    }
    if stage == 3:
        config["zero_optimization"].update({"stage3_gather_16bit_weights_on_model_save": True})
    return json.dumps(config, indent=2) + "\n"


def _accelerate(values: Mapping[str, Any]) -> str:
    config: dict[str, Any] = {"compute_environment": "LOCAL_MACHINE", "num_machines": 1,
                              "num_processes": values["gpu_count"],
                              "mixed_precision": "bf16" if values["bf16"] else "fp16"}
    if values["deepspeed_file"]:
        config.update({"distributed_type": "DEEPSPEED",
                       "deepspeed_config": {"deepspeed_config_file": values["deepspeed_file"]}})
    elif values["sharding"] in ("fsdp", "fsdp-cp"):
        config.update({"distributed_type": "FSDP", "fsdp_config": {"fsdp_version": 2,
                                                                   "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP"}})
        if values["sharding"] == "fsdp-cp":   # accelerate's ParallelismConfig: every GPU in one context-parallel ring
            config["parallelism_config"] = {"parallelism_config_dp_replicate_size": 1,
                                            "parallelism_config_dp_shard_size": 1, "parallelism_config_tp_size": 1,
                                            "parallelism_config_cp_size": values["gpu_count"]}
    else:
        config["distributed_type"] = "MULTI_GPU"
    return yaml.safe_dump(config, sort_keys=False)


def _gated(rec: Recommendation, values: Mapping[str, Any]) -> list[str]:
    """RUN.md's note for a licence-gated Hub repo (the download fails until the licence is accepted)."""
    prefixes = tuple(str(p) for p in defaults(rec.rulebase).get("gated_repos") or [])
    if not prefixes or not str(values["model"]).startswith(prefixes):
        return []
    return [f"`{values['model']}` is gated on the Hugging Face Hub: accept its licence on the model's page, then "
            "`huggingface-cli login` (or set `HF_TOKEN`) before the first download.", ""]


def _by_stage(entry: CatalogEntry, field: str, values: Mapping[str, Any]) -> str:
    """The entry's ``field`` for the plan's stage (``<field>_stages: ["grpo=..."]``), else its general one."""
    for pair in entry.attrs.get(f"{field}_stages") or []:
        stage, _, value = str(pair).partition("=")
        if stage == values["stage"]:
            return value
    return str(entry.attrs.get(field, ""))


def _install(entry: CatalogEntry, values: Mapping[str, Any]) -> str:
    """The install line, with what the plan's stage needs besides (GRPO's vLLM)."""
    extra = [str(p).partition("=")[2] for p in entry.attrs.get("install_stages") or []
             if str(p).partition("=")[0] == values["stage"]]
    return " ".join([str(entry.attrs.get("install", "")), *extra])


def _run_command(entry: CatalogEntry, values: Mapping[str, Any]) -> str:
    """The command that starts the run: the entry's multi-GPU command on several GPUs, where it has one."""
    multi = values["gpu_count"] > 1 and entry.attrs.get("run_multi_gpu")
    return str(entry.attrs["run_multi_gpu" if multi else "run"]).format(**values)


def _run_md(rec: Recommendation, values: Mapping[str, Any], entry: CatalogEntry, files: list[Emitted],
            fill: list[tuple[str, str]]) -> str:
    plan = rec.plan
    assert plan is not None
    mem = rec.estimates.get("memory")
    run = _run_command(entry, values)
    hours = f"{plan.hours:.1f} h" if plan.hours is not None else \
        f"{plan.tokens_per_hour / 1e6:.1f} M tokens per hour (give --train-hours or --dataset-tokens for a total)"
    cost = f"{plan.total_usd:.2f} USD" if plan.total_usd is not None else \
        f"{plan.usd_per_mtok:.3f} USD per million training tokens"
    if plan.offer.tier == "owned":
        where = f"your own {values['gpu_count']} x {values['gpu']}: nothing rented, 0 USD."
        cost = "0 USD (your own GPUs)"
    else:
        where = (f"{plan.offer.platform} ({plan.offer.tier}), {values['gpu_count']} x {values['gpu']} at "
                 f"{plan.offer.usd_per_gpu_hour:g} USD per GPU-hour (price as of {plan.offer.as_of}).")
    lines = [
        f"# Run: {_summary(rec, values)}", "",
        f"Where: {where}", "",
        "## Files", "",
        *[f"- `{f.name}`" for f in files], "- `RUN.md` (this file)", "",
        "## Install", "", "```", _install(entry, values), "```", "",
        "## Fill in first", "", *([f"- `{key}`: {what}" for key, what in fill] or ["- nothing"]), "",
        *(_gated(rec, values)),
        "## Run", "", "```", run, "```", "",
        *([f"Note: {entry.attrs['note']}.", ""] if entry.attrs.get("note") else []),
        "## What to expect (tuneplan's estimate)", "",
        f"- memory: {mem.value.per_gpu_gib:.1f} GiB per GPU of {plan.usable_gib:.1f} GiB usable"
        if mem is not None else "- memory: no estimate",
        f"- speed: {hours}", f"- cost: {cost}", "",
        f"Every value in the files comes from the plan or from the defaults in `rules/catalog/tool-configs.yaml` "
        f"(global batch {values['global_batch']} sequences, "
        f"lora_alpha = {values['lora_alpha'] // max(1, values['lora_rank'])}r, "
        f"learning rate {values['learning_rate']:g}); the keys are documented at {_by_stage(entry, 'docs', values)}.",
        "",
    ]
    return "\n".join(lines)
