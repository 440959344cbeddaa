"""A/B and Experience Targeting activities (Adobe Admin API ``ABActivity``, ``/activities``).

Public API: ``service`` (create, read, list, update, state, delete), ``schemas`` (v3 and the v1
legacy shape), ``tables``. Nothing is imported here, so that ``cible.store.models`` can import
``tables`` without pulling in the web layer.
"""
