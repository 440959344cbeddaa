"""Content, JSON and recommendations offers: Adobe Admin API `/offers`, `/offers/content`,
`/offers/json`, `/offers/recs` (a criteria and a design, see docs/recommendations.md)."""
