"""Tiered lookup with the real embedding model and real LanceDB."""

from __future__ import annotations

import subprocess
import sys

import pytest

from semcache_magic.cache import NEUTRAL_QUALITY, SnippetCache, blend_score, quality

pytestmark = pytest.mark.slow


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    return done.stdout.strip() if done.returncode == 0 else f"<error {done.stderr[-200:]}>"


def test_devset_every_served_answer_is_right(real_cache: SnippetCache, devset: list[dict]) -> None:
    real_cache.save_many([{"task": f["seed_task"], "code": f["seed_code"]} for f in devset])
    served = {"exact": 0, "slot": 0}
    wrong: list[str] = []
    paraphrases = hits = proposals = 0
    for family in devset:
        for query in family["queries"]:
            match = real_cache.lookup(query["task"])
            if query["kind"] == "exact":
                assert match.tier == "exact", query["task"]
            if match.served:
                served[match.tier] += 1
                # Without a model in the loop, only a binding at the top of the seed's
                # code (a declared parameter) can place a new value.
                assert match.tier == "exact" or match.evidence == "declared"
                if run_python(match.code or "") != query["expect"]:
                    wrong.append(query["task"])
            elif match.proposal is not None:
                # No declared parameters and no word from the model yet: a proposal only.
                assert query["kind"] == "param" and match.tier == "semantic"
                proposals += 1
                # What the model's confirmation records (the pipeline's job) turns the
                # same substitution into a slot serving.
                assert match.snippet is not None
                real_cache.record_evidence(match.snippet.id, confirmed=match.pending)
                again = real_cache.lookup(query["task"])
                assert again.tier == "slot" and again.evidence == "confirmed"
                if run_python(again.code or "") != query["expect"]:
                    wrong.append(query["task"])
            if query["kind"] == "paraphrase":
                paraphrases += 1
                hits += bool(match.snippet and match.snippet.task == family["seed_task"])
    assert wrong == []
    assert served["slot"] + proposals >= 8
    assert hits / paraphrases >= 0.9


def test_similar_but_different_task_never_gets_the_old_answer(real_cache: SnippetCache) -> None:
    real_cache.save("Use Python to add 99 and 1", "# parameters\na, b = 99, 1\nprint(a + b)")
    same_template = real_cache.lookup("Use Python to add 5 and 3")
    assert same_template.tier == "slot" and same_template.evidence == "declared"
    assert run_python(same_template.code or "") == "8"
    real_cache.save("Use Python to multiply 99 and 7", "print(99 * 7)")  # nothing declared
    undeclared = real_cache.lookup("Use Python to multiply 5 and 3")
    assert undeclared.tier == "semantic" and undeclared.code is None
    assert undeclared.proposal == "print(5 * 3)\n" and undeclared.evidence == "proposal"
    reworded = real_cache.lookup("Use Python to compute the sum of 5 and 3")
    assert reworded.tier in {"semantic", "miss"}
    assert reworded.code is None  # a reference for the model, never served as is


def test_a_brand_new_snippet_can_pass_the_default_threshold(real_cache: SnippetCache) -> None:
    saved = real_cache.save("Print the even numbers below 20 as a list",
                            "print([n for n in range(20) if n % 2 == 0])")
    assert quality(saved.snippet) == pytest.approx(NEUTRAL_QUALITY)
    match = real_cache.lookup("List every even integer smaller than 20 and print the list")
    assert match.tier == "semantic"
    assert match.score >= real_cache.config.threshold
    assert set(match.score_parts) == {"similarity", "lexical", "quality"}


def test_quality_moves_ranking_but_similarity_dominates() -> None:
    top, _ = blend_score(0.8, 0.5, 1.0)
    new, _ = blend_score(0.8, 0.5, NEUTRAL_QUALITY)
    bad, _ = blend_score(0.8, 0.5, 0.0)
    assert bad < new < top
    assert top - new <= 0.041 and new - bad <= 0.061
    assert blend_score(0.9, 0.5, 0.0)[0] > blend_score(0.7, 0.5, 1.0)[0]


def test_unrelated_task_is_a_miss(real_cache: SnippetCache) -> None:
    real_cache.save("Print the factorial of 6", "import math\nprint(math.factorial(6))")
    match = real_cache.lookup("Download the weather forecast for Paris and plot it")
    assert match.tier == "miss"
    assert match.to_json()["snippet_id"] is None


def test_exact_and_slot_tiers_do_not_load_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A fresh process serving exact/slot hits never imports torch."""
    store = tmp_path / "store"
    script = f"""
import sys
from semcache_magic.cache import SnippetCache
from semcache_magic.config import SemCache
cache = SnippetCache(SemCache(store={str(store)!r}))
cache.save('Print the factorial of 6',
           'import math\\n# parameters\\nn = 6\\nprint(math.factorial(n))')
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    probe = f"""
import sys
from semcache_magic.cache import SnippetCache
from semcache_magic.config import SemCache
cache = SnippetCache(SemCache(store={str(store)!r}))
tiers = [cache.lookup(t).tier for t in ('print the factorial of 6', 'Print the factorial of 9')]
print(tiers, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "['exact', 'slot'] False False"
