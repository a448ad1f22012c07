"""The durable steps of a sync: describe, refresh token, fetch, transform, upsert, commit."""
