"""The space of plans: the values of every plan axis (from the schema's plan: section and the catalogs), the
training set-ups and the GPU offers a recommendation chooses among, with the user's pins applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.decide.records import Offer, Setup
from engine.language.ir import RuleBase

PINNABLE = ("tool", "method", "gradient_checkpointing", "gpu", "gpu_count", "platform")


def axis_values(rulebase: RuleBase) -> dict[str, tuple[Any, ...]]:
    """Every plan axis and its values, in catalog (or schema) order: the tie-break order."""
    out: dict[str, tuple[Any, ...]] = {}
    for name, spec in rulebase.plan_axes.items():
        if spec.type == "catalog":
            catalog = rulebase.catalogs.get(spec.catalog)
            out[name] = catalog.ids() if catalog else ()
        elif spec.type == "bool":
            out[name] = (True, False)
        elif spec.type == "integer":
            out[name] = tuple(int(v) for v in spec.values)
        else:
            out[name] = tuple(spec.values)
    return out


def pins(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The plan axes the user fixed, and their values (``auto`` fixes nothing)."""
    out: dict[str, Any] = {}
    for axis in PINNABLE:
        value = facts.get(axis)
        if value is None or value == "auto":
            continue
        if axis == "gradient_checkpointing":
            value = value in (True, "true")
        out[axis] = value
    return out


def setups(rulebase: RuleBase, values: Mapping[str, tuple[Any, ...]], pinned: Mapping[str, Any]) -> list[Setup]:
    """Every training set-up the pins allow: tool x method x checkpointing x GPU count x strategy, where the
    strategy suits the count (its min_gpus/max_gpus in rules/catalog/sharding.yaml)."""
    def options(axis: str) -> tuple[Any, ...]:
        return (pinned[axis],) if axis in pinned else values[axis]

    counts = options("gpu_count")
    strategies = rulebase.records.strategies.values()
    by_count = {count: [s.id for s in strategies if s.suits(count)] for count in counts}
    return [Setup(tool, method, ckpt, count, strategy)
            for tool in options("tool") for method in options("method")
            for ckpt in options("gradient_checkpointing") for count in counts for strategy in by_count[count]]


def owned_platform(rulebase: RuleBase) -> str | None:
    """The platform that stands for the user's own machine (billing: owned)."""
    return next((p.id for p in rulebase.records.platforms if p.billing == "owned"), None)


def offers(rulebase: RuleBase, facts: Mapping[str, Any], pinned: Mapping[str, Any]) -> list[Offer]:
    """The GPU offers: the cheapest price record per (platform, GPU, tier), and the owned GPUs."""
    out: list[Offer] = []
    for platform in rulebase.records.platforms:   # price records checked when the rules loaded
        if "platform" in pinned and platform.id != pinned["platform"]:
            continue
        cheapest: dict[tuple[str, str], Offer] = {}
        for price in platform.prices:
            if "gpu" in pinned and price.gpu != pinned["gpu"]:
                continue
            offer = Offer(platform.id, price.gpu, price.tier, price.usd_per_gpu_hour, price.instance_gpus,
                          platform.max_gpus_per_node, price.max_hours, price.as_of, price.source, price.note)
            key = (offer.gpu, offer.tier)
            if key not in cheapest or offer.usd_per_gpu_hour < cheapest[key].usd_per_gpu_hour:
                cheapest[key] = offer
        out.extend(cheapest.values())
    local = owned_platform(rulebase)
    owned = facts.get("owned_gpu")
    if owned and local and pinned.get("platform", local) == local and pinned.get("gpu", owned) == owned:
        out.append(Offer(local, str(owned), "owned", 0.0, 1, int(facts.get("owned_gpu_count") or 1), None, "",
                         "owned_gpu (you own it)", "your own GPU: no rent"))
    return out
