"""The values of an emitted config: every one traced to the chosen plan, the constraints or the defaults of
rules/catalog/tool-configs.yaml, and the key records of that catalog applied to them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import UserError
from engine.language.ir import CatalogEntry, RuleBase

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation

FILL_IN = "FILL-IN"
STAGES = {"none": "sft", "dpo": "dpo", "kto": "kto", "orpo": "orpo", "grpo": "grpo", "rlhf": "ppo"}
DATASETS = {   # what the trainer of each stage reads (TRL's dataset formats guide)
    "sft": "a Hub id or local path of your dataset (messages, or prompt and completion)",
    "dpo": "a Hub id or local path of a preference dataset (prompt, chosen, rejected)",
    "orpo": "a Hub id or local path of a preference dataset (prompt, chosen, rejected)",
    "kto": "a Hub id or local path of an unpaired preference dataset (prompt, completion, label)",
    "grpo": "a Hub id or local path of a prompt-only dataset (prompt)",
    "ppo": "a Hub id or local path of a prompt-only dataset (prompt)",
}
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_WHOLE = re.compile(r"^\{([a-z][a-z0-9_]*)\}$")
_PATH_PART = re.compile(r"([A-Za-z0-9_]+)(?:\[(\d+)\])?")


class EmitError(UserError):
    """The plan cannot be written as the tool's config (a stage the tool has no trainer for, no plan)."""


def tool_entry(rulebase: RuleBase, tool: str) -> CatalogEntry | None:
    """The tool-configs record of a tool, if the catalog has one."""
    catalog = rulebase.catalogs.get("tool-configs")
    return catalog.by_id(tool) if catalog is not None else None


def plan_values(rec: Recommendation) -> dict[str, Any]:
    """The values the records' templates read, every one traced to the plan, the constraints or the
    catalog's defaults (see the module docstring)."""
    plan = rec.plan
    if plan is None:
        raise EmitError("no plan satisfies the constraints, so there is no config to write; see the warnings")
    given = defaults(rec.rulebase)
    facts = rec.facts
    setup = plan.setup
    gpu = rec.rulebase.catalogs["gpus"].by_id(plan.offer.gpu)
    bf16_capable = bool(gpu.attrs.get("bf16")) if gpu is not None else False
    precision = str(facts.get("precision", "auto"))
    bf16 = bf16_capable and precision != "fp16"
    micro = int(facts.get("batch_size", 1))
    global_batch = int(given["global_batch_sequences"])
    rank = int(facts.get("lora_rank", 16))
    adapter = setup.method in ("lora", "qlora")
    model = rec.rulebase.catalogs["models"].by_id(str(facts.get("model", ""))) if facts.get("model") else None
    stage = STAGES.get(str(facts.get("alignment", "none")), "sft")
    return {
        "model": str(model.attrs["hf_repo"]) if model is not None and model.attrs.get("hf_repo")
        else f"{FILL_IN}: the Hub id or local path of your {facts.get('model_params_b', '?')}B model",
        "model_id": model.id if model is not None else "",
        "method": setup.method,
        "tool": setup.tool,
        "lora_rank": rank,
        "lora_alpha": rank * int(given["lora_alpha_per_rank"]),
        "lora_dropout": float(given["lora_dropout"]),
        "seq_len": int(facts.get("seq_len", 2048)),
        "micro_batch": micro,
        "global_batch": global_batch,
        "grad_accum": max(1, math.ceil(global_batch / (micro * setup.gpu_count))),
        "epochs": facts.get("epochs", 1),
        "learning_rate": float(given[("learning_rate_preference_" if stage != "sft" else "learning_rate_")
                                        + ("adapter" if adapter else "full")]),
        "bf16": bf16,
        "fp16": not bf16,
        "gradient_checkpointing": bool(setup.gradient_checkpointing),
        "unsloth_checkpointing": "unsloth" if setup.gradient_checkpointing else False,
        "gguf": str(rec.choice("export") or "") in ("gguf", "ollama")
        or str(facts.get("deploy", "")) in ("gguf", "ollama"),
        "no_gradient_checkpointing": not setup.gradient_checkpointing,
        "gpu_count": setup.gpu_count,
        "gpu": plan.offer.gpu,
        "sharding": setup.sharding,
        "deepspeed_file": f"ds_{setup.sharding}.json" if setup.sharding in ("zero2", "zero3") else "",
        "stage": stage,
        "finetuning_type": "lora" if adapter else "full",
        "torchtune_dtype": "bf16" if bf16 else "fp32",
        "generation_share": _generation_share(rec.rulebase, str(facts.get("alignment", "none"))),
    }


def _generation_share(rulebase: RuleBase, alignment: str) -> float:
    """The share of each GPU the plan leaves a colocated generation engine (GRPO's vLLM), from the catalog."""
    catalog = rulebase.catalogs.get("alignment")
    entry = catalog.by_id(alignment) if catalog is not None else None
    return float(entry.get("generation_memory_fraction") or 0.0) if entry is not None else 0.0


def defaults(rulebase: RuleBase) -> Mapping[str, Any]:
    """The catalog's `defaults` entry: the values no plan decides (batch size, learning rates, LoRA alpha ...)."""
    entry = tool_entry(rulebase, "defaults")
    if entry is None:
        raise EmitError("rules/catalog/tool-configs.yaml has no 'defaults' entry")
    return entry.attrs


def applies(record: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether a key record is for this plan (its methods, strategies and stages)."""
    for field, value in (("methods", values["method"]), ("shardings", values["sharding"]),
                         ("stages", values["stage"])):
        wanted = record.get(field)
        if wanted and value not in wanted:
            return False
    return True


def render_value(record: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    """The record's value for this plan: a FILL-IN for what the user must give, the typed plan value for a
    template that is one placeholder, formatted text otherwise."""
    if record.get("fill_in"):
        return f"{FILL_IN}: " + _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), str(record["fill_in"]))
    value = record.get("value")
    if not isinstance(value, str):
        return value
    whole = _WHOLE.match(value)
    if whole:
        return values[whole.group(1)]
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)


def records(entry: CatalogEntry, values: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(key path, value, note) of every key record of the entry that is for this plan, in catalog order."""
    out = []
    for record in entry.attrs.get("keys") or []:
        if applies(record, values):
            note = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), str(record.get("note") or ""))
            out.append((str(record["key"]), render_value(record, values), note))
    return out


def settings(entry: CatalogEntry, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The tool's settings for this plan (nested as the keys' paths say) and the notes by key path."""
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for key, value, note in records(entry, values):
        _set(out, key, value)
        if note:
            notes[key] = note
    return out, notes


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    parts = [(m.group(1), int(m.group(2)) if m.group(2) is not None else None)
             for m in _PATH_PART.finditer(path)]
    node: Any = tree
    for i, (name, index) in enumerate(parts):
        last = i == len(parts) - 1
        if index is None:
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
            continue
        items = node.setdefault(name, [])
        while len(items) <= index:
            items.append({} if not last else None)
        if last:
            items[index] = value
        else:
            node = items[index]


def documented_problems(entry: CatalogEntry) -> list[str]:
    """Keys of an entry's records that are not in its documented key list (a misspelt key)."""
    documented = set(entry.attrs.get("documented_keys") or [])
    problems = []
    for record in entry.attrs.get("keys") or []:
        leaf = _PATH_PART.findall(str(record["key"]))[-1][0]
        if leaf not in documented and not str(record["key"]).startswith(("datasets", "fsdp")):
            problems.append(f"{entry.id}: key '{record['key']}' is not in its documented_keys")
    return problems
