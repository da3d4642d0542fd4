"""Revisions of the audit store's schema, oldest first."""
