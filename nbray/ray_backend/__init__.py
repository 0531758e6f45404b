"""nbray's notebook layer on a real Ray cluster (placeholder; the lead writes it)."""
