"""`tuneplan check`: validate rule directories, the fact schema and constraint profiles, collecting
every problem as ``file:line:col: message``."""

from __future__ import annotations

from pathlib import Path

from engine.errors import ConstraintError, Problem, RuleFileError
from engine.inputs.facts import normalise
from engine.inputs.profiles import read_profile
from engine.language.ir import PLACEHOLDER, CatalogEntry, Comparison, Condition, FactRef, Group, Rule, RuleBase
from engine.language.loader import DEFAULT_RULES, load_rules
from engine.language.yamlsource import Document, Path_, iter_yaml_files


def _rules_root(path: Path) -> Path | None:
    """The rules directory a path belongs to (one holding catalog/ or sets/), if any."""
    for candidate in (path, *path.parents):
        if candidate.is_dir() and ((candidate / "catalog").is_dir() or (candidate / "sets").is_dir()):
            return candidate
    return None


def _load(root: Path | None, problems: list[Problem], cut: list[str] | None = None, *,
          compile_rules: bool = False) -> RuleBase | None:
    try:
        rulebase = load_rules(root)
    except RuleFileError as exc:
        problems.extend(exc.problems)
        if exc.truncated and cut is not None:
            cut.append(exc.more())
        return None
    if compile_rules:
        found = template_problems(rulebase) or _compiled(rulebase.root)
        problems.extend(found)
        if found:
            return None
    return rulebase


def template_problems(rulebase: RuleBase) -> list[Problem]:
    """Placeholders that may be unset when their rule fires: a ``{fact}`` neither defaulted by the schema, nor
    derived always (or with the plan, in a rule that tests the plan), nor tested by the rule's `when`; an
    ``{entry.attr}`` that some entry of the joined catalog lacks (unless `where` tests it). Each needs a test
    or a fallback (``{fact|words}``), so that no answer reads "not given" where a value was meant."""
    with_plan = {name for name, spec in rulebase.facts.items() if spec.present == "with-plan"}
    problems = []
    for rule in rulebase.rules():
        tested = _tested(rule.when)
        texts = [("because", rule.because)] + [(f"warning '{a.warning}'", a.message) for a in rule.actions
                                               if a.kind == "warn"]
        for field, text in texts:
            for match in PLACEHOLDER.finditer(text or ""):
                head, attr, fallback = match.groups()
                if fallback is not None or head == "plan":
                    continue
                why = _unset_because(rulebase, rule, head, attr, tested=tested, with_plan=with_plan)
                if why:
                    problems.append(Problem(rule.loc.file, rule.loc.line, rule.loc.col,
                                            f"rule '{rule.id}': {field}: placeholder '{match.group(0)}' may be unset "
                                            f"when the rule fires ({why}); test it in the rule's conditions or give "
                                            f"the words to write instead, e.g. '{{{match.group(0)[1:-1]}|...}}'"))
    return problems


def _unset_because(rulebase: RuleBase, rule: Rule, head: str, attr: str | None, *, tested: set[str],
                   with_plan: set[str]) -> str:
    """Why a placeholder may be unset ("" when it is always set for the rule)."""
    if head == "entry":
        catalog = rulebase.catalogs.get(rule.join or "")
        if attr in (None, "id") or catalog is None or attr in _tested(rule.where):
            return ""
        lacking = [e.id for e in catalog.entries if e.get(attr) is None and _may_join(rule.where, e)]
        return f"catalog '{catalog.name}' entries {', '.join(lacking[:4])} have no '{attr}'" if lacking else ""
    spec = rulebase.facts.get(head)
    if spec is None or spec.default is not None or spec.present == "always" or head in tested:
        return ""
    if spec.present == "with-plan":
        return "" if tested & with_plan else \
            f"'{head}' is set only when a plan is chosen, and the rule tests no plan fact"
    if spec.derived_stage:
        return f"'{head}' is derived only for some plans and the rule does not test it"
    return f"'{head}' has no default and the rule does not test it"


def _may_join(where: Condition | None, entry: CatalogEntry) -> bool:
    """Whether the rule's `where` can hold for the entry (a test against a fact's value always can)."""
    from engine.language.conditions import holds

    def refers(cond: Condition | None) -> bool:
        if isinstance(cond, Group):
            return any(refers(item) for item in cond.items)
        return isinstance(cond, Comparison) and isinstance(cond.value, FactRef)

    return refers(where) or holds(where, {}, entry=entry)


def _tested(cond: Condition | None) -> set[str]:
    """Facts (or attributes) a condition can only hold with: tested in every branch, other than `exists: false`."""
    if isinstance(cond, Comparison):
        return set() if cond.op == "exists" and cond.value is False else {cond.subject}
    if isinstance(cond, Group) and cond.kind == "all":
        return set().union(*(_tested(item) for item in cond.items))
    if isinstance(cond, Group) and cond.kind == "any" and cond.items:
        return set.intersection(*(_tested(item) for item in cond.items))
    return set()


def compile_problems(rules_dir: str) -> list[Problem]:
    """Compile the rule base into durable-rules and run one recommendation: what `check` adds to loading,
    so that "ok" means `recommend` will run (called in a worker process)."""
    from engine.errors import TuneplanError
    from engine.pipeline import Engine

    try:
        Engine.for_rules(rules_dir).recommend({"model_params_b": 7})
    except RuleFileError as exc:   # catalog entries the estimators cannot read, at their locations
        return list(exc.problems)
    except TuneplanError as exc:
        return [Problem(rules_dir, 1, 1, f"the rules load but do not run: {exc}")]
    return []


def _compiled(rules_dir: str) -> list[Problem]:
    from engine.tools.isolate import IsolationError, run_isolated

    try:
        return run_isolated(compile_problems, rules_dir, what=f"the rules in {rules_dir}")
    except IsolationError as exc:
        return [Problem(rules_dir, 1, 1, str(exc))]


def _model_config_problem(doc: Document, where: Path_, config: Path) -> list[Problem]:
    from engine.inputs.modelconfig import ModelConfigError, read_model_config

    try:
        read_model_config(config)
    except ModelConfigError as exc:
        return [doc.problem(where, str(exc))]
    return []


def check_profile(path: Path, rulebase: RuleBase) -> list[Problem]:
    """Problems of one constraint profile: YAML, shape, and every fact against the schema."""
    profile, problems = read_profile(path)
    if profile is None:
        return problems
    doc, prefix = profile.doc, profile.prefix
    out: list[Problem] = []
    for name, value in profile.constraints.items():
        if name == "model_config":   # a config.json beside the profile, read as `recommend` reads it
            out.extend(_model_config_problem(doc, (*prefix, name), path.parent / str(value)))
            continue
        try:
            normalise({name: value, "model_params_b": 1} if name != "model_params_b" else {name: value}, rulebase)
        except ConstraintError as exc:
            out.append(doc.problem((*prefix, name), str(exc)))
    return out


def check_paths(paths: list[Path], rules_dir: str | None = None) -> tuple[list[Problem], str]:
    """Every problem under ``paths`` and a one-line summary."""
    problems: list[Problem] = []
    roots: set[Path] = set()
    profiles: list[Path] = []
    for path in paths:
        if not path.exists():
            problems.append(Problem(str(path), 1, 1, "no such file or directory"))
            continue
        root = _rules_root(path)
        if root is not None:
            roots.add(root.resolve())
            continue
        if path.is_dir() and (path / "schema.yaml").is_file():
            sibling = path.parent / "rules"
            roots.add((sibling if sibling.is_dir() else DEFAULT_RULES).resolve())
            profiles.extend(p for p in iter_yaml_files([path]) if p.name != "schema.yaml")
        elif path.is_file() and path.name == "schema.yaml":
            sibling = path.parent.parent / "rules"
            roots.add((sibling if sibling.is_dir() else DEFAULT_RULES).resolve())
        else:
            profiles.extend(iter_yaml_files([path]))
    cut: list[str] = []
    rulebases = {root: _load(root, problems, cut, compile_rules=True) for root in sorted(roots)}
    base = next((rb for rb in rulebases.values() if rb is not None), None)
    if profiles:
        if base is None and not rulebases:
            base = _load(Path(rules_dir) if rules_dir else None, problems)
        if base is not None:
            for profile in profiles:
                problems.extend(check_profile(profile, base))
    problems = sorted(set(problems))
    checked = sum(len(rb.rules()) for rb in rulebases.values() if rb is not None)
    summary = (f"{len(problems)}{'+' if cut else ''} problem(s)" if problems else "ok") + \
        f": {len(rulebases)} rule director{'y' if len(rulebases) == 1 else 'ies'}, {checked} rules, " \
        f"{len(profiles)} profile(s) checked" + (f" {cut[0]}" if cut else "")
    return problems, summary
