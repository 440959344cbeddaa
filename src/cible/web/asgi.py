"""The module uvicorn imports: ``cible.web.asgi:app``, built from the environment's settings.

Once the app is built, everything imported so far is moved out of the cyclic garbage collector's
sight (``gc.freeze``) and its first generation is collected after 50,000 allocations instead of
700: the visitor, decision and artifact caches hold millions of long-lived objects, and a full
collection over them paused the event loop for 100 ms and more, which was most of the delivery
API's p99 (docs/operations.md, "Garbage collection"). Reference counting still frees everything
that is not in a cycle at once.
"""

import gc

from cible.web.app import create_app

app = create_app()

gc.freeze()
gc.set_threshold(50_000, 50, 100)
