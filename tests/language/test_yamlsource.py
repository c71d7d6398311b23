"""The safe, line-aware YAML reader: traps are rejected with file:line:col."""

from __future__ import annotations

import pytest

from engine.language.yamlsource import parse_yaml


def problems(text: str | bytes) -> list[str]:
    doc, found = parse_yaml(text, "f.yaml")
    assert (doc is None) == bool(found)
    return [str(p) for p in found]


@pytest.mark.parametrize(("text", "expected"), [
    ("a: 1\na: 2\n", "f.yaml:2:1: duplicate key 'a' (first at line 1); YAML would silently keep only the last one"),
    ("a: yes\n", "f.yaml:1:4: 'yes' is ambiguous (YAML 1.1 reads it as a boolean); write true/false, or quote it "
                 "for a string"),
    ("a: &x [1]\nb: *x\n", "f.yaml:2:4: anchors and aliases are not allowed in rule files; repeat the value"),
    ("a: !!python/object/apply:os.system ['echo hi']\n",
     "f.yaml:1:4: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; rule files hold plain "
     "data only"),
    ("", "f.yaml:1:1: file is empty"),
    ("a: [1\n", "f.yaml:2:1: YAML syntax error: did not find expected ',' or ']'"),
    (b"a: \xff\n", "f.yaml:1:4: file is not UTF-8 text; save it as UTF-8"),
    (b"\x00\x01binary", "f.yaml:1:1: file is binary (contains NUL bytes), not YAML text"),
    ("base: &b {x: 1}\nother:\n  <<: *b\n", "f.yaml:3:3: merge keys ('<<') are not allowed; write the keys out"),
])
def test_traps_are_rejected_with_location(text: str | bytes, expected: str) -> None:
    assert problems(text) == [expected]


def test_billion_laughs_is_rejected_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i-1}'] * 9)}]" for i in range(1, 10)]
    assert "anchors and aliases are not allowed" in problems("\n".join(lines))[0]


def test_deep_nesting_is_rejected() -> None:
    assert "nest" in problems("a: " + "[" * 5000 + "]" * 5000)[0]


def test_values_keep_types_and_dates_stay_text() -> None:
    doc, found = parse_yaml('d: 2026-01-01\nf: 1.5\ni: 3\nb: false\ns: "yes"\nn: ~\n', "f.yaml")
    assert not found and doc is not None
    assert doc.data == {"d": "2026-01-01", "f": 1.5, "i": 3, "b": False, "s": "yes", "n": None}
    assert doc.where(("i",)) == (3, 1)
