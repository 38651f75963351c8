"""Fixtures of the deployment tests (defined in deploy_support, shared by the test modules)."""

from deploy_support import converged  # noqa: F401  (the module-scoped converge fixture)
