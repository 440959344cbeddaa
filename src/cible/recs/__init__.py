"""Recommendations: the catalog, visitor behaviour, criteria and their algorithms, designs,
promotions, collections and exclusions, administered with Adobe's Recommendations API shapes
under ``/{tenant}/target/recs`` and served through ``/rest/v1/delivery`` (docs/recommendations.md).

Public API for other packages: ``cible.recs.criteria.recommend`` (precomputed, filtered entity
ids for a criteria and key) and ``cible.recs.catalog.get_entities``.
"""
