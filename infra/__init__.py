"""What the worker, the activities and the starter share: time, logs, metrics, heartbeats,
limiters, rate limits, the Temporal connection, database transactions, the HTTP client and the
configured connectors. Nothing here imports the CLI (starter/)."""
