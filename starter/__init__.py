"""The operator's CLI: connections, syncs, status, and the demo."""
