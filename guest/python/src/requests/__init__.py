"""goru's `requests`: the everyday subset of the requests API, over the run's HTTP capability.

Not the PyPI package: the guest has no sockets, so every request is one call to
the host's `http_request`, which checks it against the run's policy
(allowed_hosts), refuses internal addresses and follows redirects itself.
Supported: get/post/put/patch/delete/head/options/request with params, headers,
data, json, auth, cookies, timeout; Response with status_code, ok, reason,
headers, text, content, json(), url, raise_for_status(); Session with default
headers, params and auth; the requests exception hierarchy; `codes`.
Bodies are text (UTF-8) both ways; `files=` is not supported.

Imported into the snapshot at build time (goru_preload): at run time it is
already in sys.modules, with every submodule.
"""

# The requests API this follows, marked as goru's own (a valid PEP 440 version).
__version__ = "2.32.5+goru"
__title__ = "requests"

from . import exceptions, structures, status_codes, auth, models, sessions, api  # noqa: E402
from .api import delete, get, head, options, patch, post, put, request  # noqa: E402
from .exceptions import (  # noqa: E402
    ConnectionError,
    ConnectTimeout,
    HTTPError,
    JSONDecodeError,
    ReadTimeout,
    RequestException,
    Timeout,
    TooManyRedirects,
    URLRequired,
)
from .models import PreparedRequest, Request, Response  # noqa: E402
from .sessions import Session, session  # noqa: E402
from .status_codes import codes  # noqa: E402
