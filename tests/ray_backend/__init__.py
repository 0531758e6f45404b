"""Tests of the Ray backend."""
