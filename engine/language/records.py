"""The typed records of a rule base (engine/language/catalog.py), built once at load time: each entry of
the catalogs the engine computes with is checked against its catalog's part of schemas/records.schema.json,
then built; what a user can get wrong in those files is a located problem (``file:line:col: gpu 't4':
vram_gib must be a number, got 'lots'``), never an error on the first recommendation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from engine.errors import Problem
from engine.language.catalog import CatalogRecords, Gpu, MemoryConstants, ModelShape, Platform, Price, Stage, Strategy
from engine.language.ir import OBJECTIVE_TERMS, Catalog, CatalogEntry
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document, Path_

# what a message calls an entry of each checked catalog
KINDS = {"gpus": "gpu", "models": "model", "memory": "memory constant", "platforms": "platform",
         "sharding": "strategy", "tools": "tool", "methods": "method", "alignment": "stage", "tiers": "tier"}
METHODS = ("full", "lora", "qlora")   # the memory model's methods: a methods.yaml id must be one of them
# The memory constants engine/estimate/ reads (tests/test_catalog_records.py checks the list against the code),
# and the ranges a value must be in beyond ">= 0" (a factor divides; a fraction of memory is below 1).
CONSTANTS = (
    "bytes-per-param-fp32", "bytes-per-param-bf16", "amp-weight-copy-bytes", "adamw-state-bytes",
    "adamw-state-bytes-bf16", "adamw-8bit-state-bytes", "lora-adapter-bytes-per-param", "nf4-bytes-per-param",
    "nf4-double-quant-overhead", "int8-bytes-per-param", "logits-bytes-per-token-vocab",
    "activation-bytes-per-token-hidden-layer", "activation-bytes-per-token-intermediate-layer",
    "checkpoint-bytes-per-token-hidden-layer", "tied-embedding-grad-copies", "allocator-activation-fraction",
    "allocator-gradient-fraction", "checkpoint-recompute-reserve-layers", "ddp-bucket-gradient-fraction",
    "sharded-gather-layers", "cuda-context-gib", "gpu-headroom-fraction", "mfu-default",
    "step-floor-ms-per-layer-full", "step-floor-ms-per-layer-lora", "step-floor-ms-per-layer-qlora",
    "step-floor-checkpointing-factor", "mfu-ceiling", "qlora-time-factor", "unsloth-activation-savings-fraction",
    "unsloth-speedup-factor",
)
POSITIVE = ("bytes-per-param-fp32", "bytes-per-param-bf16", "mfu-default", "mfu-ceiling", "qlora-time-factor",
            "unsloth-speedup-factor", "step-floor-checkpointing-factor")
FRACTIONS = ("gpu-headroom-fraction", "unsloth-activation-savings-fraction", "mfu-default", "mfu-ceiling")
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_TYPES = {"number": "a number", "integer": "a whole number", "boolean": "true or false", "string": "text",
          "array": "a list", "object": "a mapping"}


def _clip(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def entry_problems(name: str, entry_id: str, raw: Mapping[str, Any]) -> list[tuple[Path_, str]]:
    """What is wrong with one raw entry of catalog ``name`` against its record schema: (path in the entry,
    message) pairs; none for a catalog without a record schema."""
    from jsonschema import Draft202012Validator

    from engine.language.schema import load_schema

    schema = load_schema("records")
    if name not in schema["$defs"]:
        return []
    validator = Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"})
    out: list[tuple[Path_, str]] = []
    for error in sorted(validator.iter_errors(dict(raw)), key=lambda e: [str(p) for p in e.absolute_path]):
        path = tuple(error.absolute_path)
        attr = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
            text = f"needs '{missing}'" + (f" in {attr}" if attr else "")
        elif error.validator == "type":
            text = f"{attr} must be {_TYPES.get(str(error.validator_value), error.validator_value)}, " \
                   f"got {_clip(error.instance)}"
        elif error.validator in _BOUNDS:
            bound = f"{_BOUNDS[str(error.validator)]} {error.validator_value}"
            text = f"{attr} must be {bound}, got {_clip(error.instance)}"
        elif error.validator == "enum":
            allowed = ", ".join(map(str, error.validator_value))
            text = f"{attr} must be one of {allowed}, got {_clip(error.instance)}"
        else:
            text = f"{attr}: {error.message[:200]}"
        out.append((path, f"{KINDS[name]} '{entry_id}': {text}"))
    return out


def build_records(catalogs: Mapping[str, Catalog], docs: Mapping[str, Document]) -> tuple[CatalogRecords,
                                                                                            list[Problem]]:
    """The records of the catalogs (the well-shaped ones: ``docs`` names each catalog's document) and the
    problems of their entries, located in their files."""
    problems: list[Problem] = []
    bad: set[tuple[str, str]] = set()

    def entries(name: str) -> tuple[CatalogEntry, ...]:
        catalog = catalogs.get(name)
        return catalog.entries if catalog is not None and name in docs else ()

    def problem(name: str, index: int, path: Path_, message: str) -> None:
        problems.append(docs[name].problem(("entries", index, *path), message))

    for name in KINDS:
        for i, entry in enumerate(entries(name)):
            found = entry_problems(name, entry.id, entry.attrs)
            for path, message in found:
                problem(name, _index(docs[name], entry.id, i), path, message)
            if found:
                bad.add((name, entry.id))

    def good(name: str) -> list[tuple[int, CatalogEntry]]:
        return [(_index(docs[name], e.id, i), e) for i, e in enumerate(entries(name)) if (name, e.id) not in bad]

    def made(name: str, index: int, entry: CatalogEntry, make: Any) -> Any:
        try:
            return make({"id": entry.id, **entry.attrs})
        except (ValueError, TypeError) as exc:   # the checks across attributes (__post_init__)
            problem(name, index, (), f"{KINDS[name]} '{entry.id}': {exc}")
            return None

    gpus = tuple(g for i, e in good("gpus") if (g := made("gpus", i, e, Gpu.from_entry)) is not None)
    models = {e.id: s for i, e in good("models") if (s := made("models", i, e, ModelShape.from_entry)) is not None}
    constants = _constants(good("memory"), {e.id for e in entries("memory")}, lambda i, m: problem("memory", i, (), m),
                           lambda m: problems.append(docs["memory"].problem(("entries",), m)))
    gpu_ids = {e.id for e in entries("gpus")}
    rented = {e.id: e.get("rented", True) for e in entries("tiers")}
    platforms: list[Platform] = []
    for i, entry in good("platforms"):
        prices: list[Price] = []
        for j, record in enumerate(entry.get("prices") or []):
            where = (f"prices[{j}]",)
            if gpu_ids and record["gpu"] not in gpu_ids:
                problem("platforms", i, ("prices", j, "gpu"), f"platform '{entry.id}': {where[0]}: unknown gpu "
                                                               f"'{record['gpu']}'")
            elif rented and record["tier"] not in rented:
                problem("platforms", i, ("prices", j, "tier"), f"platform '{entry.id}': {where[0]}: unknown tier "
                                                                f"'{record['tier']}'")
            elif record["usd_per_gpu_hour"] == 0 and rented.get(record["tier"], True):
                problem("platforms", i, ("prices", j, "usd_per_gpu_hour"),
                        f"platform '{entry.id}': {where[0]}.usd_per_gpu_hour must be > 0 for a rented tier "
                        f"('{record['tier']}'), got 0")
            else:
                hours = record.get("max_hours")
                prices.append(Price(entry.id, record["gpu"], record["tier"], float(record["usd_per_gpu_hour"]),
                                    int(record.get("instance_gpus") or 1), None if hours is None else float(hours),
                                    str(record.get("as_of", "")), str(record.get("source", "")),
                                    str(record.get("note", ""))))
        platforms.append(Platform(entry.id, str(entry.get("billing", "")), int(entry.get("max_gpus_per_node") or 8),
                                  tuple(prices)))
    for i, entry in good("methods"):
        if entry.id not in METHODS:
            problem("methods", i, ("id",), f"method '{entry.id}': the memory model knows the methods "
                                           f"{', '.join(METHODS)}")
    records = CatalogRecords(
        gpus=gpus, models=MappingProxyType(models), constants=constants, platforms=tuple(platforms),
        strategies=MappingProxyType({e.id: Strategy(e.id, str(e.get("memory")), int(e.get("min_gpus", 1)),
                                                    e.get("max_gpus"), float(e.get("scaling_efficiency", 1.0)))
                                     for _, e in good("sharding")}),
        tool_savings=MappingProxyType({e.id: e.get("memory_savings") for _, e in good("tools")}),
        default_precision=MappingProxyType({e.id: str(e.get("default_precision", "mixed"))
                                            for _, e in good("methods")}),
        stages=MappingProxyType({e.id: Stage(e.id, int(e.get("sequences_per_example") or 1),
                                             bool(e.get("reference_model")), int(e.get("reward_models") or 0),
                                             float(e.get("generation_memory_fraction") or 0.0))
                                 for _, e in good("alignment")}),
    )
    return records, problems


def _constants(entries: list[tuple[int, CatalogEntry]], ids: set[str], at_entry: Any,
               at_file: Any) -> MemoryConstants:
    values: dict[str, float] = {}
    for index, entry in entries:
        value = float(entry.attrs["value"])
        if entry.id in POSITIVE and value <= 0:
            at_entry(index, f"memory constant '{entry.id}': value must be > 0, got {value:g}")
        elif entry.id in FRACTIONS and not value < 1:
            at_entry(index, f"memory constant '{entry.id}': value must be below 1 (a fraction), got {value:g}")
        values[entry.id] = value
    missing = [key for key in CONSTANTS if key not in ids]
    if ids and missing:
        at_file(f"memory constants missing (the estimators read them): {', '.join(missing)}")
    return MemoryConstants(values=MappingProxyType(values))


def _index(doc: Document, entry_id: str, fallback: int) -> int:
    """The position of an entry in its file (a duplicate id is dropped from the catalog, shifting the rest)."""
    raw = doc.data.get("entries") if isinstance(doc.data, dict) else None
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            if isinstance(item, dict) and item.get("id") == entry_id:
                return i
    return fallback


def objective_problems(catalogs: Mapping[str, Catalog], docs: list[Document], priority_values: Iterable[str],
                       broken: bool, root: str) -> list[Problem]:
    """The objective catalog: each entry lists known terms and priorities, and one entry is the default."""
    problems: list[Problem] = []
    catalog = catalogs.get("objective")
    if catalog is None:
        if not broken:
            problems.append(Problem(root, 1, 1, "the objective catalog "
                                         "(rules/catalog/objective.yaml) is missing: it says how plans are "
                                         "compared"))
        return problems
    doc = next(d for d in docs if isinstance(d.data, dict) and d.data.get("catalog") == "objective")
    priorities = set(priority_values)
    for i, entry in enumerate(catalog.entries):
        terms = entry.get("terms")
        if not isinstance(terms, list) or not terms:
            problems.append(doc.problem(("entries", i), f"objective '{entry.id}': needs 'terms', a list of "
                                                             f"{', '.join(OBJECTIVE_TERMS)}"))
            continue
        for j, term in enumerate(terms):
            if term not in OBJECTIVE_TERMS:
                problems.append(doc.problem(("entries", i, "terms", j), f"objective '{entry.id}': unknown "
                                                 f"term '{term}'{did_you_mean(str(term), OBJECTIVE_TERMS)}; "
                                                 f"terms: {', '.join(OBJECTIVE_TERMS)}"))
        for j, name in enumerate(entry.get("priorities") or []):
            if priorities and name not in priorities:
                problems.append(doc.problem(("entries", i, "priorities", j), f"objective '{entry.id}': "
                                                 f"unknown priority '{name}'{did_you_mean(str(name), priorities)}"))
    if catalog.by_id("default") is None:
        problems.append(doc.problem(("entries",), "the objective catalog needs an entry with id 'default' "
                                                       "(the order of plans for priorities no entry lists)"))
    return problems
