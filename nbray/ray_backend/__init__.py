"""The notebook layer on a real Ray cluster."""
