"""Provider connectors: provider APIs as pages of raw records and one error envelope."""
