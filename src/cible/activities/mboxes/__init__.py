"""Mboxes seen by delivery calls or declared by activities (Adobe Admin API, "Mboxes").

Public API: ``service.record_seen`` (the delivery API's periodic flush), ``service.declare``.
Nothing is imported here, so that ``cible.store.models`` can import ``tables`` alone.
"""
