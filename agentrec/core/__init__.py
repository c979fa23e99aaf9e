"""Shared foundations: errors, paths, seeding and typed records."""
