"""The checked rule base cached on disk (engine/language/rulecache.py, issue 12): a cold start reads it instead of
re-checking unchanged YAML; any change to the YAML or to the code that reads it is a miss; a broken or
missing cache is only a miss."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.language import loader, rulecache
from engine.language.loader import load_rules


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUNEPLAN_CACHE_DIR", str(folder))
    loader._load_cached.cache_clear()
    return folder


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = loader._Loader.load
    monkeypatch.setattr(loader._Loader, "load", lambda self: calls.append(1) or real(self))
    return calls


def test_a_second_cold_load_reads_the_cache_and_gives_the_same_rule_base(rules_copy: Path, cache: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _count_checks(monkeypatch)
    first = load_rules(rules_copy)
    assert checks == [1] and len(list(cache.glob("rules-*.pickle"))) == 1
    loader._load_cached.cache_clear()          # as a new process would start
    second = load_rules(rules_copy)
    assert checks == [1]                        # not checked again
    assert second is not first and second.digest == first.digest   # a RuleBase compares by identity
    assert second.rules() == first.rules() and second.facts == first.facts and second.root == first.root
    assert second.catalogs["gpus"].by_id("t4").attrs == first.catalogs["gpus"].by_id("t4").attrs


def test_an_edited_rule_file_is_a_miss(rules_copy: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _count_checks(monkeypatch)
    load_rules(rules_copy)
    tool = rules_copy / "sets" / "tool.yaml"
    tool.write_text(tool.read_text().replace("score: {tool: 3}", "score: {tool: 4}", 1))
    loader._load_cached.cache_clear()
    edited = load_rules(rules_copy)
    assert checks == [1, 1] and len(list(cache.glob("rules-*.pickle"))) == 2
    assert any(a.points == 4 for r in edited.rules() for a in r.actions if getattr(a, "points", None) is not None)


def test_the_code_that_reads_the_rules_is_part_of_the_key(rules_copy: Path, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _count_checks(monkeypatch)
    load_rules(rules_copy)
    monkeypatch.setattr(rulecache, "code_digest", lambda: "another version of the loader")
    loader._load_cached.cache_clear()
    load_rules(rules_copy)
    assert checks == [1, 1]


def test_a_corrupt_cache_entry_is_a_miss_not_an_error(rules_copy: Path, cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_rules(rules_copy)
    (entry,) = cache.glob("rules-*.pickle")
    entry.write_bytes(entry.read_bytes()[:100])
    loader._load_cached.cache_clear()
    again = load_rules(rules_copy)
    assert again.digest == first.digest and again.rules() == first.rules()


def test_the_cache_can_be_turned_off_and_an_unwritable_one_is_ignored(rules_copy: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEPLAN_CACHE_DIR", "off")
    loader._load_cached.cache_clear()
    assert rulecache.cache_dir() is None and load_rules(rules_copy).rules()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TUNEPLAN_CACHE_DIR", str(blocker / "cache"))
    loader._load_cached.cache_clear()
    assert load_rules(rules_copy).rules()


def test_a_rule_base_with_problems_is_never_cached(rules_copy: Path, cache: Path) -> None:
    (rules_copy / "sets" / "broken.yaml").write_text("ruleset: [\n")
    with pytest.raises(Exception):  # noqa: B017 - RuleFileError; only the absence of a cache entry matters
        load_rules(rules_copy)
    assert not list(cache.glob("rules-*.pickle"))


def test_at_most_keep_entries_are_kept(rules_copy: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulecache, "KEEP", 2)
    for i in range(4):
        (rules_copy / "sets" / "note.yaml").write_text(f"# {i}\n" + (rules_copy / "sets" / "tool.yaml").read_text()
                                                       .replace("ruleset: tool", f"ruleset: tool-copy-{i}")
                                                       .replace("id: tool-", f"id: c{i}-tool-"))
        loader._load_cached.cache_clear()
        load_rules(rules_copy)
    assert len(list(cache.glob("rules-*.pickle"))) == 2


def test_a_cold_cli_start_with_a_warm_cache_skips_the_yaml_checks(cache: Path) -> None:
    """In a new process: jsonschema (the shape check) is not even imported when the cache holds the rules."""
    probe = ("import sys; from engine.cli.main import main; main(['recommend', '--model', 'llama-3.1-8b', "
             "'--format', 'json']); print('jsonschema' in sys.modules, file=sys.stderr)")
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert first.stderr.strip().endswith("True") and second.stderr.strip().endswith("False")
    assert first.stdout == second.stdout


def test_a_folder_others_may_write_into_is_not_used(rules_copy: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("TUNEPLAN_CACHE_DIR", str(shared))
    loader._load_cached.cache_clear()
    assert load_rules(rules_copy).rules() and not list(shared.iterdir())
