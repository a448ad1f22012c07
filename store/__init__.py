"""Destination database: schema, dialect-aware upsert, staging, sync state and credential vault."""
