//! The fetch: one pinned connection per hop, redirects followed by hand.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Map, Value, json};
use url::Url;

use super::config::HttpConfig;
use super::error::HttpError;
use super::policy::Policy;
use super::request::{GuestRequest, check_url};

/// Sends `req`, following up to `max_redirects` redirects; every hop's host
/// is checked against the policy, resolved once, and connected to at exactly
/// the addresses checked.
pub(super) async fn fetch(
    config: &HttpConfig,
    policy: &Policy,
    mut req: GuestRequest,
) -> Result<Value, HttpError> {
    let mut redirects = 0;
    loop {
        policy.check_host(&req.url)?;
        let addrs = policy.resolve(&req.url).await?;
        let response = send(policy, &req, addrs).await?;
        let Some(next) = redirect_target(&response, &req.url, config)? else {
            return read(&req.url, response, config.max_response_body_bytes).await;
        };
        if redirects == config.max_redirects {
            return Err(HttpError::TooManyRedirects {
                max: config.max_redirects,
            });
        }
        redirects += 1;
        tracing::debug!(status = %response.status(), from = ?req.url.host_str(), to = ?next.host_str(), "http redirect");
        req = follow(req, response.status(), next);
    }
}

/// One hop. A fresh client per hop: its only resolver is the pinned answer,
/// and it keeps no pooled connection a later hop could reuse.
async fn send(
    policy: &Policy,
    req: &GuestRequest,
    addrs: Vec<SocketAddr>,
) -> Result<Response, HttpError> {
    let host = req.url.host_str().unwrap_or_default().to_owned();
    let connect_err = |source: reqwest::Error| HttpError::Connect {
        host: host.clone(),
        cause: innermost(&source),
        source,
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Pinned {
            host: host.clone(),
            addrs,
        }))
        .pool_max_idle_per_host(0)
        .user_agent(concat!("goru/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(connect_err)?;
    let mut headers = req.headers.clone();
    // Added per hop, so a redirect to another host never carries them; they
    // replace any same-named header the guest set.
    for secret in policy.secrets_for(&req.url) {
        headers.insert(secret.name.clone(), secret.value.clone());
    }
    let mut builder = client
        .request(req.method.clone(), req.url.clone())
        .headers(headers);
    if let Some(body) = &req.body {
        builder = builder.body(body.clone());
    }
    tracing::debug!(method = %req.method, host = %host, "http request");
    builder.send().await.map_err(connect_err)
}

/// The resolver for one hop: the addresses already checked, for the one
/// host checked, and nothing else (no fallback to the system resolver).
struct Pinned {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl Resolve for Pinned {
    fn resolve(&self, name: Name) -> Resolving {
        let answer: Result<Addrs, Box<dyn std::error::Error + Send + Sync>> =
            if name.as_str().eq_ignore_ascii_case(&self.host) {
                Ok(Box::new(self.addrs.clone().into_iter()))
            } else {
                Err(format!("{:?} was not resolved and checked", name.as_str()).into())
            };
        Box::pin(std::future::ready(answer))
    }
}

/// Where a redirect response points, if it is one with a `Location`.
fn redirect_target(
    response: &Response,
    base: &Url,
    config: &HttpConfig,
) -> Result<Option<Url>, HttpError> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = response.headers().get(header::LOCATION) else {
        return Ok(None);
    };
    let bad = |reason: String| HttpError::BadRedirect {
        host: base.host_str().unwrap_or_default().to_owned(),
        reason,
    };
    let location = location
        .to_str()
        .map_err(|_| bad("not valid text".into()))?;
    let mut next = base.join(location).map_err(|e| bad(e.to_string()))?;
    next.set_fragment(None);
    check_url(&next, config.max_url_bytes)?;
    Ok(Some(next))
}

/// The request for the next hop. As browsers do: 303 turns anything but
/// HEAD into a bodiless GET, and so do 301/302 for POST; 307/308 keep the
/// method and body. Credentials the guest set are dropped when the origin
/// changes (the host's secrets are re-chosen per hop anyway).
fn follow(mut req: GuestRequest, status: StatusCode, next: Url) -> GuestRequest {
    let to_get = match status.as_u16() {
        303 => req.method != Method::HEAD,
        301 | 302 => req.method == Method::POST,
        _ => false,
    };
    if to_get {
        req.method = Method::GET;
        req.body = None;
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::CONTENT_LANGUAGE,
            header::CONTENT_LOCATION,
        ] {
            req.headers.remove(name);
        }
    }
    if next.origin() != req.url.origin() {
        for name in [header::AUTHORIZATION, header::COOKIE] {
            req.headers.remove(name);
        }
    }
    req.url = next;
    req
}

/// The guest's view of the response. The body is read up to `max_body`
/// bytes; past that it is cut and flagged `truncated`, and the rest is never
/// read (the connection is dropped).
async fn read(url: &Url, mut response: Response, max_body: usize) -> Result<Value, HttpError> {
    let status = response.status().as_u16();
    let headers = response_headers(response.headers());
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| HttpError::Connect {
            host: host.clone(),
            cause: innermost(&source),
            source,
        })?
    {
        let room = max_body - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(json!({
        "status": status,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "truncated": truncated,
        "url": url.as_str(),
    }))
}

/// Lowercased names; repeated headers joined with ", ".
fn response_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(name.as_str().to_owned(), Value::String(joined));
    }
    out
}

/// The deepest cause (e.g. "Connection refused (os error 111)", a TLS
/// verification failure): what the guest needs, without the wrapper chain.
fn innermost(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_pinned_resolver_answers_only_for_the_checked_host() {
        let addr: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let pinned = Pinned {
            host: "api.example.com".into(),
            addrs: vec![addr],
        };
        let got: Vec<_> = pinned
            .resolve("API.example.com".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(got, [addr]);
        assert!(
            pinned
                .resolve("evil.example.com".parse().unwrap())
                .await
                .is_err()
        );
    }

    #[test]
    fn see_other_and_post_found_become_a_bodiless_get_and_drop_credentials_across_origins() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let req = GuestRequest {
            method: Method::POST,
            url: "https://a.example.com/x".parse().unwrap(),
            headers,
            body: Some("b".into()),
        };
        let same = follow(
            req.clone(),
            StatusCode::TEMPORARY_REDIRECT,
            "https://a.example.com/y".parse().unwrap(),
        );
        assert_eq!(
            (same.method, same.body.as_deref()),
            (Method::POST, Some("b"))
        );
        assert!(same.headers.contains_key(header::AUTHORIZATION));
        let other = follow(
            req,
            StatusCode::FOUND,
            "https://b.example.com/".parse().unwrap(),
        );
        assert_eq!((other.method, other.body), (Method::GET, None));
        assert!(other.headers.is_empty(), "{:?}", other.headers);
    }
}
