"""``python -m semcache_magic.demo.model_server``: the local Messages-API server, from a shell.

A stand-in for Claude in demos and tests (see :class:`~semcache_magic.demo.ModelServer`)::

    python -m semcache_magic.demo.model_server --port 8765 --answers answers.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from collections.abc import Sequence

from ._server import ModelServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m semcache_magic.demo.model_server``: serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m semcache_magic.demo.model_server",
        description="A local Messages-API server answering with scripted or substituted code.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--answers", metavar="FILE.json",
                        help="a JSON object mapping tasks to the code to answer with")
    args = parser.parse_args(argv)
    answers: dict[str, str] = {}
    if args.answers:
        with open(args.answers, encoding="utf-8") as fh:
            loaded = json.load(fh)
        if not isinstance(loaded, dict):
            parser.error(f"{args.answers}: expected a JSON object of task -> code")
        answers = {str(k): str(v) for k, v in loaded.items()}
    server = ModelServer(answers=answers, port=args.port).start()
    print(server.url, flush=True)
    print(f"export ANTHROPIC_BASE_URL={server.url} ANTHROPIC_API_KEY=local-test-key",
          file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
