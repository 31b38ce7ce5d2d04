"""The Jupyter server extension: REST routes under ``{base_url}/semcache/``.

It is enabled on install (``jupyter-config/jupyter_server_config.d/semcache_magic.json``)
and serves the JupyterLab sidebar. The handlers only parse requests, call the one
:class:`~semcache_magic.cache.SnippetCache` of this server and serialise the answer;
the store, ranking and curation live in the cache core, shared with the magic and the
CLI. Configure it like the magic, in ``jupyter_server_config.py``::

    c.SemCache.store = "s3://team-bucket/semcache"
    c.SemCache.namespace = "project:churn"

Environment variables (``SEMCACHE_HOME``, ``SEMCACHE_STORE``, ...) override the file.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_load_jupyter_server_extension"]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the routes; start loading the embedding model in the background."""
    from .handlers import setup_handlers
    from .service import CacheService

    service = CacheService(parent=serverapp)
    setup_handlers(serverapp.web_app, service)
    if service.config.warm_embedder:
        service.warm()
    serverapp.log.info("semcache: routes at %ssemcache/ (store %s)",
                       serverapp.web_app.settings.get("base_url", "/"), service.config.store_uri)
