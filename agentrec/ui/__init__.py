"""Command implementations and rich rendering for the CLI (the only place rich is set up)."""
