"""The reverse of engine/tools/emit.py: an Axolotl or LLaMA-Factory YAML the user already has, read back into
constraints ("will this fit, on what, for how much"). The same key records of
rules/catalog/tool-configs.yaml are read in reverse: a record whose value is one plan placeholder
(``"{seq_len}"``) names the constraint its key carries; the method and the alignment stage are read from
the keys that choose them. Every problem is located (file:line:col) and names the key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import Problem, RuleFileError
from engine.language.ir import RuleBase
from engine.language.yamlsource import Document, read_yaml
from engine.tools.emit import STAGES, tool_entry

# plan placeholder -> the constraint it is read back into
_CONSTRAINTS = {"seq_len": "seq_len", "micro_batch": "batch_size", "lora_rank": "lora_rank", "epochs": "epochs"}
_DETECT = {"axolotl": "base_model", "llama-factory": "model_name_or_path"}


def _stage(tool: str, data: Mapping[str, Any]) -> str:
    """The training stage a config names (LLaMA-Factory's ORPO is its dpo stage with the orpo preference loss)."""
    stage = str(data.get("rl" if tool == "axolotl" else "stage") or "sft")
    return "orpo" if tool == "llama-factory" and stage == "dpo" and data.get("pref_loss") == "orpo" else stage


def read_config(path: Path, rulebase: RuleBase, *, model_given: bool = False) -> dict[str, Any]:
    """The constraints an Axolotl or LLaMA-Factory config carries: tool, model, method, alignment, sequence
    length, micro-batch, LoRA rank, epochs, gradient checkpointing. RuleFileError for what it cannot read
    (a model the catalog does not know is one, unless ``model_given``: the caller names it otherwise)."""
    doc, problems = read_yaml(path)
    if doc is None:
        raise RuleFileError(problems)
    data = doc.data
    if not isinstance(data, dict):
        raise RuleFileError([doc.problem((), "a training config is a mapping of keys to values")])
    tool = next((t for t, key in _DETECT.items() if key in data), None)
    if tool is None:
        raise RuleFileError([doc.problem((), "not an Axolotl config (no base_model) nor a LLaMA-Factory config "
                                             "(no model_name_or_path); --from-config reads those two")])
    entry = tool_entry(rulebase, tool)
    if entry is None:  # pragma: no cover - shipped catalog has both
        raise RuleFileError([doc.problem((), f"rules/catalog/tool-configs.yaml has no '{tool}' entry")])
    out: dict[str, Any] = {"tool": tool}
    found: list[Problem] = []
    out.update(_model(doc, _DETECT[tool], rulebase, [] if model_given else found))
    out["method"] = _method(tool, data)
    stage = _stage(tool, data)
    alignment = {v: k for k, v in STAGES.items()}.get(stage)
    if alignment is None:
        found.append(doc.problem(("rl" if tool == "axolotl" else "stage",),
                                 f"training stage '{stage}' is not one tuneplan plans; "
                                 f"stages: {', '.join(STAGES.values())}"))
    else:
        out["alignment"] = alignment
    for record in entry.attrs.get("keys") or []:
        value = record.get("value")
        key = str(record["key"])
        if not isinstance(value, str) or key not in data:
            continue
        name = value.strip("{}") if value.startswith("{") and value.endswith("}") else None
        if name in _CONSTRAINTS:
            out[_CONSTRAINTS[name]] = data[key]
        elif name == "gradient_checkpointing":
            out["gradient_checkpointing"] = bool(data[key])
        elif name == "no_gradient_checkpointing":
            out["gradient_checkpointing"] = not bool(data[key])
    if found:
        raise RuleFileError(found)
    return out


def _model(doc: Document, key: str, rulebase: RuleBase, found: list[Problem]) -> dict[str, Any]:
    name = str(doc.data.get(key, ""))
    models = rulebase.catalogs["models"].entries
    for model in models:
        if str(model.attrs.get("hf_repo", "")).lower() == name.lower() or model.id == name.lower():
            return {"model": model.id}
    found.append(doc.problem((key,), f"model '{name}' is not in the models catalog (by its Hub id); give its size "
                                     "with --model-params-b, or see `tuneplan list models`"))
    return {}


def _method(tool: str, data: Mapping[str, Any]) -> str:
    if tool == "axolotl":
        adapter = str(data.get("adapter") or "")
        if adapter == "qlora" or (adapter == "lora" and data.get("load_in_4bit")):
            return "qlora"
        return "lora" if adapter == "lora" else "full"
    kind = str(data.get("finetuning_type") or "lora")   # LLaMA-Factory's default finetuning_type is lora
    if kind == "lora":
        return "qlora" if data.get("quantization_bit") in (4, "4") else "lora"
    return "full"
