"""What %%cached_task costs and saves, in one run.

1. ``%load_ext semcache_magic`` wall time in fresh processes (median of 7).
2. An exact-hit ``%%cached_task`` against running the same code in a plain cell
   (median of 20 each, the kernel pool refilled between cells as when a person
   types: that is the case the pool is for).
3. A 5-loop replay of a 20-task workload: loop 1 seeds (every task is new); loops
   2-5 mix repeats, parameter changes and paraphrases (a fixed pseudo-random mix
   per task: 40% repeat, 40% new values, 20% reworded). Prints, per loop, the
   share of tasks served without a model call, and checks that every served
   program printed what it should.

The model is the local Messages-API server: it answers every task with its right
program below, written as the system prompt asks Claude to write (the task's values
bound in a ``# parameters`` block), so a wrong output served without the model can
only be the cache's fault. (tests/bench/bench_replay_oracle.py measures the other
case: programs that declare nothing.)

    python tests/bench/bench_magic.py
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("LANCEDB_LOG", "error")

# (task with {v}, the right program with {v}, a paraphrase with {v}, values)
P = "# parameters\n"
WORKLOAD: list[tuple[str, str, str, list[Any], Any]] = [
    ("Print the factorial of {v}", P + "n = {v}\n\nimport math\nprint(math.factorial(n))\n",
     "Compute {v}! and show it", [5, 7, 9, 11, 12]),
    ("Print the first {v} prime numbers as a list",
     P + "count = {v}\n\nprimes = []\nn = 2\nwhile len(primes) < count:\n"
     "    if all(n % p for p in primes):\n        primes.append(n)\n    n += 1\nprint(primes)\n",
     "List the first {v} primes", [5, 8, 10, 12, 15]),
    ("Reverse the string '{v}' and print it", P + "text = '{v}'\n\nprint(text[::-1])\n",
     "Print the string '{v}' backwards", ["notebook", "lancedb", "kernel", "magic", "cache"]),
    ("Print the sum of the integers from 1 to {v}",
     P + "first, last = 1, {v}\n\nprint(sum(range(first, last + 1)))\n",
     "Add up every whole number from 1 through {v}", [10, 50, 100, 250, 1000]),
    ("Print {v} in binary", P + "number = {v}\n\nprint(bin(number))\n",
     "Show the binary form of {v}", [5, 42, 255, 1024, 77]),
    ("Print the square root of {v} rounded to 3 decimals",
     P + "number, places = {v}, 3\n\nimport math\nprint(round(math.sqrt(number), places))\n",
     "What is the square root of {v}? Round to 3 decimals and print it",
     [2, 10, 50, 99, 123]),
    ("Count the vowels in '{v}' and print the count",
     P + "text = '{v}'\n\nprint(sum(ch in 'aeiou' for ch in text))\n",
     "How many vowels does '{v}' have? Print it",
     ["semantic cache", "jupyter notebook", "data science", "vector search", "claude code"]),
    ("Print the number of days in the year {v}",
     P + "year = {v}\n\nimport calendar\nprint(366 if calendar.isleap(year) else 365)\n",
     "How many days did the year {v} have? Print it", [2023, 2024, 1900, 2000, 2100]),
    ("Print the even numbers below {v} as a list",
     P + "limit = {v}\n\nprint([n for n in range(0, limit) if n % 2 == 0])\n",
     "List every even integer smaller than {v}", [10, 15, 21, 7, 30]),
    ("Convert {v} degrees Celsius to Fahrenheit and print it",
     P + "celsius = {v}\n\nprint(celsius * 9 / 5 + 32)\n",
     "What is {v} C in Fahrenheit? Print it", [0, 37, 100, 21, 15]),
    ("Print the {v}th Fibonacci number",
     P + "position = {v}\n\na, b = 0, 1\nfor _ in range(position):\n    a, b = b, a + b\n"
     "print(a)\n",
     "Compute Fibonacci number {v} and print it", [10, 20, 30, 15, 25]),
    ("Print the word '{v}' in upper case", P + "word = '{v}'\n\nprint(word.upper())\n",
     "Show '{v}' in capital letters", ["hello", "pandas", "arrow", "notebook", "python"]),
    ("Print the length of the string '{v}'", P + "text = '{v}'\n\nprint(len(text))\n",
     "How many characters are in '{v}'? Print it",
     ["semcache", "lancedb table", "ipykernel", "anthropic", "vector"]),
    ("Print {v} squared", P + "value = {v}\n\nprint(value ** 2)\n", "Compute the square of {v}",
     [3, 12, 25, 99, 7]),
    ("Print the multiplication table of {v} up to 10",
     P + "number, upto = {v}, 10\n\nfor i in range(1, upto + 1):\n"
     "    print(f'{{i}} x {{number}} = {{i * number}}')\n",
     "Show the times table for {v}, from 1 to 10", [3, 7, 9, 12, 6]),
    ("Print the digits of {v} summed",
     P + "number = {v}\n\nprint(sum(int(d) for d in str(number)))\n",
     "What is the digit sum of {v}? Print it", [1234, 999, 2024, 31337, 505]),
    ("Print whether {v} is a prime number",
     P + "n = {v}\n\nprint(n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1)))\n",
     "Is {v} prime? Print True or False", [7, 12, 97, 100, 13]),
    ("Print {v} in hexadecimal", P + "number = {v}\n\nprint(hex(number))\n",
     "Show {v} as a hex number", [255, 4096, 10, 48879, 99]),
    ("Print the date {v} in ISO week format",
     P + "day = '{v}'\n\nfrom datetime import date\nprint(date.fromisoformat(day).isocalendar())\n",
     "Which ISO week is {v} in? Print the ISO calendar tuple",
     ["2024-07-04", "2025-01-01", "2023-12-31", "2026-11-21", "2024-02-29"]),
    ("Print the average of the numbers 4, 8 and {v}",
     P + "a, b, c = 4, 8, {v}\n\nprint((a + b + c) / 3)\n",
     "Compute the mean of 4, 8 and {v} and print it", [15, 30, 3, 60, 12]),
]


def correct_program(body: dict[str, Any]) -> Any:
    """The fake model answers every workload task with the right program, so a wrong
    output served without the model can only be the cache's fault."""
    from semcache_magic.demo import RecordedRequest, Reply

    task = RecordedRequest("POST", "/v1/messages", {}, body).section("task") or ""
    for pattern_task, code, paraphrase, _values in WORKLOAD:
        for pattern in (pattern_task, paraphrase):
            regex = re.escape(pattern).replace(re.escape("{v}"), "(?P<v>.+?)")
            found = re.fullmatch(regex, task.strip().rstrip(".?!"), flags=re.IGNORECASE)
            if found:
                return Reply(text=f"```python\n{code.format(v=found.group('v'))}```")
    return Reply(text="```python\nraise SystemExit('not a workload task')\n```")


def expected_output(code: str, value: Any) -> str:
    """What the right program prints for ``value``."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(code.format(v=value), {})
    return buffer.getvalue().strip()


def load_ext_times(runs: int = 7) -> list[float]:
    code = ("import time\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "ip = InteractiveShell.instance()\nt = time.perf_counter()\n"
            "ip.run_line_magic('load_ext', 'semcache_magic')\n"
            "print(time.perf_counter() - t)\n")
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def main() -> int:
    from IPython.core.interactiveshell import InteractiveShell

    from semcache_magic.demo import ModelServer

    load = load_ext_times()
    print(f"%load_ext semcache_magic: median {statistics.median(load) * 1000:.1f} ms "
          f"(min {min(load) * 1000:.1f}, max {max(load) * 1000:.1f}; target < 300 ms)")

    server = ModelServer(handler=correct_program).start()
    store = tempfile.mkdtemp(prefix="semcache-bench-")
    os.environ.update(ANTHROPIC_API_KEY="sk-ant-bench", ANTHROPIC_BASE_URL=server.url,
                      SEMCACHE_HOME=store, SEMCACHE_UI="text")
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "semcache_magic")
    magics = next(m for m in ip.magics_manager.registry.values()
                  if type(m).__name__ == "SemcacheMagics")
    pipeline = magics.pipeline
    pipeline.cache.embedder.embed_one("warm up")
    runner = pipeline.runner()
    runner.warm()

    def settle() -> None:  # a person takes a moment between cells: the pool refills
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = runner.pool_state()
            if state["ready"] >= 1 and state["live"] == state["ready"]:
                return
            time.sleep(0.02)

    # -- 2. exact hit vs plain cell --------------------------------------------------------
    code = "print(sum(range(10)))"
    pipeline.cache.save("Print the sum of the first ten integers from zero", code + "\n")
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        ip.run_cell("%%cached_task --quiet\nPrint the sum of the first ten integers from zero")
    plain, cached = [], []
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for _ in range(20):
            settle()
            started = time.perf_counter()
            ip.run_cell(code, silent=True)
            plain.append(time.perf_counter() - started)
            settle()
            started = time.perf_counter()
            ip.run_cell("%%cached_task --quiet\nPrint the sum of the first ten integers from zero",
                        silent=True)
            cached.append(time.perf_counter() - started)
    delta = statistics.median(cached) - statistics.median(plain)
    print(f"exact-hit %%cached_task: median {statistics.median(cached) * 1000:.1f} ms vs plain "
          f"cell {statistics.median(plain) * 1000:.2f} ms: +{delta * 1000:.1f} ms "
          f"(target < +100 ms)")

    # -- 3. the 5-loop replay -------------------------------------------------------------
    from semcache_magic.outcome import TaskRequest

    rng = random.Random(2026)
    asked: list[list[str]] = [[] for _ in WORKLOAD]
    wrong: list[str] = []
    print("loop  tasks  no-model  share   exact  slot  semantic  miss   wall")
    for loop in range(1, 6):
        counts = {"exact": 0, "slot": 0, "semantic": 0, "miss": 0}
        served = 0
        started = time.perf_counter()
        for index, (task, code, paraphrase, values) in enumerate(WORKLOAD):
            if loop == 1:
                text, value = task.format(v=values[0]), values[0]
            else:
                roll = rng.random()
                value = rng.choice(values)
                if roll < 0.4 and asked[index]:
                    text = rng.choice(asked[index])  # a repeat of something asked before
                    value = None
                elif roll < 0.8:
                    text = task.format(v=value)
                else:
                    text = paraphrase.format(v=value)
            asked[index].append(text)
            settle()
            outcome = pipeline.run(TaskRequest(text, face="bench"))
            counts[outcome.tier] += 1
            if outcome.model_calls == 0 and outcome.ok:
                served += 1
                right = expected_output(code, value) if value is not None else None
                if right is not None and outcome.run and outcome.run.stdout.strip() != right:
                    wrong.append(f"{text!r}: {outcome.run.stdout.strip()!r} != {right!r}")
        share = served / len(WORKLOAD)
        print(f"{loop:>4}  {len(WORKLOAD):>5}  {served:>8}  {share:>5.0%}   {counts['exact']:>5}"
              f"  {counts['slot']:>4}  {counts['semantic']:>8}  {counts['miss']:>4}"
              f"  {time.perf_counter() - started:5.1f} s")
    print(f"served programs that printed the wrong answer: {len(wrong)}")
    for line in wrong:
        print("  ", line)
    print(f"model server requests: {server.calls}")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
