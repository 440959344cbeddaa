"""Profile attribute names seen by the delivery API, served as ``GET /profileattributes/mbox``.

The delivery API buffers the ``profile.*`` parameter names it sees and flushes them in bulk with
``service.record_profile_attributes(session, tenant_id, names, now)``.
"""
