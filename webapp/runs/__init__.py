"""Runs: one answer to one user message, executed once, persisted, and streamed as SSE."""
