"""nbray's notebook layer on a real Ray cluster (placeholder: the lead writes this package's front)."""
