"""What every check family reads (the rule base, its rules modelled over the domains, today's date) and how it
reports (``Context.add``: a finding of one of the family's registered ids, at the id's registered level)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.language.ir import RuleBase
from engine.language.yamlsource import iter_yaml_files, read_yaml
from engine.tools.lint.findings import Finding, Registry, display
from engine.tools.lint.model import RuleModel, Space, build_domains, model_rule


class Context:
    """One lint run: the rule base, the space of worlds, every rule's model, and the findings so far."""

    def __init__(self, rulebase: RuleBase, today: dt.date, registry: Registry) -> None:
        self.rb = rulebase
        self.today = today
        self.registry = registry
        self.space = Space(build_domains(rulebase))
        self.models: dict[str, RuleModel] = {r.id: model_rule(r, rulebase, self.space) for r in rulebase.rules()}
        self.findings: list[Finding] = []
        self.family = ""   # the check family running now (set by the runner)

    def add(self, where: Any, lint_id: str, rules: Sequence[str], message: str, fix: str) -> None:
        """Report a finding of the running family's id ``lint_id`` at ``where`` (anything with file, line, col)."""
        self.findings.append(self.registry.finding(self.family, where, lint_id, rules, message=message, fix=fix))

    def catalog_doc(self, name: str) -> Any:
        """The YAML document of catalog ``name`` (with its marks, for line numbers), or None."""
        for path in iter_yaml_files([Path(self.rb.root) / "catalog"]):
            doc, _ = read_yaml(path, display(path))
            if doc is not None and isinstance(doc.data, dict) and doc.data.get("catalog") == name:
                return doc
        return None
