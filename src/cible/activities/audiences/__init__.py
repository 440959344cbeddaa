"""Reusable audiences: Adobe Admin API ``/audiences`` (v3), rules checked by the artifact compiler.

Other packages use ``service.get_audience`` / ``service.live_audiences`` to resolve the audiences
an activity names, and append to ``service.DELETE_GUARDS`` to refuse deleting one in use.
"""
