"""A user's settings and the role prompts they can choose from."""
