"""`tuneplan check`: validate rule directories, the fact schema and constraint profiles, collecting
every problem as ``file:line:col: message``."""

from __future__ import annotations

from pathlib import Path

from engine.errors import ConstraintError, Problem, RuleFileError
from engine.facts import normalise
from engine.ir import RuleBase
from engine.loader import DEFAULT_RULES, load_rules
from engine.yamlsource import Document, iter_yaml_files, read_yaml


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
        found = _compiled(rulebase.root)
        problems.extend(found)
        if found:
            return None
    return rulebase


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
    from engine.isolate import IsolationError, run_isolated

    try:
        return run_isolated(compile_problems, rules_dir, what=f"the rules in {rules_dir}")
    except IsolationError as exc:
        return [Problem(rules_dir, 1, 1, str(exc))]


def _model_config_problem(doc: Document, where: tuple[str, ...], config: Path) -> list[Problem]:
    from engine.modelconfig import ModelConfigError, read_model_config

    try:
        read_model_config(config)
    except ModelConfigError as exc:
        return [doc.problem(where, str(exc))]
    return []


def check_profile(path: Path, rulebase: RuleBase) -> list[Problem]:
    """Problems of one constraint profile: YAML, shape, and every fact against the schema."""
    doc, problems = read_yaml(path)
    if doc is None:
        return problems
    data = doc.data.get("constraints", doc.data) if isinstance(doc.data, dict) else doc.data
    prefix: tuple[str, ...] = ("constraints",) if isinstance(doc.data, dict) and "constraints" in doc.data else ()
    if not isinstance(data, dict):
        return [doc.problem((), "a profile is a mapping of fact names to values (optionally under 'constraints:')")]
    out: list[Problem] = []
    for name, value in data.items():
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
