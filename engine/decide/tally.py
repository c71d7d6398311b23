"""Turn rule firings into decisions: exclusions beat requirements beat scores; ties break by catalog
order; every rejected option keeps the rules and reasons that rejected it."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from engine.language.decisions import DECISIONS
from engine.language.ir import PLACEHOLDER, Catalog, CatalogEntry, Rule


@dataclass
class Effect:
    """One thing a fired rule did to one option, with the rendered reason."""

    rule_id: str
    kind: str          # exclude, require, score
    points: float
    because: str


@dataclass
class Option:
    """An option of a decision and everything the rules said about it."""

    id: str
    order: int
    effects: list[Effect] = field(default_factory=list)

    @property
    def score(self) -> float | int:
        """Sum of the points scored by rules (an int when whole, as people write scores)."""
        total = sum(e.points for e in self.effects if e.kind == "score")
        return int(total) if float(total).is_integer() else total

    @property
    def excluded(self) -> bool:
        """Whether a rule excluded it."""
        return any(e.kind == "exclude" for e in self.effects)


@dataclass
class DecisionResult:
    """The outcome of one decision: the choice, the ranking and the rejected options with why."""

    name: str
    choice: str | None
    options: dict[str, Option]
    pinned: str | None = None
    notes: list[str] = field(default_factory=list)
    rank: dict[str, int] | None = None   # plan decisions: the order of each option's best plan (the objective)

    def ranking(self) -> list[Option]:
        """Options not excluded, best first (by their best plan, or by score then catalog order)."""
        live = [o for o in self.options.values() if not o.excluded]
        if self.rank is not None:
            return sorted(live, key=lambda o: (self.rank.get(o.id, len(self.rank)) if self.rank else 0, o.order))
        return sorted(live, key=lambda o: (-o.score, o.order))

    def excluded(self) -> list[Option]:
        """Options excluded by a rule, in catalog order."""
        return [o for o in sorted(self.options.values(), key=lambda o: o.order) if o.excluded]

    def exclude(self, option_id: str, rule_id: str, because: str) -> None:
        """Exclude an option for a reason that is not a rule firing (e.g. a memory check)."""
        self.options[option_id].effects.append(Effect(rule_id, "exclude", 0.0, because))


def render_template(text: str, ctx: Mapping[str, Any], entry: CatalogEntry | None,
                    plan: Mapping[str, Any] | None = None) -> str:
    """Fill ``{fact}``, ``{entry.attr}`` and ``{plan.axis}`` placeholders (names were checked at load time,
    presence by `tuneplan check`): an unset value reads as the placeholder's fallback (``{model|the model}``),
    else "not given", never "?" or None."""
    def sub(match: re.Match[str]) -> str:
        head, attr, fallback = match.group(1), match.group(2), match.group(3)
        if head == "entry" and entry is not None:
            value = entry.id if attr in (None, "id") else entry.get(str(attr))
        elif head == "plan" and attr is not None:
            value = (plan or {}).get(attr)
        else:
            value = ctx.get(head)
        if value is None:
            return fallback if fallback is not None else "not given"
        return format_value(value)
    return PLACEHOLDER.sub(sub, text)


def format_value(value: Any) -> str:
    """A fact value as people write it: 2 not 2.0, 9.84 not 9.8412, lists comma-joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    return str(value)


Conclusion = tuple[Rule, str | None, str]   # a fired rule, the entry it joined, its rendered `because`


def tally(decision: str, catalog: Catalog, conclusions: Sequence[Conclusion], *,
          pinned: str | None = None) -> DecisionResult:
    """Apply the fired rules' actions on ``decision`` and choose; a pinned option is chosen regardless."""
    spec = DECISIONS[decision]
    entries = [e for e in catalog.entries if not spec.kind or e.get("kind") == spec.kind]
    options = {e.id: Option(e.id, i) for i, e in enumerate(entries)}
    required: list[tuple[str, Effect]] = []
    for rule, entry_id, because in conclusions:
        for action in rule.actions:
            if action.decision != decision:
                continue
            target = action.option if action.option is not None else entry_id
            if target not in options:
                continue
            if action.kind == "require":
                required.append((target, Effect(rule.id, "require", 0.0, because)))
            else:
                options[target].effects.append(Effect(rule.id, action.kind, action.points, because))
    for target, effect in required:
        options[target].effects.append(effect)
        for other in options.values():
            if other.id != target:
                other.effects.append(Effect(effect.rule_id, "exclude", 0.0,
                                            f"{effect.because}, so not {other.id}"))
    result = DecisionResult(decision, None, options, pinned=pinned)
    ranking = result.ranking()
    if pinned is not None:
        result.choice = pinned
        if options[pinned].excluded:
            reasons = "; ".join(e.because for e in options[pinned].effects if e.kind == "exclude")
            result.notes.append(f"{pinned} is pinned although the rules exclude it: {reasons}")
    elif ranking:
        result.choice = ranking[0].id
    return result


@lru_cache(maxsize=4096)
def shorten(text: str, limit: int) -> str:
    """At most about ``limit`` characters, cut at a word boundary with an ellipsis, never mid-word (memoised:
    the same reasons recur in every answer's graph and warnings)."""
    if len(text) <= limit:
        return text
    wrapper = textwrap.TextWrapper(width=limit, max_lines=1, placeholder=" …", break_long_words=False,
                                   break_on_hyphens=False)   # a rule id such as tool-reproducibility stays whole
    return wrapper.fill(" ".join(text.split()))
