"""Placeholder; see the issues."""
