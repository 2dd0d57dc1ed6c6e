"""HTTP the usual way: `urllib.request` and `requests` over the host's `http_request`.

The guest has no sockets; the run's HTTP capability is the only way out, and
the host does every check there (allowed_hosts, addresses, redirects, caps).
This module only translates: a request into one `http_request` call, and the
host's answer into what urllib or requests code expects. It never decides what
may be reached.

Installed at build time (goru_preload), so urllib's default opener and the
`requests` module are in the snapshot and cost nothing per run.
"""

import io
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from http import HTTPStatus
from http.client import HTTPMessage

from goru_prelude import _goru_call

# Headers urllib adds itself that the host sets (and refuses from a guest).
_HOST_SET = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class NetworkNotGranted(PermissionError):
    """The run's policy grants no hosts, so no request can leave the sandbox."""


def not_granted_message(url):
    netloc = urllib.parse.urlsplit(url).netloc.rpartition("@")[2] or "example.com"
    return (
        f"network access is not granted to this run, so {netloc} cannot be reached: "
        f'ask for the host in the run\'s policy, e.g. {{"allowed_hosts": ["{netloc}"]}} '
        f"(the goru command: --allow-host {netloc})"
    )


def fetch(method, url, headers=None, body=None):
    """One request through the host: {"status", "headers", "body", "url", ...}.

    `headers` is a dict of str; `body` str, bytes or None. Raises what the host
    raises (PermissionError, ValueError, TimeoutError, OSError), with a refusal
    for want of any grant turned into NetworkNotGranted saying how to ask.
    """
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                "the sandbox's HTTP capability sends text bodies only: this body is not UTF-8"
            ) from None
    try:
        return _goru_call(
            "http_request", {"method": method, "url": url, "headers": headers or None, "body": body}
        )
    except PermissionError as err:
        # The host names no function for a run without allowed_hosts; anything
        # else (a host not in the list, an internal address) is passed on as is.
        text = str(err)
        if "allows no hosts" in text or "not granted" in text or "not available" in text:
            raise NetworkNotGranted(not_granted_message(url)) from None
        raise


def reason_phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def content_bytes(reply):
    # The host hands bodies over as text (invalid UTF-8 already replaced).
    return reply.get("body", "").encode("utf-8")


# --- urllib.request ---------------------------------------------------------


class Response(urllib.response.addinfourl):
    """What urlopen returns: addinfourl plus the http.client response names."""

    def __init__(self, reply):
        status = reply["status"]
        headers = HTTPMessage()
        for name, value in reply.get("headers", {}).items():
            headers[name] = value
        super().__init__(io.BytesIO(content_bytes(reply)), headers, reply.get("url"), status)
        self.reason = self.msg = reason_phrase(status)
        self.version = 11

    def getheader(self, name, default=None):
        return self.headers.get(name, default)

    def getheaders(self):
        return list(self.headers.items())


class HTTPHandler(urllib.request.HTTPHandler):
    """Opens http and https URLs through the run's HTTP capability.

    A subclass of urllib's HTTPHandler, so `build_opener()` uses it instead of
    the socket one and urllib still prepares the request (Content-Type for
    data, the opener's User-Agent) and raises HTTPError for statuses >= 400.
    """

    def http_open(self, req):
        headers = {
            name: value for name, value in req.header_items() if name.lower() not in _HOST_SET
        }
        try:
            reply = fetch(req.get_method(), req.full_url, headers, _request_body(req.data))
        except OSError as err:
            # As urllib does for a socket error: URLError, whose reason is the cause.
            raise urllib.error.URLError(err) from None
        return Response(reply)

    https_open = http_open
    https_request = urllib.request.HTTPHandler.http_request


class HTTPSHandler(HTTPHandler):
    """Stands in for urllib's HTTPSHandler, absent in a CPython without ssl.

    TLS is the host's business; a context or check_hostname is accepted and unused.
    """

    def __init__(self, debuglevel=None, context=None, check_hostname=None):
        super().__init__(debuglevel)


def _request_body(data):
    if data is None or isinstance(data, (bytes, bytearray, memoryview, str)):
        return data
    if hasattr(data, "read"):
        return data.read()
    return b"".join(bytes(chunk) for chunk in data)


def install_urllib():
    """Makes urlopen and every build_opener() use the host for http and https."""
    urllib.request.HTTPHandler = HTTPHandler
    urllib.request.HTTPSHandler = HTTPSHandler
    # No ProxyHandler from the environment: the host makes the connection.
    urllib.request.install_opener(
        urllib.request.build_opener(urllib.request.ProxyHandler({}), HTTPHandler)
    )

