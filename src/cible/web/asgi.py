"""The module uvicorn imports: ``cible.web.asgi:app``, built from the environment's settings."""

from cible.web.app import create_app

app = create_app()
