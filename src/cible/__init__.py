"""Cible: a self-hostable personalization platform speaking Adobe Target's wire formats."""

__version__ = "0.1.0"
