"""What the engine reads of a catalog entry is typed and ranged at load time (issue 16): a wrong value in a
catalog file is a located problem of `tuneplan check` and `recommend` (exit 1), never an estimator's crash
(exit 3) in the middle of a recommendation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import RuleFileError, load_rules

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    # (catalog file, the line as shipped (a regex), the line written instead, the message)
    ("models.yaml", r"hidden_size: 4096", 'hidden_size: "4096"',
     "models entry 'llama-3.1-8b': hidden_size must be an integer, got '4096'"),
    ("gpus.yaml", r"vram_gib: [0-9.]+", "vram_gib: lots", "gpus entry 't4': vram_gib must be a number, got 'lots'"),
    ("gpus.yaml", r"bf16: false", "bf16: no-way", "gpus entry 't4': bf16 must be true or false, got 'no-way'"),
    ("platforms.yaml", r"usd_per_gpu_hour: [0-9.]+", "usd_per_gpu_hour: -1",
     "platforms entry 'colab': prices.0.usd_per_gpu_hour: -1 is less than the minimum of 0"),
    ("models.yaml", r"layers: 32", "layers: 0", "models entry 'llama-3.1-8b': layers: 0 is less than the minimum of 1"),
    ("memory.yaml", r"value: [0-9.]+", "value: .inf", "'.inf' is not a finite number"),
    ("sharding.yaml", r"scaling_efficiency: [0-9.]+", "scaling_efficiency: 1.5", "is greater than the maximum of 1"),
    ("models.yaml", r"\n    vocab_size: \d+", "", "models entry 'llama-3.2-1b': 'vocab_size' is a required property"),
]


def _broken(tmp_path: Path, name: str, shipped: str, written: str) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "facts", tmp_path / "facts")
    path = tmp_path / "rules" / "catalog" / name
    text = path.read_text(encoding="utf-8")
    changed = re.sub(shipped, written, text, count=1)
    assert changed != text, f"{shipped!r} not found in {name}"
    path.write_text(changed, encoding="utf-8")
    return tmp_path / "rules"


@pytest.mark.parametrize(("name", "shipped", "written", "message"), CASES, ids=[c[2] or c[1] for c in CASES])
def test_a_wrong_catalog_value_is_a_located_problem(tmp_path: Path, name: str, shipped: str, written: str,
                                                    message: str) -> None:
    rules = _broken(tmp_path, name, shipped, written)
    with pytest.raises(RuleFileError) as info:
        load_rules(rules)
    problems = [p for p in info.value.problems if p.file.endswith(name)]
    assert len(problems) == 1 and problems[0].line > 0 and message in problems[0].message, info.value.problems


def test_check_and_recommend_exit_1_with_the_location(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "models.yaml", r"hidden_size: 4096", 'hidden_size: "4096"')
    env = {**os.environ, "TUNEPLAN_CACHE_DIR": "off"}
    for argv in (["check", "--rules", str(rules)],
                 ["recommend", "--rules", str(rules), "--model", "llama-3.1-8b", "--format", "json"]):
        done = subprocess.run([sys.executable, "-m", "engine.cli.main", *argv], capture_output=True, text=True,
                              check=False, timeout=300, env=env)
        assert done.returncode == 1, (argv, done.stdout, done.stderr)
        out = done.stdout + done.stderr
        assert re.search(r"models\.yaml:\d+:\d+: models entry 'llama-3\.1-8b': hidden_size must be an integer, "
                         r"got '4096'", out), out
        assert "Traceback" not in out and "internal error" not in out
