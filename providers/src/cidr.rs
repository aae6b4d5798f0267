//! CIDRs as users write them (`spec.loadBalancerSourceRanges`, `inbound-cidrs`, …): parsed and
//! normalised once, so every cloud compares and writes the same text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A CIDR (`address/prefix`), IPv4 or IPv6, as its network address (host bits cleared, IPv6 in
/// its canonical text form); `None` if it is not one.
pub fn normalize_cidr(v: &str) -> Option<String> {
    let (addr, len) = v.trim().split_once('/')?;
    if len.is_empty() || !len.chars().all(|c| c.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            Some(format!("{}/{len}", Ipv4Addr::from(u32::from(a) & mask)))
        }
        IpAddr::V6(a) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            Some(format!("{}/{len}", Ipv6Addr::from(u128::from(a) & mask)))
        }
        _ => None,
    }
}

/// Whether a normalised CIDR is IPv6.
pub fn is_v6(cidr: &str) -> bool {
    cidr.contains(':')
}

/// IPv4 first, then IPv6, each sorted, duplicates removed (the order clouds report them in
/// does not matter, and a plan must not depend on the order a user wrote them).
pub fn sort_dedup(cidrs: &mut Vec<String>) {
    cidrs.sort_by_key(|c| (is_v6(c), c.clone()));
    cidrs.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_normalised_or_refused() {
        assert_eq!(normalize_cidr("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(normalize_cidr("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            normalize_cidr(" 1.2.3.4/32 ").as_deref(),
            Some("1.2.3.4/32")
        );
        assert_eq!(
            normalize_cidr("2001:DB8:0:0::1/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(normalize_cidr("::/0").as_deref(), Some("::/0"));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.0/",
            "/8",
            "10.0.0.0/0008",
            "",
        ] {
            assert_eq!(normalize_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn v4_sorts_before_v6_and_duplicates_go() {
        let mut l = vec![
            "::/0".to_string(),
            "10.0.0.0/8".into(),
            "1.0.0.0/8".into(),
            "10.0.0.0/8".into(),
        ];
        sort_dedup(&mut l);
        assert_eq!(l, ["1.0.0.0/8", "10.0.0.0/8", "::/0"]);
    }
}
