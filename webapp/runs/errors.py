"""The error a run ends with when its message is meant for the user as it is."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is shown to the user as it is, with the `error` event's `code`
    (the pipeline raises it; the run manager turns it into the run's one `error` event)."""

    def __init__(self, message: str, code: str = "run_failed") -> None:
        super().__init__(message)
        self.code = code
