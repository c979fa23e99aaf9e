"""The chat: a conversation over the agent's tools, with its request rules, prompts and records."""
