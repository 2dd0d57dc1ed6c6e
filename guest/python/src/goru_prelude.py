"""Host functions as the guest sees them; keep in sync with goru.pyi.

Every host capability goes through one import, `host.call(name, args_json)`; the
host checks the run's policy before doing anything. Errors come back as JSON
`{"type": ..., "message": ...}` and are raised as the matching Python exception.
"""

import json

from componentize_py_types import Err
from wit_world.imports import host


class GoruError(Exception):
    """A host function failed for a reason that has no closer builtin exception."""


# Exception types the host may name; anything else becomes GoruError.
_ERRORS = {
    "PermissionError": PermissionError,
    "ValueError": ValueError,
    "KeyError": KeyError,
    "TypeError": TypeError,
    "TimeoutError": TimeoutError,
    "FileNotFoundError": FileNotFoundError,
    "FileExistsError": FileExistsError,
    "IsADirectoryError": IsADirectoryError,
    "NotADirectoryError": NotADirectoryError,
    "OSError": OSError,
    "ConnectionError": ConnectionError,
}


def _goru_call(name, args=None):
    """Calls host function `name` with JSON-serializable `args`; returns its JSON result."""
    if not isinstance(name, str):
        raise TypeError("_goru_call: name must be a str")
    payload = json.dumps({} if args is None else args)
    try:
        result = host.call(name, payload)
    except Err as err:
        try:
            detail = json.loads(err.value)
            kind, message = detail["type"], detail["message"]
        except (ValueError, KeyError, TypeError):
            kind, message = "GoruError", str(err.value)
        raise _ERRORS.get(kind, GoruError)(message) from None
    return json.loads(result)


def install(builtins_module) -> None:
    # Builtins, so the names work in user code and in any module it defines,
    # without an import, as in the original.
    builtins_module._goru_call = _goru_call
    builtins_module.GoruError = GoruError
    import goru_functions

    for name in goru_functions.__all__:
        setattr(builtins_module, name, getattr(goru_functions, name))
