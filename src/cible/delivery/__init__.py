"""Adobe Target's delivery API, ``POST /rest/v1/delivery`` (docs/delivery.md).

Public API, by module (imported from there, to keep this package cheap to import for the
table registry in ``cible.store.models``):

- ``cible.delivery.service``: ``Delivery`` (one call: profile, decision, events, response),
  ``TenantRef``, ``analytics_payload``;
- ``cible.delivery.source``: the ``ArtifactSource`` protocol, ``StoreArtifactSource`` (default),
  ``FixedArtifactSource``;
- ``cible.delivery.validate``: ``check_request``, ``check_session_id``, ``InvalidRequest`` and the
  limits;
- ``cible.delivery.events``: ``EventBatch``, ``store_events``, ``decode_tokens``;
- ``cible.delivery.sticky``: ``StickyIndex``; ``cible.delivery.cache``: ``DecisionCache``;
  ``cible.delivery.seen``: ``SeenNames``; ``cible.delivery.routes``: the router.
"""
