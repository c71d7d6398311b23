"""The first five minutes at the command line (issue 12): --version, suggestions instead of silent
abbreviations, `tuneplan list`, shell completion, and the line that echoes what was understood."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]


def test_version_prints_the_installed_version(cli: Cli) -> None:
    with pytest.raises(SystemExit) as info:
        cli("--version")
    assert info.value.code == 0


def test_version_from_the_console_script() -> None:
    exe = Path(sys.executable).parent / "tuneplan"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"tuneplan {version('tuneplan')}"


@pytest.mark.parametrize("argv, hint", [
    (["recomend", "--model", "llama-3.1-8b"], "unknown command 'recomend' (did you mean 'recommend'?)"),
    (["recommend", "--modle-params-b", "7"], "--modle-params-b (did you mean '--model-params-b'?)"),
    (["recommend", "--model", "llama-3.1-8b", "--budget", "100"], "--budget (did you mean '--budget-usd'?)"),
    (["recommend", "--model", "llama-3.1-8b", "--format", "jsn"], "invalid choice: 'jsn' (did you mean 'json'?)"),
    (["list", "modls"], "invalid choice: 'modls' (did you mean 'models'?)"),
])
def test_typos_get_a_suggestion_and_exit_2_never_a_silent_guess(cli: Cli, argv: list[str], hint: str) -> None:
    """`--budget 100` used to be taken as `--budget-usd 100` (argparse abbreviation): now it is refused."""
    code, out, err = cli(*argv)
    assert code == 2 and out == "" and hint in err, err


@pytest.mark.parametrize("kind, some_id, key", [
    ("models", "llama-3.1-8b", "params_b"), ("gpus", "h100-80gb", "vram_gib"),
    ("platforms", "runpod", "from_usd_per_gpu_hour"), ("tools", "axolotl", "multi_gpu"),
])
def test_list_shows_each_catalog_with_units_and_dated_prices(cli: Cli, kind: str, some_id: str, key: str) -> None:
    code, out, _ = cli("list", kind)
    assert code == 0 and some_id in out and out.rstrip().endswith(f"{kind})")
    code, out, _ = cli("list", kind, "--format", "json")
    data = json.loads(out)
    row = next(r for r in data["rows"] if r["id"] == some_id)
    assert code == 0 and key in row and key in data["columns"]
    if kind in ("gpus", "platforms") and row["from_usd_per_gpu_hour"] is not None:
        assert row["price_at"].count(",") == 2 and row["price_at"][-10:-6] == "2026"   # where, tier, date


def test_list_gpu_prices_are_the_cheapest_paid_price_in_the_catalogs(cli: Cli) -> None:
    from engine.language.loader import load_rules
    from engine.tools.listing import _prices

    paid = [p for p in _prices(load_rules()) if p["gpu"] == "h100-80gb" and p["usd_per_gpu_hour"] > 0]
    _, out, _ = cli("list", "gpus", "--format", "json")
    row = next(r for r in json.loads(out)["rows"] if r["id"] == "h100-80gb")
    assert row["from_usd_per_gpu_hour"] == min(p["usd_per_gpu_hour"] for p in paid)


def test_completion_scripts_cover_every_command_and_the_fact_flags(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("completion", "bash")
    assert code == 0 and "--model-params-b" in out and "serve" in out and "list" in out
    if shutil.which("bash"):
        script = tmp_path / "tuneplan.bash"
        script.write_text(out)
        subprocess.run(["bash", "-n", str(script)], check=True)
    code, out, _ = cli("completion", "zsh")
    assert code == 0 and "#compdef tuneplan" in out


def test_text_output_starts_by_echoing_the_given_constraints(cli: Cli) -> None:
    code, out, _ = cli("recommend", "--model", "llama-3.1-8b", "--budget-usd", "20")
    assert code == 0 and out.splitlines()[1] == "given: budget_usd=20, model=llama-3.1-8b"
    code, out, _ = cli("recommend", "--model-params-b", "7", "--method", "qlora")
    assert out.splitlines()[1] == "given: method=qlora, model_params_b=7"
