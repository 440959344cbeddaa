"""Everything held about one visitor, exported or deleted on request (``cible privacy``).

Public API: ``Visitor``, ``Handler``, ``register``, ``export_visitor``, ``delete_visitor``,
``parse_kind``. A domain that stores visitor data registers a handler, as the built-ins do.
"""

from cible.privacy.service import (
    KINDS,
    Handler,
    Visitor,
    delete_visitor,
    export_visitor,
    parse_kind,
    register,
)

__all__ = [
    "KINDS",
    "Handler",
    "Visitor",
    "delete_visitor",
    "export_visitor",
    "parse_kind",
    "register",
]
