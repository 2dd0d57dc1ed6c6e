"""Request, PreparedRequest and Response: the parts of requests' models code uses."""

import datetime
import json as _json
from urllib.parse import urlencode, urlsplit, urlunsplit

from .auth import HTTPBasicAuth
from .exceptions import (
    HTTPError,
    InvalidHeader,
    InvalidJSONError,
    InvalidSchema,
    InvalidURL,
    JSONDecodeError,
    MissingSchema,
)
from .structures import CaseInsensitiveDict


class Request:
    """A user-created request; `prepare()` turns it into what is sent."""

    def __init__(self, method=None, url=None, headers=None, files=None, data=None,
                 params=None, auth=None, cookies=None, hooks=None, json=None):
        self.method = method
        self.url = url
        self.headers = {} if headers is None else headers
        self.files = files
        self.data = [] if data is None else data
        self.json = json
        self.params = {} if params is None else params
        self.auth = auth
        self.cookies = cookies
        self.hooks = hooks

    def __repr__(self):
        return f"<Request [{self.method}]>"

    def prepare(self):
        p = PreparedRequest()
        p.prepare(method=self.method, url=self.url, headers=self.headers, files=self.files,
                  data=self.data, params=self.params, auth=self.auth, cookies=self.cookies,
                  json=self.json)
        return p


class PreparedRequest:
    """The exact method, URL, headers and body that go to the host."""

    def __init__(self):
        self.method = None
        self.url = None
        self.headers = None
        self.body = None

    def __repr__(self):
        return f"<PreparedRequest [{self.method}]>"

    def prepare(self, method=None, url=None, headers=None, files=None, data=None,
                params=None, auth=None, cookies=None, json=None, hooks=None):
        self.method = (method or "GET").upper()
        self.prepare_url(url, params)
        self.prepare_headers(headers)
        self.prepare_cookies(cookies)
        self.prepare_body(data, files, json)
        self.prepare_auth(auth)

    def copy(self):
        p = PreparedRequest()
        p.method, p.url, p.body = self.method, self.url, self.body
        p.headers = self.headers.copy() if self.headers is not None else None
        return p

    def prepare_url(self, url, params):
        if isinstance(url, bytes):
            url = url.decode("utf8")
        url = str(url).strip()
        scheme, netloc, path, query, fragment = urlsplit(url)
        if not scheme:
            raise MissingSchema(
                f"Invalid URL {url!r}: No scheme supplied. Perhaps you meant https://{url}?"
            )
        if scheme.lower() not in ("http", "https"):
            raise InvalidSchema(f"No connection adapters were found for {url!r}")
        if not netloc:
            raise InvalidURL(f"Invalid URL {url!r}: No host supplied")
        extra = _encode_params(params)
        if extra:
            query = f"{query}&{extra}" if query else extra
        self.url = urlunsplit((scheme, netloc, path or "/", query, fragment))

    def prepare_headers(self, headers):
        self.headers = CaseInsensitiveDict()
        for name, value in (headers or {}).items():
            if isinstance(value, bytes):
                value = value.decode("latin1")
            elif not isinstance(value, str):
                raise InvalidHeader(
                    f"Header part ({value!r}) from ({name!r}, {value!r}) must be of type "
                    f"str or bytes, not {type(value)}"
                )
            self.headers[name] = value

    def prepare_cookies(self, cookies):
        if cookies and "Cookie" not in self.headers:
            self.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in dict(cookies).items())

    def prepare_body(self, data, files, json=None):
        if files:
            raise NotImplementedError(
                "files= (multipart uploads) is not supported in this sandbox: "
                "the host's HTTP capability sends text bodies only"
            )
        body, content_type = None, None
        if not data and json is not None:
            try:
                body = _json.dumps(json, allow_nan=False)
            except ValueError as err:
                raise InvalidJSONError(err, request=self) from None
            content_type = "application/json"
        elif data:
            if hasattr(data, "read"):
                body = data.read()
            elif isinstance(data, (str, bytes, bytearray)):
                body = data
            else:
                body = _encode_params(data)
                content_type = "application/x-www-form-urlencoded"
        if content_type and "content-type" not in self.headers:
            self.headers["Content-Type"] = content_type
        self.body = body

    def prepare_auth(self, auth):
        if auth:
            if isinstance(auth, tuple) and len(auth) == 2:
                auth = HTTPBasicAuth(*auth)
            auth(self)


def _encode_params(params):
    """Query or form text from a str, bytes, dict or list of pairs (lists repeat a key)."""
    if not params:
        return ""
    if isinstance(params, (str, bytes)):
        return params.decode("ascii") if isinstance(params, bytes) else params
    items = params.items() if hasattr(params, "items") else params
    pairs = []
    for key, values in items:
        if values is None:
            continue
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        pairs.extend((key, v) for v in values if v is not None)
    return urlencode(pairs)


class Response:
    """The server's answer, as the host relayed it (redirects already followed)."""

    def __init__(self):
        self._content = b""
        self.status_code = None
        self.headers = CaseInsensitiveDict()
        self.raw = None
        self.url = None
        # The content is the host's text, UTF-8 encoded.
        self.encoding = "utf-8"
        self.history = []
        self.reason = None
        self.cookies = {}
        self.elapsed = datetime.timedelta(0)
        self.request = None

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()

    def __repr__(self):
        return f"<Response [{self.status_code}]>"

    def __bool__(self):
        return self.ok

    def __iter__(self):
        return self.iter_content(128)

    @property
    def ok(self):
        try:
            self.raise_for_status()
        except HTTPError:
            return False
        return True

    @property
    def is_redirect(self):
        return "location" in self.headers and self.status_code in (301, 302, 303, 307, 308)

    @property
    def is_permanent_redirect(self):
        return "location" in self.headers and self.status_code in (301, 308)

    @property
    def apparent_encoding(self):
        return "utf-8"

    @property
    def content(self):
        return self._content

    @property
    def text(self):
        return self._content.decode(self.encoding or "utf-8", errors="replace")

    def json(self, **kwargs):
        try:
            return _json.loads(self.text, **kwargs)
        except _json.JSONDecodeError as e:
            raise JSONDecodeError(e.msg, e.doc, e.pos) from None

    @property
    def links(self):
        return {}

    def iter_content(self, chunk_size=1, decode_unicode=False):
        data = self.text if decode_unicode else self._content
        step = chunk_size or len(data) or 1
        return (data[i : i + step] for i in range(0, len(data), step))

    def iter_lines(self, chunk_size=512, decode_unicode=False, delimiter=None):
        data = self.text if decode_unicode else self._content
        lines = data.split(delimiter) if delimiter else data.splitlines()
        return iter(lines)

    def raise_for_status(self):
        reason = self.reason or ""
        if 400 <= self.status_code < 500:
            kind = "Client Error"
        elif 500 <= self.status_code < 600:
            kind = "Server Error"
        else:
            return
        raise HTTPError(f"{self.status_code} {kind}: {reason} for url: {self.url}", response=self)

    def close(self):
        pass
