"""Content and JSON offers: Adobe Admin API `/offers`, `/offers/content`, `/offers/json`."""
