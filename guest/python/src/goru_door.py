"""The guest's half of `_goru_call`, whatever carries it to the host: the
`python` guest's WIT import, or python-sci's `_host` door.

Errors come back as JSON `{"type": ..., "message": ...}` and are raised as
the matching Python exception. Keep the names in sync with goru.pyi (and with
guest/python312/prelude.py, which cannot import this).
"""

import json


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


def make_goru_call(send):
    """`_goru_call` over `send(name, args_json)`, which returns `(True,
    result_json)` or `(False, error_json)`."""

    def _goru_call(name, args=None):
        """Calls host function `name` with JSON-serializable `args`; returns its JSON result."""
        if not isinstance(name, str):
            raise TypeError("_goru_call: name must be a str")
        ok, text = send(name, json.dumps({} if args is None else args))
        if ok:
            return json.loads(text)
        try:
            detail = json.loads(text)
            kind, message = detail["type"], detail["message"]
        except (ValueError, KeyError, TypeError):
            kind, message = "GoruError", str(text)
        raise _ERRORS.get(kind, GoruError)(message) from None

    return _goru_call


def install(builtins_module, goru_call) -> None:
    """The host functions as builtins, so they work in user code and in any
    module it defines, without an import, as in the original."""
    builtins_module._goru_call = goru_call
    builtins_module.GoruError = GoruError
    import goru_functions

    for name in goru_functions.__all__:
        setattr(builtins_module, name, getattr(goru_functions, name))
