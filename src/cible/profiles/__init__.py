"""Visitor profiles and Adobe's Profile APIs (docs/profiles.md).

Public API, by module (imported from there, to keep this package cheap to import for the table
registry in ``cible.store.models``):

- ``cible.profiles.state``: ``VisitorCache``, ``load``, ``write``, ``Conflict`` (the hot path's
  versioned visitor state);
- ``cible.profiles.service``: ``VisitorIds``, ``Visit``, ``open_state``, ``change_of``,
  ``find_profile``, ``set_profile_attributes``, ``reset_activity``, ``profile_document``,
  ``new_tnt_id``;
- ``cible.profiles.batch``: ``accept_batch``, ``process_batch``, ``parse_batch``, ``BatchError``;
- ``cible.profiles.tasks``: the ``profiles.batch_update`` job; ``cible.profiles.routes``: the
  Profile API router.
"""
