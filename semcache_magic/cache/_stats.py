"""Statistics over the run log: what the cache saved, and how fast it was.

``run_stats(runs)`` is pure (a list of run-log rows in, a dict out), so the CLI,
the magic and the server report the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["format_stats", "percentile", "run_stats"]

_TIERS = ("exact", "slot", "semantic", "miss", "refresh")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_stats(runs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-tier hit rates, model calls avoided, tokens and dollars, latency percentiles."""
    rows = [r for r in runs if r.get("outcome") != "dry_run"]
    total = len(rows)
    per_tier: dict[str, dict[str, Any]] = {}
    for tier in _TIERS:
        chosen = [r for r in rows if r.get("tier") == tier]
        if not chosen:
            continue
        latencies = [float(r.get("total_s") or 0.0) for r in chosen]
        per_tier[tier] = {
            "runs": len(chosen),
            "share": len(chosen) / total if total else 0.0,
            "ok": sum(1 for r in chosen if r.get("outcome") == "ok"),
            "p50_s": percentile(latencies, 50),
            "p90_s": percentile(latencies, 90),
            "p99_s": percentile(latencies, 99),
        }
    served = [r for r in rows if r.get("tier") in ("exact", "slot")]
    latencies = [float(r.get("total_s") or 0.0) for r in rows]
    return {
        "runs": total,
        "ok": sum(1 for r in rows if r.get("outcome") == "ok"),
        "tiers": per_tier,
        "hit_rate": len(served) / total if total else 0.0,
        "model_calls": int(sum(int(r.get("model_calls") or 0) for r in rows)),
        "model_calls_avoided": len(served),
        "input_tokens": int(sum(int(r.get("input_tokens") or 0) for r in rows)),
        "output_tokens": int(sum(int(r.get("output_tokens") or 0) for r in rows)),
        "cache_read_tokens": int(sum(int(r.get("cache_read_tokens") or 0) for r in rows)),
        "cost_usd": round(sum(float(r.get("cost_usd") or 0.0) for r in rows), 6),
        "saved_usd": round(sum(float(r.get("saved_cost_usd") or 0.0) for r in rows), 6),
        "repairs": int(sum(int(r.get("repairs") or 0) for r in rows)),
        "p50_s": percentile(latencies, 50),
        "p90_s": percentile(latencies, 90),
        "p99_s": percentile(latencies, 99),
    }


def format_stats(store: Mapping[str, Any], runs: Mapping[str, Any]) -> str:
    """The text report of ``semcache stats`` and ``%semcache stats``."""
    lines = [
        f"store: {store['store']}",
        f"snippets: {store['snippets']}  uses: {store['uses']}  ok: {store['successes']}  "
        f"failed: {store['failures']}",
    ]
    for namespace, counts in sorted(store["namespaces"].items()):
        rest = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "snippets")
        lines.append(f"  {namespace}: {counts['snippets']} ({rest})")
    if not runs["runs"]:
        lines.append("runs: none yet")
        return "\n".join(lines)
    lines.append(
        f"runs: {runs['runs']} (ok {runs['ok']})  served without the model: "
        f"{runs['hit_rate']:.0%}  model calls: {runs['model_calls']} made, "
        f"{runs['model_calls_avoided']} avoided  repairs: {runs['repairs']}")
    lines.append(
        f"tokens: {runs['input_tokens']:,} in, {runs['output_tokens']:,} out, "
        f"{runs['cache_read_tokens']:,} cache reads  cost: ${runs['cost_usd']:.4f}  "
        f"saved (est.): ${runs['saved_usd']:.4f}")
    lines.append(f"latency: p50 {runs['p50_s'] * 1000:.0f} ms  p90 {runs['p90_s'] * 1000:.0f} ms"
                 f"  p99 {runs['p99_s'] * 1000:.0f} ms")
    for tier, row in runs["tiers"].items():
        lines.append(f"  {tier:<9} {row['runs']:>5} runs  {row['share']:>4.0%}  ok {row['ok']:>4}"
                     f"  p50 {row['p50_s'] * 1000:.0f} ms  p90 {row['p90_s'] * 1000:.0f} ms")
    return "\n".join(lines)
