//! Which IP addresses a guest may reach: public unicast only, unless the
//! operator allow-lists an address or network for an internal service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Addresses and networks the operator lets guests reach even though they
/// are private, loopback or otherwise special (e.g. `10.1.2.3`, `127.0.0.1/32`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressAllowList(Vec<IpNet>);

/// An `allow_addresses` entry that is neither an address nor a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid allow_addresses entry {entry:?}: expected an IP address or CIDR network such as 10.0.0.0/8"
)]
pub struct AddressListError {
    pub entry: String,
}

impl AddressAllowList {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AddressListError> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| AddressListError {
                        entry: entry.to_owned(),
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` is listed; `::ffff:10.0.0.1` counts as `10.0.0.1`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.0
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }
}

/// `Err(reason)` when a guest must not connect to `ip`.
pub fn check(ip: IpAddr, allow: &AddressAllowList) -> Result<(), &'static str> {
    match special_purpose(ip) {
        Some(reason) if !allow.contains(ip) => Err(reason),
        _ => Ok(()),
    }
}

/// What makes `ip` unfit for a guest, if anything: every range that is not
/// plain public unicast, so a name or literal can't lead into the host's
/// network, the cloud metadata service, or the operator's internal services.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let reason = match ip.octets() {
        [0, ..] => "unspecified (0.0.0.0/8)",
        [10, ..] | [192, 168, ..] => "private",
        [172, b, ..] if b & 0xf0 == 16 => "private",
        [100, b, ..] if b & 0xc0 == 64 => "shared CGNAT (100.64.0.0/10)",
        [127, ..] => "loopback",
        [169, 254, 169, 254] => "link-local cloud metadata",
        [169, 254, ..] => "link-local",
        [192, 0, 0, _] => "reserved (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 88, 99, _] => "reserved 6to4 relay",
        [198, b, ..] if b & 0xfe == 18 => "benchmarking",
        [255, 255, 255, 255] => "broadcast",
        [a, ..] if a >= 240 => "reserved (240.0.0.0/4)",
        [a, ..] if a >= 224 => "multicast",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4-mapped address reaches the IPv4 host: judge it as that host.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let reason = match ip.segments() {
        [0, 0, 0, 0, 0, 0, _, _] => "reserved IPv4-compatible (::/96)",
        // NAT64 and 6to4 gateways forward to the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return v4_reason(embedded(hi, lo)),
        [0x2002, hi, lo, ..] => return v4_reason(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "reserved local-use NAT64",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x3fff, b, ..] if b < 0x1000 => "documentation",
        [0x2001, b, ..] if b < 0x200 => "reserved (2001::/23, incl. Teredo)",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique-local",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        [a, ..] if a & 0xe000 != 0x2000 => "reserved (outside 2000::/3)",
        _ => return None,
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        special_purpose(s.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_fine() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn special_ipv4_ranges_are_named() {
        for (ip, want) in [
            ("0.0.0.0", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "CGNAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "metadata"),
            ("169.254.1.1", "link-local"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.1", "documentation"),
            ("203.0.113.1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
        ] {
            let got = reason(ip).unwrap_or_default();
            assert!(got.contains(want), "{ip}: {got:?}");
        }
    }

    #[test]
    fn special_ipv6_ranges_are_named() {
        for (ip, want) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:a00:1::", "private"),
            ("fc00::1", "unique-local"),
            ("fd00:ec2::254", "unique-local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001::1", "Teredo"),
            ("100::1", "discard"),
            ("4000::1", "reserved"),
        ] {
            let got = reason(ip).unwrap_or_default();
            assert!(got.contains(want), "{ip}: {got:?}");
        }
    }

    #[test]
    fn an_allow_list_opens_exactly_its_addresses() {
        let allow = AddressAllowList::parse(&["127.0.0.1/32", "10.1.0.0/16", "fd00::5"]).unwrap();
        let ok = |s: &str| check(s.parse().unwrap(), &allow).is_ok();
        assert!(ok("127.0.0.1"));
        assert!(ok("::ffff:127.0.0.1"));
        assert!(ok("10.1.200.3"));
        assert!(ok("fd00::5"));
        assert!(!ok("127.0.0.2"));
        assert!(!ok("10.2.0.1"));
        assert!(!ok("fd00::6"));
        assert!(!ok("169.254.169.254"));
        assert!(ok("8.8.8.8"));
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        let e = AddressAllowList::parse(&["10.0.0.0/8", "localhost"]).unwrap_err();
        assert!(e.to_string().contains("\"localhost\""), "{e}");
    }

    mod props {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

        use ipnet::IpNet;
        use proptest::prelude::*;

        use super::super::*;

        /// IANA's IPv4 special-purpose registry (RFC 6890 and successors),
        /// checked with ipnet's arithmetic rather than ours.
        const V4_SPECIAL: &[&str] = &[
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        ];

        fn v4_special(ip: Ipv4Addr) -> bool {
            V4_SPECIAL
                .iter()
                .any(|n| n.parse::<IpNet>().unwrap().contains(&IpAddr::V4(ip)))
        }

        /// Addresses near the edges of the special ranges, not only random ones.
        fn v4() -> impl Strategy<Value = Ipv4Addr> {
            prop_oneof![
                any::<u32>().prop_map(Ipv4Addr::from),
                (prop::sample::select(V4_SPECIAL), any::<u32>(), -2i64..=2).prop_map(
                    |(net, r, edge)| {
                        let net: ipnet::Ipv4Net = net.parse().unwrap();
                        let base = u32::from(net.network()) as i64;
                        let size = 1i64 << (32 - u32::from(net.prefix_len()));
                        let offset = if edge == 0 {
                            i64::from(r) % size
                        } else if edge > 0 {
                            size - 1 + edge
                        } else {
                            edge
                        };
                        Ipv4Addr::from((base + offset).rem_euclid(1 << 32) as u32)
                    }
                ),
            ]
        }

        proptest! {
            #[test]
            fn ipv4_is_refused_exactly_in_the_registry(ip in v4()) {
                prop_assert_eq!(special_purpose(IpAddr::V4(ip)).is_some(), v4_special(ip), "{}", ip);
                // std's own predicates: each of them must be refused.
                let std_special = ip.is_private() || ip.is_loopback() || ip.is_link_local()
                    || ip.is_broadcast() || ip.is_documentation() || ip.is_unspecified()
                    || ip.is_multicast();
                prop_assert!(!std_special || special_purpose(IpAddr::V4(ip)).is_some(), "{}", ip);
            }

            /// An IPv4 address in any IPv6 spelling that reaches it (mapped,
            /// NAT64, 6to4) is judged as that IPv4 address.
            #[test]
            fn ipv6_spellings_of_ipv4_are_judged_as_ipv4(ip in v4()) {
                let [a, b, c, d] = ip.octets();
                let hi = u16::from_be_bytes([a, b]);
                let lo = u16::from_be_bytes([c, d]);
                let expected = special_purpose(IpAddr::V4(ip));
                for v6 in [
                    ip.to_ipv6_mapped(),
                    Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
                    Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
                ] {
                    prop_assert_eq!(special_purpose(IpAddr::V6(v6)), expected, "{}", v6);
                }
            }

            #[test]
            fn ipv6_special_addresses_by_std_are_refused(bits: u128) {
                let ip = Ipv6Addr::from(bits);
                let std_special = ip.is_loopback() || ip.is_unspecified() || ip.is_multicast()
                    || ip.is_unique_local() || ip.is_unicast_link_local();
                prop_assert!(!std_special || special_purpose(IpAddr::V6(ip)).is_some(), "{}", ip);
                // Only global unicast (2000::/3) is ever allowed.
                if special_purpose(IpAddr::V6(ip)).is_none() {
                    prop_assert_eq!(ip.segments()[0] & 0xe000, 0x2000, "{}", ip);
                }
            }
        }
    }
}
