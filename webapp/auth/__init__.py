"""Who is calling: static tokens exchanged for JWTs, the caller checked on every request."""
