//! Allowed-host patterns: `api.example.com`, `*.example.com`, `10.0.0.5`,
//! `[::1]`, each with an optional `:port`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::Host;

/// A parsed allowed-host pattern.
///
/// - `api.example.com` matches that host only.
/// - `*.example.com` matches any subdomain (`a.example.com`, `a.b.example.com`)
///   but never `example.com` itself, and never `evil-example.com`.
/// - An IP literal (`10.0.0.5`, `[fd00::1]`) matches a URL whose host parses
///   to that address, however it was spelled (`http://0x0a.0.0.5/`).
/// - With `:port` only that port matches; without one only the scheme's
///   default port (80 for http, 443 for https) does.
///
/// Patterns are case-insensitive (stored lowercase). IDNA is not applied:
/// write internationalised names in their `xn--` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: PatternHost,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternHost {
    Exact(String),
    /// The suffix after `*.`, e.g. `example.com`.
    Subdomains(String),
    Ip(IpAddr),
}

/// Why a pattern string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

impl HostPattern {
    /// Whether `host` (as the `url` crate parsed it) on `port` matches.
    /// `default_port` is the URL scheme's default.
    pub fn matches(&self, host: &Host<&str>, port: u16, default_port: u16) -> bool {
        self.port.unwrap_or(default_port) == port && self.matches_host(host)
    }

    /// Whether `host` matches, whatever the port.
    pub fn matches_host(&self, host: &Host<&str>) -> bool {
        match (&self.host, host) {
            (PatternHost::Exact(want), Host::Domain(d)) => normalise_domain(d) == want,
            (PatternHost::Subdomains(suffix), Host::Domain(d)) => normalise_domain(d)
                .strip_suffix(suffix.as_str())
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
            (PatternHost::Ip(want), Host::Ipv4(ip)) => *want == IpAddr::V4(*ip),
            (PatternHost::Ip(want), Host::Ipv6(ip)) => *want == IpAddr::V6(*ip),
            _ => false,
        }
    }
}

impl HostPattern {
    /// Whether every URL `other` matches is matched by `self` too: a tenant
    /// may grant `other` only if one of its own patterns covers it. Ports
    /// must be equal (no port means the scheme's default, which differs
    /// between http and https).
    pub fn covers(&self, other: &HostPattern) -> bool {
        if self.port != other.port {
            return false;
        }
        match (&self.host, &other.host) {
            (PatternHost::Exact(a), PatternHost::Exact(b)) => a == b,
            (PatternHost::Ip(a), PatternHost::Ip(b)) => a == b,
            (PatternHost::Subdomains(suffix), PatternHost::Exact(name)) => name
                .strip_suffix(suffix.as_str())
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
            (PatternHost::Subdomains(outer), PatternHost::Subdomains(inner)) => {
                inner == outer
                    || inner
                        .strip_suffix(outer.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            _ => false,
        }
    }
}

/// The URL parser keeps a trailing root dot (`example.com.`); it names the
/// same host, so it must neither dodge nor miss a pattern.
fn normalise_domain(d: &str) -> &str {
    d.strip_suffix('.').unwrap_or(d)
}

impl FromStr for HostPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| PatternError {
            pattern: s.to_owned(),
            reason,
        };
        let lower = s.to_ascii_lowercase();
        if lower.is_empty() {
            return Err(err("empty"));
        }

        if lower.contains("://") || lower.contains(['/', '@', '?', '#']) {
            return Err(err("a pattern is a host with an optional :port, not a URL"));
        }
        let (host, port) = split_port(&lower).map_err(err)?;
        // A name's lengths bound every unbracketed form, also those the URL
        // parser reads as an address (`000…0` is 0.0.0.0 however long); the
        // whole pattern, port and wildcard included, as openapi.yaml says.
        if !host.starts_with('[') {
            if lower.len() > 253 {
                return Err(err("longer than 253 bytes"));
            }
            check_lengths(host).map_err(err)?;
        }
        let host = if let Some(v6) = host.strip_prefix('[') {
            let v6 = v6.strip_suffix(']').ok_or_else(|| err("unclosed '['"))?;
            PatternHost::Ip(IpAddr::V6(
                v6.parse().map_err(|_| err("not an IPv6 address"))?,
            ))
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            PatternHost::Ip(ip)
        } else if let Ok(Host::Ipv4(ip)) = Host::parse(host) {
            // The URL parser reads `0x7f.1` as 127.0.0.1; so must the pattern,
            // or it would be a name that no URL can ever match.
            PatternHost::Ip(IpAddr::V4(ip))
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_domain(suffix).map_err(err)?;
            if !suffix.contains('.') {
                return Err(err(
                    "a wildcard must cover a name with at least two labels, e.g. *.example.com",
                ));
            }
            PatternHost::Subdomains(suffix.to_owned())
        } else {
            check_domain(host).map_err(err)?;
            PatternHost::Exact(host.to_owned())
        };
        Ok(Self { host, port })
    }
}

/// Splits `host[:port]`; a bare IPv6 address without brackets has colons but no port.
fn split_port(s: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if s.starts_with('[') {
        match s.rsplit_once("]:") {
            Some((h, p)) => (&s[..=h.len()], Some(p)),
            None => (s, None),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').ok_or("bad port")?;
        (h, Some(p))
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        (s, None)
    } else if s.contains(':') {
        return Err("an IPv6 address needs brackets: [::1] or [::1]:8080");
    } else {
        (s, None)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("port must be a number from 1 to 65535"),
            Ok(p) => Some(p),
        },
    };
    Ok((host, port))
}

/// At most 253 bytes, and 63 between dots.
fn check_lengths(d: &str) -> Result<(), &'static str> {
    if d.len() > 253 {
        return Err("name longer than 253 bytes");
    }
    if d.split('.').any(|label| label.len() > 63) {
        return Err("label longer than 63 bytes");
    }
    Ok(())
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`.
fn check_domain(d: &str) -> Result<(), &'static str> {
    check_lengths(d)?;
    if d.contains('*') {
        return Err("'*' is only allowed as a whole leading label, as in *.example.com");
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err("empty label (leading, trailing or double dot)");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, '-' and '_' are allowed in a name");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'");
        }
    }
    Ok(())
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            PatternHost::Exact(h) => f.write_str(h)?,
            PatternHost::Subdomains(s) => write!(f, "*.{s}")?,
            PatternHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            PatternHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    #[test]
    fn a_pattern_covers_only_what_it_matches() {
        let covers = |outer: &str, inner: &str| p(outer).covers(&p(inner));
        assert!(covers("*.example.com", "api.example.com"));
        assert!(covers("*.example.com", "*.api.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(covers("api.example.com", "API.example.com"));
        assert!(covers("10.0.0.1:8080", "10.0.0.1:8080"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "api.badexample.com"));
        assert!(!covers("*.example.com", "*.badexample.com"));
        assert!(!covers("api.example.com", "*.api.example.com"));
        assert!(!covers("api.example.com", "api.example.com:8443"));
        assert!(!covers("api.example.com:443", "api.example.com"));
        assert!(!covers("*.example.com:443", "api.example.com"));
        assert!(!covers("10.0.0.1", "10.0.0.2"));
    }

    fn url_matches(pattern: &str, url: &str) -> bool {
        let u = url::Url::parse(url).unwrap();
        p(pattern).matches(
            &u.host().unwrap(),
            u.port_or_known_default().unwrap(),
            if u.scheme() == "https" { 443 } else { 80 },
        )
    }

    #[test]
    fn an_exact_pattern_matches_only_its_host_case_insensitively() {
        assert!(url_matches("API.Example.com", "https://api.example.COM/x"));
        assert!(url_matches("api.example.com", "https://api.example.com./x"));
        assert!(!url_matches("api.example.com", "https://example.com/"));
        assert!(!url_matches(
            "api.example.com",
            "https://x.api.example.com/"
        ));
    }

    #[test]
    fn a_wildcard_matches_subdomains_but_not_the_apex_or_lookalikes() {
        assert!(url_matches("*.example.com", "https://a.example.com/"));
        assert!(url_matches("*.example.com", "https://a.b.example.com/"));
        assert!(!url_matches("*.example.com", "https://example.com/"));
        assert!(!url_matches("*.example.com", "https://evil-example.com/"));
        assert!(!url_matches(
            "*.example.com",
            "https://example.com.evil.net/"
        ));
        assert!(!url_matches("*.example.com", "https://127.0.0.1/"));
    }

    #[test]
    fn without_a_port_only_the_schemes_default_port_matches() {
        assert!(url_matches("example.com", "http://example.com/"));
        assert!(url_matches("example.com", "https://example.com:443/"));
        assert!(!url_matches("example.com", "http://example.com:443/"));
        assert!(!url_matches("example.com", "https://example.com:8443/"));
    }

    #[test]
    fn an_explicit_port_matches_only_that_port() {
        assert!(url_matches(
            "api.example.com:8443",
            "https://api.example.com:8443/"
        ));
        assert!(!url_matches(
            "api.example.com:8443",
            "https://api.example.com/"
        ));
    }

    #[test]
    fn an_ip_pattern_matches_every_spelling_of_its_address() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
        ] {
            assert!(url_matches("127.0.0.1", url), "{url}");
        }
        assert!(url_matches("[::1]:8080", "http://[0:0::1]:8080/"));
        assert!(url_matches("[::ffff:127.0.0.1]", "http://[::ffff:7f00:1]/"));
        assert!(!url_matches("127.0.0.1", "http://localhost/"));
        assert!(!url_matches("localhost", "http://127.0.0.1/"));
    }

    #[test]
    fn patterns_display_in_canonical_form() {
        assert_eq!(p("*.Example.COM").to_string(), "*.example.com");
        assert_eq!(p("[0::1]:80").to_string(), "[::1]:80");
        assert_eq!(p("::1").to_string(), "[::1]");
        assert_eq!(p("10.0.0.1:8080").to_string(), "10.0.0.1:8080");
        assert_eq!(p("0x7f.1").to_string(), "127.0.0.1");
    }

    #[test]
    fn garbage_is_refused_with_an_error_naming_the_pattern() {
        for bad in [
            "",
            " example.com",
            "*",
            "*.",
            "*.com",
            "api.*.com",
            "foo*.example.com",
            "https://example.com",
            "example.com/path",
            "user@example.com",
            "example.com:0",
            "example.com:99999",
            "example.com:http",
            "exa mple.com",
            ".example.com",
            "example..com",
            "-bad.example.com",
            "[::1",
            "fe80::1:80:x",
        ] {
            let e = bad.parse::<HostPattern>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    mod props {
        use proptest::prelude::*;
        use url::Url;

        use super::super::*;

        fn label() -> impl Strategy<Value = String> {
            "[a-z0-9]([a-z0-9_-]{0,8}[a-z0-9])?"
        }

        fn name() -> impl Strategy<Value = String> {
            prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
        }

        proptest! {
            /// Any text is a pattern or a refusal, never a panic; a pattern
            /// reads back from its own spelling, and no unbracketed pattern
            /// is longer than 253 bytes.
            #[test]
            fn any_text_parses_or_is_refused(text in "\\PC{0,300}|[0-9a-zA-Z.:*\\[\\]_-]{0,300}") {
                if let Ok(pattern) = text.parse::<HostPattern>() {
                    let again: HostPattern = pattern.to_string().parse().unwrap();
                    prop_assert_eq!(&again, &pattern);
                    prop_assert!(text.starts_with('[') || text.len() <= 253);
                }
            }

            /// The url crate is the oracle for what host and port a URL
            /// reaches: a pattern allows the URL exactly when that host is
            /// its name (or, for `*.`, a subdomain of it) and the port agrees.
            #[test]
            fn a_pattern_allows_exactly_the_urls_that_reach_it(
                pattern_name in name(),
                url_name in prop_oneof![name(), Just(String::new())],
                wildcard: bool,
                pattern_port in prop::option::of(1u16..),
                url_port in prop::option::of(1u16..),
                https: bool,
            ) {
                // Sometimes the URL's host is a subdomain of the pattern's name.
                let url_host = if url_name.is_empty() { pattern_name.clone() } else { format!("{url_name}.{pattern_name}") };
                let spelled = format!(
                    "{}{pattern_name}{}",
                    if wildcard { "*." } else { "" },
                    pattern_port.map(|p| format!(":{p}")).unwrap_or_default()
                );
                let Ok(pattern) = spelled.parse::<HostPattern>() else {
                    // Refused: only a wildcard over a single label, or a name
                    // the URL parser reads as an address (also under it).
                    let last = pattern_name.rsplit('.').next().unwrap_or_default();
                    let not_a_domain = Url::parse(&format!("http://x.{last}/"))
                        .map_or(true, |u| !matches!(u.host(), Some(url::Host::Domain(_))));
                    prop_assert!(wildcard && !pattern_name.contains('.') || not_a_domain, "{} refused", spelled);
                    return Ok(());
                };
                let scheme = if https { "https" } else { "http" };
                let url = format!("{scheme}://{url_host}{}/", url_port.map(|p| format!(":{p}")).unwrap_or_default());
                let Ok(url) = Url::parse(&url) else { return Ok(()) };
                let Some(host) = url.host() else { return Ok(()) };
                let default = if https { 443 } else { 80 };
                let port = url.port_or_known_default().unwrap();
                let host_str = url.host_str().unwrap();
                let host_ok = match &pattern.host {
                    PatternHost::Exact(want) => host_str == want,
                    // A wildcard covers names. A host the URL parser reads
                    // as an address is none, even when its spelling ends in
                    // the suffix (`*.0.0` and http://0.0.0.0/).
                    PatternHost::Subdomains(suffix) => {
                        matches!(host, url::Host::Domain(_)) && host_str.ends_with(&format!(".{suffix}"))
                    }
                    PatternHost::Ip(ip) => host_str.trim_matches(['[', ']']).parse::<IpAddr>().ok() == Some(*ip),
                };
                let port_ok = pattern.port.unwrap_or(default) == port;
                prop_assert_eq!(pattern.matches(&host, port, default), host_ok && port_ok, "{} vs {}", spelled, url);
            }
        }
    }
}
