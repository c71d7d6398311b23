"""The fact schema (facts/schema.yaml): the constraints, the derived facts and the plan axes, each a
FactSpec, with every problem located in the file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.language.ir import STAGES, FactSpec
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document, Path_, read_yaml

PRESENCE = ("always", "with-plan")   # when a derived fact is set (facts/schema.yaml `present:`)
FACT_TYPES = ("number", "integer", "bool", "enum", "catalog")


@dataclass
class FactSchemaReader:
    """Reads one fact schema; its problems go to ``problems``, its plan axes to ``plan_axes``."""

    facts_file: Path
    display: str
    problems: list[Problem] = field(default_factory=list)
    plan_axes: dict[str, FactSpec] = field(default_factory=dict)

    def load(self) -> dict[str, FactSpec]:
        doc, problems = read_yaml(self.facts_file, self.display)
        self.problems.extend(problems)
        if doc is None:
            return {}
        if not isinstance(doc.data, dict):
            self.problems.append(doc.problem((), "fact schema must be a mapping with 'constraints' and 'derived'"))
            return {}
        facts: dict[str, FactSpec] = {}
        axes = doc.data.get("plan", {})
        if not isinstance(axes, dict):
            self.problems.append(doc.problem(("plan",), "'plan' must be a mapping of plan axes"))
            axes = {}
        for name, spec in axes.items():
            axis = self._fact_spec(doc, ("plan", name), name, spec, derived=False)
            if axis is not None:
                self.plan_axes[name] = axis
        for section in ("constraints", "derived"):
            block = doc.data.get(section, {})
            if not isinstance(block, dict):
                self.problems.append(doc.problem((section,), f"'{section}' must be a mapping of fact names"))
                continue
            for name, spec in block.items():
                fact = self._fact_spec(doc, (section, name), name, spec, derived=section == "derived")
                if fact is None:
                    continue
                if name in facts:
                    self.problems.append(doc.problem((section, name), f"fact '{name}' is declared twice"))
                facts[name] = fact
        for key in doc.data:
            if key not in ("constraints", "derived", "plan"):
                self.problems.append(doc.problem((key,), f"unknown key '{key}'"
                                                         f"{did_you_mean(key, ['constraints', 'derived', 'plan'])}"))
        return facts

    def _fact_spec(self, doc: Document, path: Path_, name: str, spec: Any, *, derived: bool) -> FactSpec | None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not isinstance(spec, dict):
            self.problems.append(doc.problem(path, f"fact '{name}': needs a snake_case name and a mapping"))
            return None
        known = {"type", "description", "unit", "values", "catalog", "default", "min", "max",
                 "min_exclusive", "stage", "present"}
        for key in spec:
            if key not in known:
                self.problems.append(doc.problem((*path, key), f"fact '{name}': unknown key '{key}'"
                                                               f"{did_you_mean(key, known)}"))
        ftype = spec.get("type")
        if ftype not in FACT_TYPES:
            self.problems.append(doc.problem((*path, "type"), f"fact '{name}': type must be one of "
                                                              f"{', '.join(FACT_TYPES)}"))
            return None
        stage = spec.get("stage")
        if derived and stage not in STAGES:
            self.problems.append(doc.problem((*path, "stage"), f"derived fact '{name}': stage must be one of "
                                                               f"{', '.join(STAGES)}"))
            return None
        present = spec.get("present", "")
        if present and (not derived or present not in PRESENCE):
            self.problems.append(doc.problem((*path, "present"), f"fact '{name}': present is for derived facts, "
                                                                 f"one of {', '.join(PRESENCE)}"))
            present = ""
        values = spec.get("values", [])
        if ftype == "enum" and (not isinstance(values, list) or not values):
            self.problems.append(doc.problem(path, f"fact '{name}': an enum needs a list of values"))
            return None
        if ftype == "integer" and values and not (
                isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)):
            self.problems.append(doc.problem((*path, "values"), f"fact '{name}': values of an integer are whole "
                                                                "numbers"))
            return None
        if not spec.get("description"):
            self.problems.append(doc.problem(path, f"fact '{name}': needs a description"))
        return FactSpec(
            name=name, type=ftype, description=str(spec.get("description", "")), unit=str(spec.get("unit", "")),
            values=tuple(str(v) for v in values), catalog=str(spec.get("catalog", "")),
            default=spec.get("default"), minimum=spec.get("min"), maximum=spec.get("max"),
            min_exclusive=spec.get("min_exclusive"), derived_stage=stage if derived else None,
            present=str(present),
        )
