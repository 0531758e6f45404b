"""The JSON API over the runtime's statistics, and the web dashboard page.

Nothing here can run code: every endpoint is a read-only query.
"""
