"""A first task says what it waits for, and an exact hit waits for no model at all."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from semcache_magic.cache import Embedder, SnippetCache
from semcache_magic.config import SemCache
from semcache_magic.demo import ModelServer
from semcache_magic.outcome import Event, EventKind, TaskRequest
from semcache_magic.pipeline import Pipeline
from semcache_magic.view import TextView

pytestmark = pytest.mark.slow


def _seeded(tmp_path: Path, real_embedder: Embedder) -> SemCache:
    config = SemCache(store=str(tmp_path / "store"))
    seed = SnippetCache(config, embedder=real_embedder)
    seed.save("Print the factorial of 6", "import math\nprint(math.factorial(6))\n")
    seed.close()
    return config


def _fresh_pipeline(config: SemCache, kernel_runner: Any) -> tuple[Pipeline, Embedder]:
    """What a new kernel has: a store not opened yet, a model not loaded, no SDK client."""
    embedder = Embedder(service_idle=15.0)
    return Pipeline(config, cache=SnippetCache(config, embedder=embedder),
                    runner=kernel_runner), embedder


def _waits(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.data["stage"], e.data["detail"]) for e in events if e.kind == EventKind.WAIT]


def test_a_first_semantic_task_says_what_it_waits_for(
    tmp_path: Path, real_embedder: Embedder, model_env: ModelServer, kernel_runner: Any
) -> None:
    pipeline, embedder = _fresh_pipeline(_seeded(tmp_path, real_embedder), kernel_runner)
    events: list[Event] = []
    outcome = pipeline.run(TaskRequest("Show me the factorial of 7 computed with math"),
                           events.append)
    assert outcome.ok and outcome.tier == "semantic", outcome.error
    waits = [w for w in _waits(events) if w[0] != "running"]  # a kernel may be starting
    assert waits == [("searching", "opening the snippet store…"),
                     ("searching", "loading the embedding model…"),
                     ("adapting", "loading the Claude SDK…")]
    assert embedder.loaded
    # Each wait comes after its stage started and before it finished.
    kinds = [(e.kind, e.data.get("stage")) for e in events]
    assert kinds.index((EventKind.WAIT, "searching")) > kinds.index(
        (EventKind.STAGE, "searching"))

    events.clear()
    again = pipeline.run(TaskRequest("Show me the factorial of 7 computed with math"),
                         events.append)
    assert again.ok and again.tier == "exact"
    assert [w for w in _waits(events) if w[0] != "running"] == []
    pipeline.close()


def test_an_exact_hit_loads_neither_the_embedding_model_nor_the_sdk(
    tmp_path: Path, real_embedder: Embedder, model_env: ModelServer, kernel_runner: Any
) -> None:
    pipeline, embedder = _fresh_pipeline(_seeded(tmp_path, real_embedder), kernel_runner)
    events: list[Event] = []
    outcome = pipeline.run(TaskRequest("print the factorial of 6."), events.append)
    assert outcome.ok and outcome.tier == "exact"
    assert outcome.run is not None and outcome.run.stdout.strip() == "720"
    assert not embedder.loaded and embedder.status == "embedding model not loaded"
    assert not any(adapter.ready for adapter in pipeline._adapters.values())
    assert ("searching", "loading the embedding model…") not in _waits(events)
    pipeline.close()


def test_the_text_view_prints_a_wait() -> None:
    out = io.StringIO()
    TextView(out)(Event(EventKind.WAIT, {"stage": "searching",
                                         "detail": "loading the embedding model…"}))
    assert out.getvalue() == "semcache: searching: loading the embedding model…\n"


def test_warming_opens_the_store_and_the_model_and_leaves_the_sdk_for_after_a_task(
    tmp_path: Path, real_embedder: Embedder, model_env: ModelServer, kernel_runner: Any
) -> None:
    import threading
    import time

    pipeline, embedder = _fresh_pipeline(_seeded(tmp_path, real_embedder), kernel_runner)
    first_task_done = threading.Event()
    reached: list[bool] = []

    def between() -> None:  # where the magic waits while a first task runs
        reached.append(pipeline.cache.store.connected)
        first_task_done.wait(timeout=60)

    warming = threading.Thread(target=pipeline.warm, kwargs={"between": between})
    warming.start()
    deadline = time.monotonic() + 60
    while not reached and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reached == [True]
    assert not pipeline.adapter().ready  # the SDK waits for the first task
    first_task_done.set()
    warming.join(timeout=60)
    assert pipeline.adapter().ready
    embedder.warm().join(timeout=60)
    assert embedder.loaded
    pipeline.close()
