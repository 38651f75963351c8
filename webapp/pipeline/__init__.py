"""The agent pipeline: gather documents, let the model look at evidence, answer with citations."""
