"""Reports computed from the rule base and the engine: the seed's cost exercise as a table."""

from __future__ import annotations

from typing import Any

from engine.pipeline import REFERENCE_DATE, Engine

EXERCISE_PLATFORMS = ("lambda", "runpod", "colab")


def seed_exercise_table(engine: Engine) -> str:
    """Seed 17.3 exercise 2: QLoRA on a 7B model, 2 hours on an A100 at Lambda, RunPod and Colab Pro —
    the seed's figures beside tuneplan's dated prices and totals (markdown)."""
    rows = ["| Platform | GPU | seed: USD/h (2024) | seed: 2 h | tuneplan: USD/GPU-hour | tier | as of | "
            "tuneplan: 2 h total | memory per GPU |", "|---|---|---:|---:|---:|---|---|---:|---:|"]
    for platform_id in EXERCISE_PLATFORMS:
        entry = engine.rulebase.catalogs["platforms"].by_id(platform_id)
        assert entry is not None
        seed: dict[str, Any] = next(iter(entry.get("seed_prices", []) or []), {})
        seed_rate = seed.get("usd_per_gpu_hour")
        seed_text = f"{seed_rate:.2f}" if seed_rate else f"{seed.get('usd_per_month', '?')} USD/month"
        seed_total = f"{2 * seed_rate:.2f}" if seed_rate else "flat (limited hours)"
        gpu = str(seed.get("gpu", "a100-80gb"))
        rec = engine.recommend({"model_params_b": 7, "method": "qlora", "train_hours": 2, "platform": platform_id,
                                "gpu": gpu, "gpu_count": 1}, today=REFERENCE_DATE)
        d = rec.to_dict()
        price = d["platform"].get("price_per_gpu_hour_usd") if rec.choice("platform") == platform_id else None
        if price is None:
            ours = ("no dated hourly price", "", "", "—")
        else:
            ours = (f"{price:.2f}", str(d["platform"]["price_tier"]), str(d["platform"]["price_as_of"]),
                    f"{d['cost']['total_usd']:.2f}")
        memory = f"{d['memory']['per_gpu_gib']:.1f} GiB" if "memory" in d else "— (no plan: no price record)"
        rows.append(f"| {entry.get('name')} | {gpu} | {seed_text} | {seed_total} | {ours[0]} | {ours[1]} | "
                    f"{ours[2]} | {ours[3]} | {memory} |")
    return "\n".join(rows) + "\n"
