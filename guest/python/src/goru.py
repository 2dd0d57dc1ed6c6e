"""`import goru` gives the host functions under plain names, for users who prefer imports."""

from goru_prelude import GoruError, _goru_call as call  # noqa: F401
