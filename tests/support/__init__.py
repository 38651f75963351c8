"""Test infrastructure shared by suites: a PostgreSQL cluster, a PostgREST-compatible server over
it, and a moto S3 server (session-scoped fixtures in `tests.support.fixtures`)."""
