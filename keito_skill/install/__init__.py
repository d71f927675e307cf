"""Installing keito-skill into the agents (hooks, trust, settings)."""
