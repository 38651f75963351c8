"""Chats, their messages and attached files: the logic behind the chat and file routes."""
