"""Test infrastructure shared by suites: a PostgreSQL cluster, a PostgREST-compatible server over
it, and a moto S3 server (session-scoped fixtures in `tests.support.fixtures`); the fake Gemini API
(`fake_gemini`); whole questions asked of a real app (`chat_session`)."""
