//! The caller's address: the socket's peer, or — when that peer is one of the configured
//! `trusted_proxies` (a load balancer in front of several servers) — the address the proxies
//! say they received the request from, in `X-Forwarded-For` or `Forwarded`.
//!
//! The hops are read from the right: each trusted proxy appends the address it was connected
//! from, so the first address from the right that is not a trusted proxy is the caller. What a
//! caller writes in the header itself sits to the left of that and is never believed; an entry
//! that does not parse ends the walk at the hop that reported it.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Parses `trusted_proxies` entries: addresses (`10.0.0.5`) or networks (`10.0.0.0/8`). The
/// error names the entry.
pub fn parse_proxies(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "trusted_proxies: {entry:?} is neither an address (10.0.0.5) nor a \
                         network (10.0.0.0/8)"
                    )
                })
        })
        .collect()
}

/// The caller's address for a request that reached us from `peer` with `headers`.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let trusts = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    let mut caller = canonical(peer.ip());
    if !trusts(&caller) {
        return caller;
    }
    for hop in hops(headers).iter().rev() {
        let Some(ip) = hop else {
            return caller;
        };
        caller = *ip;
        if !trusts(ip) {
            return caller;
        }
    }
    caller
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:10.0.0.5`) as the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The forwarded-for chain, left to right (`None` for an entry that does not parse):
/// `X-Forwarded-For` when present, else the `for=` of `Forwarded` (RFC 7239); a request with both
/// gets one `None`.
fn hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    // Both at once: one of them may be the caller's own writing, passed on by a proxy that
    // writes the other; neither is believed (the proxy's address stands).
    if !xff.is_empty() && headers.contains_key("forwarded") {
        return vec![None];
    }
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|v| v.split(','))
            .map(|entry| node(entry.trim()))
            .collect();
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node(value.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// `10.0.0.5`, `10.0.0.5:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let inner = text.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 50000)
    }

    #[test]
    fn headers_count_only_from_a_trusted_proxy() {
        let trusted = parse_proxies(&["10.0.0.0/8".into(), "192.168.1.7".into()]).unwrap();
        let forged = headers(&[("x-forwarded-for", "1.2.3.4")]);
        // A caller straight on the socket: its own header is ignored.
        assert_eq!(
            client_address(peer("203.0.113.9"), &forged, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Through the proxy, which appended the caller's address to what the caller wrote.
        let proxied = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(
            client_address(peer("10.0.0.2"), &proxied, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Two proxies deep, one header line each.
        let two = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "192.168.1.7"),
        ]);
        assert_eq!(
            client_address(peer("10.0.0.2"), &two, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Garbage from the caller's side stops at the proxy that reported it.
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, nonsense")]);
        assert_eq!(
            client_address(peer("10.0.0.2"), &garbage, &trusted),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        // No header at all: the proxy itself.
        assert_eq!(
            client_address(peer("10.0.0.2"), &HeaderMap::new(), &trusted),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        // Nothing configured: never believed.
        assert_eq!(
            client_address(peer("10.0.0.2"), &proxied, &[]),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_and_address_forms() {
        let trusted = parse_proxies(&["127.0.0.1".into(), "::1".into()]).unwrap();
        let h = headers(&[(
            "forwarded",
            r#"for=1.2.3.4, for="[2001:db8::1]:4711";proto=https"#,
        )]);
        assert_eq!(
            client_address(peer("::1"), &h, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("x-forwarded-for", "198.51.100.4:1234")]);
        assert_eq!(
            client_address(peer("::ffff:127.0.0.1"), &h, &trusted),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        // A proxy writing `Forwarded` passes on the caller's own `X-Forwarded-For`: neither counts.
        let both = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=198.51.100.4"),
        ]);
        assert_eq!(
            client_address(peer("127.0.0.1"), &both, &trusted),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let err = parse_proxies(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }
}
