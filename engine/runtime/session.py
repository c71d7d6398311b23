"""The durable-rules adapter: registers compiled stages once, evaluates one stage per call in a
fresh session, records every firing, and always deletes the session.

durable-rules' C core is not thread-safe, so every call into it holds one process-wide lock. A
runtime belongs to one compiled rule base; nothing engine-related lives at module level except that
lock and the counter that keeps ruleset names unique.

The runtime drives the C core (``durable_rules_engine``) directly rather than through durable's Python
Host (docs/performance.md): ``create_ruleset`` once per ruleset (so no Host and no timer threads); per
evaluation one ``assert_facts`` of a JSON text whose catalog part is serialised once, then
``start_action_for_state`` / ``complete_and_start_action`` to drain the matched rules, and
``delete_state``. Rules have no Python actions — a match is only recorded — so durable's action loop,
its per-action JSON round trips of the session state and its Closure objects are skipped, and no
action can fail inside durable. A stage with more rules than one ruleset should hold (the C core's
limit is 4,096) is split into several rulesets evaluated in turn. Numbers are written in a form the
C parser reads correctly (see ``fact_json``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import durable_rules_engine as durable_core

from engine.errors import EngineError
from engine.language.conditions import visible
from engine.language.ir import CatalogEntry
from engine.memo import Memo
from engine.runtime.compiler import (
    ALWAYS_RULE,
    CTX_KIND,
    ENTRY_KEY,
    FACT_KEY,
    RESERVED_KEYS,
    SINK_PREFIX,
    CompiledStage,
    entry_kind,
    plan_kind,
    plan_pattern,
    rule_id_of,
)
from engine.runtime.firing import Firing

_DURABLE_LOCK = threading.RLock()   # one lock for the whole C core: concurrent calls segfault
_NAME_COUNTER = itertools.count()   # a ruleset name can be registered only once per process
_DECODER = json.JSONDecoder()
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]  # C-accelerated, undeclared in typeshed
_SID_MARK = "\x01"                  # a placeholder for the session id in the serialised facts ...
_SID_TEXT = '"sid": "\\u0001"'      # ... as json.dumps writes it: only our own "sid" key can produce this
_ENTRY_PATTERN = '"e":{'             # how the C core frames the joined entry in a match (our JSON has ': ')


@dataclass(frozen=True)
class _Part:
    """One registered durable ruleset: a stage, or a slice of a stage too big for one ruleset."""

    name: str
    handle: int
    joined_rules: frozenset[str]        # rule names with a catalog join (their match carries an entry)
    joined_catalogs: tuple[str, ...]    # catalogs whose entries are asserted with the ctx fact
    plan_rules: Mapping[str, tuple[str, ...]]  # rule name -> the plan axes its p0, p1 ... patterns match
    plan_axes: tuple[str, ...]          # plan axes whose values are asserted with the ctx fact


class DurableRuntime:
    """Evaluates the compiled stages of one rule base on durable-rules."""

    def __init__(self, stages: Sequence[CompiledStage]) -> None:
        self._stages = {s.stage: s for s in stages}
        self._parts: dict[str, tuple[_Part, ...]] = {}
        self._entries_json: dict[tuple[str, int], tuple[tuple[object, ...], str]] = {}
        self._plan_json: Memo[str] = Memo(256)   # plan-value facts as JSON, per set of values
        self._sessions = itertools.count(1)
        with _DURABLE_LOCK:
            for stage in stages:
                parts = []
                for definition, catalogs, axes in split_stage(stage):
                    name = f"{stage.name}-{next(_NAME_COUNTER)}"
                    try:
                        handle = durable_core.create_ruleset(name, fact_json(definition))
                    except Exception as exc:  # the C core rejects what it cannot compile
                        raise EngineError(f"durable-rules rejected the {stage.stage} stage: {exc}") from exc
                    joined = frozenset(rule_name for rule_name, body in definition.items()
                                       if any("e" in pattern for pattern in body["all"])
                                       and not rule_name.startswith(SINK_PREFIX))
                    plan_rules = {rule_name: stage.rules[rule_id_of(rule_name)].plan_axes
                                  for rule_name in definition
                                  if rule_name != ALWAYS_RULE and not rule_name.startswith(SINK_PREFIX)
                                  and stage.rules[rule_id_of(rule_name)].plan}
                    parts.append(_Part(name, handle, joined, catalogs, MappingProxyType(plan_rules), axes))
                self._parts[stage.stage] = tuple(parts)
        # the C core keeps every ruleset until it is deleted: free them with the runtime
        handles = [part.handle for parts in self._parts.values() for part in parts]
        self._finalizer = weakref.finalize(self, _delete_rulesets, handles)

    def close(self) -> None:
        """Free the rulesets in durable-rules' C core now (also done when the runtime is collected)."""
        self._finalizer()

    def evaluate(self, stage: str, ctx: Mapping[str, Any], catalogs: Mapping[str, Sequence[CatalogEntry]],
                 plan_values: Mapping[str, Sequence[Any]] | None = None) -> list[Firing]:
        """Run one stage over the ctx fact, the entries of the catalogs it joins and one fact per value of
        each plan axis its rules test (``plan_values``: axis -> values); the firings, in order."""
        plain = _scalars(ctx)
        for key in RESERVED_KEYS:
            plain.pop(key, None)
        fact_text = fact_json({**_asserted(plain), "sid": _SID_MARK, "id": "ctx", FACT_KEY: CTX_KIND})
        shared_ctx = MappingProxyType(plain)
        firings: list[Firing] = []
        for index, part in enumerate(self._parts[stage]):
            entries = self._entries_text(stage, index, part, catalogs, plan_values or {})
            self._run_part(stage, part, f"[{fact_text}{entries}]", shared_ctx, firings)
        return _first_per_match(firings)

    def _run_part(self, stage: str, part: _Part, template: str, ctx: Mapping[str, Any],
                  firings: list[Firing]) -> None:
        handle = part.handle
        with _DURABLE_LOCK:
            sid = f"s{next(self._sessions)}"
            text = template.replace(_SID_TEXT, f'"sid": "{sid}"')
            state_handle = None
            in_action = False
            try:
                code, state_handle = durable_core.assert_facts(handle, text)
                if code != 0:
                    raise EngineError(f"durable-rules did not accept the facts of the {stage} stage (code {code}); "
                                      "a fact matched no rule or was asserted twice")
                started = durable_core.start_action_for_state(handle, state_handle)
                message = started[1] if started else None
                while message:
                    in_action = True
                    rule_name, after = _scanstring(message, 2)
                    if rule_name != ALWAYS_RULE:
                        entry_id = None
                        if rule_name in part.joined_rules:
                            at = message.rfind(_ENTRY_PATTERN, after)
                            entry_id = str(_DECODER.raw_decode(message, at + 4)[0][ENTRY_KEY])
                        plan: tuple[tuple[str, Any], ...] = ()
                        axes = part.plan_rules.get(rule_name)
                        if axes:
                            plan = tuple((axis, _matched(message, after, plan_pattern(i), axis))
                                         for i, axis in enumerate(axes))
                        firings.append(Firing(rule_id_of(rule_name), ctx, entry_id, plan))
                    message = durable_core.complete_and_start_action(handle, state_handle)
                    in_action = False
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(f"durable-rules failed in the {stage} stage: {type(exc).__name__}: {exc}") from exc
            finally:
                if in_action and state_handle is not None:
                    with contextlib.suppress(Exception):  # the session is deleted next anyway
                        durable_core.abandon_action(handle, state_handle)
                with contextlib.suppress(Exception):  # a missing session is already gone
                    durable_core.delete_state(handle, sid)

    def _entries_text(self, stage: str, index: int, part: _Part, catalogs: Mapping[str, Sequence[CatalogEntry]],
                      plan_values: Mapping[str, Sequence[Any]]) -> str:
        """The joined catalogs' entry facts and the plan-value facts as JSON (each prefixed by a comma),
        built once per catalog and value-list object."""
        sources = tuple(catalogs.get(catalog, ()) for catalog in part.joined_catalogs)
        cached = self._entries_json.get((stage, index))
        if cached is not None and all(a is b for a, b in zip(cached[0], sources, strict=True)):
            text = cached[1]
        else:
            pieces = []
            for catalog, entries in zip(part.joined_catalogs, sources, strict=True):
                for entry in entries:
                    fact = {ENTRY_KEY: entry.id, **_asserted(_scalars(entry.attrs)), "sid": _SID_MARK,
                            "id": f"{catalog}:{entry.id}", FACT_KEY: entry_kind(catalog)}
                    pieces.append("," + fact_json(fact))
            text = "".join(pieces)
            self._entries_json[(stage, index)] = (sources, text)  # holding the sources keeps their ids from reuse
        if not part.plan_axes:
            return text
        key = (stage, index, tuple(tuple(plan_values.get(axis, ())) for axis in part.plan_axes))
        values_text = self._plan_json.get(key)
        if values_text is None:
            values_text = "".join(
                "," + fact_json({axis: value, "sid": _SID_MARK, "id": f"plan:{axis}:{value}",
                                 FACT_KEY: plan_kind(axis)})
                for axis in part.plan_axes for value in plan_values.get(axis, ()))
            self._plan_json.put(key, values_text)
        return text + values_text


# The C core's limits (durable's rules.h; measured, docs/performance.md): 4,096 rules per ruleset; more
# than 256 rules with an identical pattern fail at create time (error 108, ERR_RULE_BETA_LIMIT_EXCEEDED);
# create_ruleset never returns once a node has more than about 512 successors (600 rules differing only
# in one threshold hung it); and a fact that activates more than about 64 nodes at once overflows the
# assert stack (error 303, ERR_MAX_STACK_SIZE) — with a rule base ×100, even 250 rules per ruleset did.
# So a stage is split into rulesets of at most 60 rules; the shipped stages fit in one each.
MAX_RULES_PER_RULESET = 60


def _delete_rulesets(handles: list[Any]) -> None:
    with _DURABLE_LOCK:
        for handle in handles:
            with contextlib.suppress(Exception):  # already gone: nothing left to free
                durable_core.delete_ruleset(handle)


def split_stage(stage: CompiledStage, max_rules: int = MAX_RULES_PER_RULESET,
                ) -> list[tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]]:
    """The stage's definition cut into rulesets within the C core's limits, each with its own
    housekeeping rules (the always-firing one, a sink per catalog and plan axis it joins), its joined
    catalogs and its plan axes."""
    rules = [name for name in stage.definition if name != ALWAYS_RULE and not name.startswith(SINK_PREFIX)]
    out = []
    for start in range(0, max(len(rules), 1), max_rules):
        names = rules[start:start + max_rules]
        catalogs: list[str] = []
        axes: list[str] = []
        for name in names:
            rule = stage.rules[rule_id_of(name)]
            if rule.join and rule.join not in catalogs:
                catalogs.append(rule.join)
            axes.extend(a for a in rule.plan_axes if a not in axes)
        definition = {ALWAYS_RULE: stage.definition[ALWAYS_RULE], **{n: stage.definition[n] for n in names}}
        kinds = [entry_kind(c) for c in catalogs] + [plan_kind(a) for a in axes]
        definition.update({SINK_PREFIX + k: stage.definition[SINK_PREFIX + k] for k in kinds})
        out.append((definition, tuple(catalogs), tuple(axes)))
    return out


def _matched(message: str, start: int, pattern: str, axis: str) -> Any:
    """The value of ``axis`` in the plan-value fact that ``pattern`` matched in a durable-rules match."""
    at = message.find(f'"{pattern}":{{', start)
    if at < 0:
        raise EngineError(f"durable-rules returned a match without its {pattern} ({axis}) fact")
    return _DECODER.raw_decode(message, at + len(pattern) + 3)[0][axis]


def _first_per_match(firings: list[Firing]) -> list[Firing]:
    """One firing per (rule, entry, plan values): an ``any`` compiles to alternatives that may each fire."""
    seen: set[tuple[str, str | None, tuple[tuple[str, Any], ...]]] = set()
    out = []
    for firing in firings:
        key = (firing.rule_id, firing.entry_id, firing.plan)
        if key not in seen:
            seen.add(key)
            out.append(firing)
    return out


# Every asserted list ends with this item: durable-rules' $iall is false on an empty list, so without it
# `lacks` (and `not contains`) would fail on [] (tests/test_conditions.py). No rule can compare with it: YAML
# forbids control characters.
LIST_END = "\x03tp-end"


def _scalars(values: Mapping[str, Any]) -> dict[str, Any]:
    """What durable-rules can match: scalars and lists of scalars, without None."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        seen = visible(value)   # what engine/language/conditions.py also reads
        if seen is not None:
            out[key] = seen
    return out


def _asserted(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (from ``_scalars``) as asserted: each list ends with LIST_END."""
    if not any(isinstance(v, list) for v in values.values()):
        return dict(values)
    return {key: [*value, LIST_END] if isinstance(value, list) else value for key, value in values.items()}


def fact_json(value: Any) -> str:
    """JSON for durable-rules' C parser, which misreads a number written ``1e-05`` or ``1e+16`` (an exponent
    without a decimal point: Python's form for tiny and huge floats) — asserting one crashed the process
    and a threshold like 1e16 made the ruleset fail with error 204. Such floats are written ``1.0e-05``;
    non-finite ones, which the C parser cannot read at all, raise EngineError."""
    if isinstance(value, dict) and not any(_needs_fix(v) for v in value.values()):
        return json.dumps(value, ensure_ascii=False)   # the common case: a flat fact of plain numbers
    fixes: dict[str, str] = {}

    def fix(item: Any) -> Any:
        if isinstance(item, float):
            if not math.isfinite(item):
                raise EngineError(f"durable-rules cannot hold the non-finite number {item}")
            text = repr(item)
            if "e" in text:
                mantissa, exponent = text.split("e")
                token = f"\x02{len(fixes)}"
                fixes[json.dumps(token)] = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"
                return token
            return item
        if isinstance(item, dict):
            return {key: fix(v) for key, v in item.items()}
        if isinstance(item, list | tuple):
            return [fix(v) for v in item]
        return item

    text = json.dumps(fix(value), ensure_ascii=False)
    for token, number in fixes.items():  # YAML forbids control characters, so no real string is a token
        text = text.replace(token, number)
    return text


def _needs_fix(value: Any) -> bool:
    """Whether repr() of a float in ``value`` has an exponent (or is not finite); containers are walked."""
    if isinstance(value, float):
        return value != 0.0 and not 1e-4 <= abs(value) < 1e16
    return isinstance(value, list | tuple | dict)  # rare in a fact (lists of scalars); the slow path looks
