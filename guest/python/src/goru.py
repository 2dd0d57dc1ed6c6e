"""`import goru` gives the host functions under plain names, for users who prefer imports."""

from goru_prelude import GoruError, _goru_call as call  # noqa: F401
from goru_functions import *  # noqa: F401,F403
