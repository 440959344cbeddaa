"""Properties (Adobe's at.js properties): Admin API ``/properties`` (v1) and property tokens.

The delivery API resolves a request's ``property.token`` with ``service.property_for_token``.
"""
