"""Host functions as the `python` guest sees them; keep in sync with goru.pyi.

Every host capability goes through one import, `host.call(name, args_json)`; the
host checks the run's policy before doing anything (see goru_door).
"""

from componentize_py_types import Err
from wit_world.imports import host

import goru_door


def _send(name, payload):
    try:
        return True, host.call(name, payload)
    except Err as err:
        return False, err.value


_goru_call = goru_door.make_goru_call(_send)


def install(builtins_module) -> None:
    goru_door.install(builtins_module, _goru_call)
