"""The audience manager's data exchange: destinations and their segment mappings, the URL and
cookie destinations the DCS answers with, and real-time server-to-server messages.

See docs/audience-manager.md, "Data exchange".
"""
