"""Type stubs for what goru's prelude gives every run.

The names are builtins (no import needed, as in the original) and are also
importable from the `goru` module (`from goru import call`). Host functions
only work when the run's policy grants them; otherwise they raise
PermissionError naming the function. Keep in sync with
guest/python/src/goru_prelude.py and guest/python312/prelude.py (a test checks).
"""

from typing import Any

class GoruError(Exception):
    """A host function failed for a reason that has no closer builtin exception."""

def _goru_call(name: str, args: Any = None) -> Any:
    """Call host function `name` with JSON-serializable `args`; return its JSON result.

    Raises PermissionError when `name` is not granted to this run, TypeError when
    `args` is not JSON-serializable, and the host function's own error (ValueError,
    TimeoutError, FileNotFoundError, ... or GoruError) when it fails.
    """
