"""Placeholder replaced by the local backend (issue 4)."""
