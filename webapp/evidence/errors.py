"""The one error rendering raises: its message is safe to show to users and to the model."""


class RenderError(RuntimeError):
    """A crop could not be rendered: missing, corrupt, unsupported, Ghostscript failed or timed out.

    The message never contains server paths: it is meant to be passed on as it is.
    """
