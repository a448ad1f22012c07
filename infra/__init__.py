"""What the worker, the activities and the starter share: time, logs, metrics, heartbeats,
limiters and the Temporal connection. Nothing here imports the CLI."""
