"""Shared-memory object storage: the arena, its allocator and the object layout."""
