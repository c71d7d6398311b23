"""The durable-rules adapter: registers compiled stages once, evaluates one stage per call in a
fresh session, records every firing, and always deletes the session.

durable-rules' C core is not thread-safe, so every call into it holds one process-wide lock; its
Host is subclassed so that it starts no timer threads. A runtime belongs to one compiled rule base;
nothing engine-related lives at module level except that lock."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from durable import engine as durable_engine

from engine.compiler import (
    ALWAYS_RULE,
    CTX_KIND,
    ENTRY_KEY,
    FACT_KEY,
    RESERVED_KEYS,
    CompiledStage,
    entry_kind,
    rule_id_of,
)
from engine.errors import EngineError
from engine.ir import CatalogEntry

_DURABLE_LOCK = threading.RLock()   # one lock for the whole C core: concurrent calls segfault
_NAME_COUNTER = itertools.count()   # a ruleset name can be registered only once per process


class _QuietHost(durable_engine.Host):  # type: ignore[misc]
    """A Host without the two dispatch timer threads that every durable Host starts."""

    def _run(self) -> None:
        return None


@dataclass(frozen=True)
class Firing:
    """One rule that fired: which, the ctx fact it matched, and the catalog entry it joined (if any)."""

    rule_id: str
    ctx: Mapping[str, Any]
    entry_id: str | None


class DurableRuntime:
    """Evaluates the compiled stages of one rule base on durable-rules."""

    def __init__(self, stages: Sequence[CompiledStage]) -> None:
        self._stages = {s.stage: s for s in stages}
        self._names: dict[str, str] = {}
        self._fired: list[Firing] | None = None
        self._sessions = itertools.count(1)
        with _DURABLE_LOCK:
            self._host = _QuietHost()
            for stage in stages:
                name = f"{stage.name}-{next(_NAME_COUNTER)}"
                definition: dict[str, Any] = {}
                for rule_name, body in stage.definition.items():
                    definition[rule_name] = {**body, "run": self._action(rule_name)}
                try:
                    self._host.register_rulesets({name: definition})
                except Exception as exc:  # the C core rejects what it cannot compile
                    raise EngineError(f"durable-rules rejected the {stage.stage} stage: {exc}") from exc
                self._names[stage.stage] = name

    def _action(self, rule_name: str) -> Any:
        joined = len(self._stage_of(rule_name).definition[rule_name]["all"]) == 2
        rule_id = rule_id_of(rule_name)

        def action(c: Any) -> None:
            if self._fired is None or rule_name == ALWAYS_RULE:
                return
            if joined:
                self._fired.append(Firing(rule_id, _plain(c.x), str(getattr(c.e, "_d", c.e)[ENTRY_KEY])))
            else:
                self._fired.append(Firing(rule_id, _plain(c.m), None))
        return action

    def _stage_of(self, rule_name: str) -> CompiledStage:
        for stage in self._stages.values():
            if rule_name in stage.definition:
                return stage
        raise KeyError(rule_name)

    def evaluate(self, stage: str, ctx: Mapping[str, Any],
                 catalogs: Mapping[str, Sequence[CatalogEntry]]) -> list[Firing]:
        """Run one stage over the ctx fact and the entries of the catalogs it joins; the firings, in order."""
        compiled = self._stages[stage]
        name = self._names[stage]
        with _DURABLE_LOCK:
            sid = f"s{next(self._sessions)}"
            facts: list[dict[str, Any]] = [{**_scalars(ctx), "sid": sid, "id": "ctx", FACT_KEY: CTX_KIND}]
            for catalog in compiled.joined_catalogs:
                for entry in catalogs.get(catalog, ()):
                    facts.append({**_scalars(entry.attrs), "sid": sid, "id": f"{catalog}:{entry.id}",
                                  FACT_KEY: entry_kind(catalog), ENTRY_KEY: entry.id})
            self._fired = []
            try:
                self._host.assert_facts(name, facts)
                state = self._host.get_state(name, sid)
                if isinstance(state, dict) and state.get("exception"):
                    raise EngineError(f"a rule action failed in the {stage} stage: {state['exception']}")
                return _first_per_match(self._fired)
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(f"durable-rules failed in the {stage} stage: {type(exc).__name__}: {exc}") from exc
            finally:
                self._fired = None
                try:
                    self._host.delete_state(name, sid)
                except Exception:  # noqa: S110 - a missing session is already gone
                    pass


def _first_per_match(firings: list[Firing]) -> list[Firing]:
    """One firing per (rule, entry): an ``any`` compiles to alternatives that may each fire."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for firing in firings:
        key = (firing.rule_id, firing.entry_id)
        if key not in seen:
            seen.add(key)
            out.append(firing)
    return out


def _scalars(values: Mapping[str, Any]) -> dict[str, Any]:
    """What durable-rules can match: scalars and lists of scalars, without None."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            if all(isinstance(v, str | int | float | bool) for v in value):
                out[key] = value
        elif isinstance(value, str | int | float | bool):
            out[key] = value
    return out


def _plain(content: Any) -> dict[str, Any]:
    data = getattr(content, "_d", content)
    return {k: v for k, v in dict(data).items() if k not in (*RESERVED_KEYS, "$s")}
