"""`import goru` gives the host functions under plain names, for users who prefer imports."""

import builtins

from goru_door import GoruError  # noqa: F401
from goru_functions import *  # noqa: F401,F403


def call(name, args=None):
    """Calls host function `name` with JSON-serializable `args`; returns its JSON result."""
    return builtins._goru_call(name, args)
