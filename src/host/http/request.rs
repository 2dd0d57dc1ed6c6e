//! The guest's request, decoded from JSON and checked before anything is sent.

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

use super::config::HttpConfig;
use super::error::HttpError;

/// A checked request: method, URL and headers are valid, caps are met. The
/// host is not yet checked: that happens per hop, redirects included.
#[derive(Debug, Clone)]
pub(super) struct GuestRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<String>,
}

/// Headers a guest may not set. They frame or route the request (Host,
/// Content-Length, Transfer-Encoding: smuggling and virtual-host confusion)
/// or belong to one connection (hop-by-hop). Refused with ValueError rather
/// than dropped, so the guest learns why its header never arrived.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

const METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

impl GuestRequest {
    /// Decodes `{"method", "url", "headers", "body"}`; `method` is taken
    /// from `fixed` instead when the function implies it (`http_get`).
    pub fn from_args(
        args: &Value,
        fixed: Option<Method>,
        config: &HttpConfig,
    ) -> Result<Self, HttpError> {
        let args = args
            .as_object()
            .ok_or_else(|| HttpError::BadArgument("expected an object".into()))?;
        let method = match fixed {
            Some(m) => m,
            None => parse_method(str_arg(args.get("method"), "method")?)?,
        };
        let url = parse_url(str_arg(args.get("url"), "url")?, config.max_url_bytes)?;
        let headers = match args.get("headers") {
            None | Some(Value::Null) => HeaderMap::new(),
            Some(Value::Object(h)) => parse_headers(h)?,
            Some(_) => {
                return Err(HttpError::BadArgument(
                    "\"headers\" must be a dict of str to str, or None".into(),
                ));
            }
        };
        let body = match args.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(b)) if b.len() > config.max_request_body_bytes => {
                return Err(HttpError::BodyTooLarge {
                    len: b.len(),
                    max: config.max_request_body_bytes,
                });
            }
            Some(Value::String(b)) => Some(b.clone()),
            Some(_) => {
                return Err(HttpError::BadArgument(
                    "\"body\" must be a str or None".into(),
                ));
            }
        };
        Ok(Self {
            method,
            url,
            headers,
            body,
        })
    }
}

fn str_arg<'a>(v: Option<&'a Value>, name: &str) -> Result<&'a str, HttpError> {
    v.and_then(Value::as_str)
        .ok_or_else(|| HttpError::BadArgument(format!("{name:?} must be a str")))
}

fn parse_method(m: &str) -> Result<Method, HttpError> {
    METHODS
        .iter()
        .find(|known| known.as_str().eq_ignore_ascii_case(m))
        .cloned()
        .ok_or_else(|| HttpError::Method(m.to_owned()))
}

/// Parses and checks a URL, the guest's or a redirect's: length, scheme, a
/// host, no credentials. IP literals in any spelling (`0x7f.1`, `2130706433`)
/// come out as the address they denote, as in a browser.
pub(super) fn parse_url(raw: &str, max_bytes: usize) -> Result<Url, HttpError> {
    if raw.len() > max_bytes {
        return Err(HttpError::UrlTooLong {
            len: raw.len(),
            max: max_bytes,
        });
    }
    let bad = |reason: &str| HttpError::BadUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    check_url(&url, max_bytes)?;
    if url.host().is_none() {
        return Err(bad("no host"));
    }
    // Never sent; dropping it keeps redirects and errors tidy.
    url.set_fragment(None);
    Ok(url)
}

/// The checks a parsed URL must pass before a hop.
pub(super) fn check_url(url: &Url, max_bytes: usize) -> Result<(), HttpError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::Scheme(url.scheme().to_owned()));
    }
    if url.as_str().len() > max_bytes {
        return Err(HttpError::UrlTooLong {
            len: url.as_str().len(),
            max: max_bytes,
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL leak into logs and across redirects.
        return Err(HttpError::BadUrl {
            url: url.host_str().unwrap_or_default().to_owned(),
            reason: "credentials in a URL are not allowed; send an Authorization header".into(),
        });
    }
    Ok(())
}

fn parse_headers(h: &serde_json::Map<String, Value>) -> Result<HeaderMap, HttpError> {
    let mut headers = HeaderMap::new();
    for (name, value) in h {
        let bad = |reason| HttpError::Header {
            name: name.clone(),
            reason,
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("invalid name"))?;
        if FORBIDDEN_HEADERS.contains(&header.as_str()) {
            return Err(bad("set by the host; a guest may not set it"));
        }
        let value = value.as_str().ok_or_else(|| bad("value must be a str"))?;
        // HeaderValue refuses CR/LF, so a value cannot smuggle a second header.
        let value = HeaderValue::from_str(value).map_err(|_| bad("invalid value"))?;
        headers.append(header, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn parse(args: Value) -> Result<GuestRequest, HttpError> {
        GuestRequest::from_args(&args, None, &HttpConfig::default())
    }

    #[test]
    fn a_full_request_is_decoded() {
        let r = parse(
            json!({"method": "post", "url": "https://Example.com/a#frag",
            "headers": {"X-A": "1"}, "body": "hi"}),
        )
        .unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.url.as_str(), "https://example.com/a");
        assert_eq!(r.headers["x-a"], "1");
        assert_eq!(r.body.as_deref(), Some("hi"));
    }

    #[test]
    fn framing_and_hop_by_hop_headers_are_refused() {
        for name in [
            "Host",
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "Upgrade",
        ] {
            let e = parse(json!({"method": "GET", "url": "http://x.com/", "headers": {name: "1"}}))
                .unwrap_err();
            assert!(matches!(e, HttpError::Header { .. }), "{name}: {e}");
        }
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let e = parse(
            json!({"method": "GET", "url": "http://x.com/", "headers": {"a": "1\r\nHost: evil"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid value"), "{e}");
    }

    #[test]
    fn unknown_methods_and_schemes_are_value_errors() {
        for args in [
            json!({"method": "CONNECT", "url": "http://x.com/"}),
            json!({"method": "TRACE", "url": "http://x.com/"}),
            json!({"method": "GET", "url": "file:///etc/passwd"}),
            json!({"method": "GET", "url": "ftp://x.com/"}),
            json!({"method": "GET", "url": "gopher://x.com/"}),
            json!({"method": "GET", "url": "not a url"}),
            json!({"method": "GET", "url": "http://user:pw@x.com/"}),
        ] {
            let e = parse(args.clone()).unwrap_err();
            assert_eq!(e.kind(), crate::host::HostErrorKind::Value, "{args}: {e}");
        }
    }

    #[test]
    fn wrong_argument_types_are_type_errors() {
        for args in [
            json!("http://x.com/"),
            json!({"method": "GET"}),
            json!({"method": "GET", "url": "http://x.com/", "headers": ["a"]}),
            json!({"method": "GET", "url": "http://x.com/", "body": 5}),
        ] {
            let e = parse(args.clone()).unwrap_err();
            assert_eq!(e.kind(), crate::host::HostErrorKind::Type, "{args}: {e}");
        }
    }
}
