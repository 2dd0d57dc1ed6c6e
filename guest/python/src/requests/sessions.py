"""Session: default headers, params and auth over many requests, sent through the host."""

import time
from datetime import timedelta

import goru_net

from .exceptions import ConnectionError, ReadTimeout
from .models import PreparedRequest, Request, Response
from .structures import CaseInsensitiveDict

from . import __version__


def default_headers():
    return CaseInsensitiveDict({"User-Agent": f"python-requests/{__version__}", "Accept": "*/*"})


def merge_setting(request_setting, session_setting):
    """Request values over session ones; a request value of None removes a key."""
    if session_setting is None:
        return request_setting
    if request_setting is None:
        return session_setting
    if not (hasattr(request_setting, "items") and hasattr(session_setting, "items")):
        return request_setting
    merged = CaseInsensitiveDict(session_setting) if isinstance(session_setting, CaseInsensitiveDict) else dict(session_setting)
    merged.update(request_setting)
    for key in [k for k, v in request_setting.items() if v is None]:
        del merged[key]
    return merged


class Session:
    """A requests Session. Connection pooling, cookies from responses, proxies,
    TLS options and redirect control are the host's business and are not
    modelled: `verify`, `cert`, `proxies`, `stream` are accepted and unused,
    and the host follows redirects itself (`allow_redirects` cannot stop it).
    `timeout` is accepted; the host bounds every call by its own call timeout
    and the run's deadline.
    """

    def __init__(self):
        self.headers = default_headers()
        self.auth = None
        self.params = {}
        self.cookies = {}
        self.proxies = {}
        self.hooks = {"response": []}
        self.stream = False
        self.verify = True
        self.cert = None
        self.max_redirects = 30
        self.trust_env = True

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()

    def close(self):
        pass

    def prepare_request(self, request):
        p = PreparedRequest()
        p.prepare(
            method=request.method,
            url=request.url,
            files=request.files,
            data=request.data,
            json=request.json,
            headers=merge_setting(request.headers, self.headers),
            params=merge_setting(request.params, self.params),
            auth=merge_setting(request.auth, self.auth),
            cookies=merge_setting(request.cookies, self.cookies),
        )
        return p

    def request(self, method, url, params=None, data=None, headers=None, cookies=None,
                files=None, auth=None, timeout=None, allow_redirects=True, proxies=None,
                hooks=None, stream=None, verify=None, cert=None, json=None):
        req = Request(method=method.upper(), url=url, headers=headers, files=files,
                      data=data or {}, json=json, params=params or {}, auth=auth,
                      cookies=cookies, hooks=hooks)
        return self.send(self.prepare_request(req), timeout=timeout)

    def get(self, url, params=None, **kwargs):
        kwargs.setdefault("allow_redirects", True)
        return self.request("GET", url, params=params, **kwargs)

    def options(self, url, **kwargs):
        kwargs.setdefault("allow_redirects", True)
        return self.request("OPTIONS", url, **kwargs)

    def head(self, url, **kwargs):
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url, data=None, **kwargs):
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def send(self, request, **kwargs):
        """Sends a PreparedRequest through the run's HTTP capability."""
        started = time.monotonic()
        try:
            reply = goru_net.fetch(request.method, request.url, dict(request.headers), request.body)
        except TimeoutError as err:
            raise ReadTimeout(str(err), request=request) from None
        except OSError as err:
            # No grant, a host outside allowed_hosts, an internal address, a
            # refused connection: the request never got an answer.
            raise ConnectionError(str(err), request=request) from None
        response = Response()
        response.status_code = reply["status"]
        response.reason = goru_net.reason_phrase(reply["status"])
        response.headers = CaseInsensitiveDict(reply.get("headers") or {})
        response._content = goru_net.content_bytes(reply)
        response.url = reply.get("url") or request.url
        response.request = request
        response.elapsed = timedelta(seconds=time.monotonic() - started)
        return response


def session():
    """A new Session (kept for old code)."""
    return Session()
