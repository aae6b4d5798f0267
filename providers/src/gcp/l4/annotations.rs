//! The GKE annotations of a `type: LoadBalancer` Service, with GKE's meaning:
//! `networking.gke.io/load-balancer-type: Internal` (older: `cloud.google.com/load-balancer-type`)
//! for an internal passthrough load balancer, with `internal-load-balancer-subnet` and
//! `internal-load-balancer-allow-global-access`; `networking.gke.io/load-balancer-ip-addresses`
//! (reserved addresses by name); `cloud.google.com/network-tier` (external only). Every other
//! annotation under these prefixes that concerns a Service's load balancer is refused, so a
//! typo never silently yields a different load balancer; the ones that belong to Ingresses
//! (NEGs, BackendConfig, app protocols) pass.

use crate::error::{Error, Result};
use crate::frontend::Frontend;

pub const LB_TYPE: &str = "networking.gke.io/load-balancer-type";
pub const LB_TYPE_LEGACY: &str = "cloud.google.com/load-balancer-type";
pub const SUBNET: &str = "networking.gke.io/internal-load-balancer-subnet";
pub const GLOBAL_ACCESS: &str = "networking.gke.io/internal-load-balancer-allow-global-access";
pub const IP_ADDRESSES: &str = "networking.gke.io/load-balancer-ip-addresses";
pub const NETWORK_TIER: &str = "cloud.google.com/network-tier";
/// GKE's opt-in to backend-service-based external load balancers: what berth always builds.
pub const L4_RBS: &str = "cloud.google.com/l4-rbs";

const PREFIXES: [&str; 2] = ["networking.gke.io/", "cloud.google.com/"];
const SUPPORTED: [&str; 7] = [
    LB_TYPE,
    LB_TYPE_LEGACY,
    SUBNET,
    GLOBAL_ACCESS,
    IP_ADDRESSES,
    NETWORK_TIER,
    L4_RBS,
];
/// Under the same prefixes, but about Ingresses and their backends (read by the L7 side).
const FOR_INGRESSES: [&str; 6] = [
    "cloud.google.com/neg",
    "cloud.google.com/neg-status",
    "cloud.google.com/backend-config",
    "cloud.google.com/app-protocols",
    "networking.gke.io/max-rate-per-endpoint",
    "cloud.google.com/load-balancer-neg-ready",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    External,
    Internal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkTier {
    Premium,
    Standard,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L4Annotations {
    pub scheme: Scheme,
    /// Internal only: the subnetwork of the forwarding rule (default: the cluster's).
    pub subnet: Option<String>,
    /// Internal only: clients from every region may connect.
    pub global_access: bool,
    /// Reserved addresses (by name) for the forwarding rules; empty: ephemeral.
    pub ip_addresses: Vec<String>,
    /// External only; `None`: the project's default.
    pub network_tier: Option<NetworkTier>,
}

fn err(fe: &Frontend, key: &str, value: &str, expected: impl Into<String>) -> Error {
    Error::InvalidAnnotation {
        object: fe.object.clone(),
        annotation: key.to_string(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

fn get<'a>(fe: &'a Frontend, key: &str) -> Option<&'a str> {
    fe.annotations.get(key).map(|v| v.trim())
}

pub fn parse(fe: &Frontend) -> Result<L4Annotations> {
    for (k, v) in &fe.annotations {
        let ours = PREFIXES.iter().any(|p| k.starts_with(p));
        if ours && !SUPPORTED.contains(&k.as_str()) && !FOR_INGRESSES.contains(&k.as_str()) {
            return Err(err(
                fe,
                k,
                v,
                format!(
                    "an annotation berth honours on a LoadBalancer Service: {}",
                    SUPPORTED.join(", ")
                ),
            ));
        }
    }
    let type_value = match (get(fe, LB_TYPE), get(fe, LB_TYPE_LEGACY)) {
        (Some(new), Some(old)) if !new.eq_ignore_ascii_case(old) => {
            return Err(err(
                fe,
                LB_TYPE_LEGACY,
                old,
                format!("the same value as {LB_TYPE}={new:?}, which is set too: set one of them"),
            ))
        }
        (Some(v), _) => Some((LB_TYPE, v)),
        (None, Some(v)) => Some((LB_TYPE_LEGACY, v)),
        (None, None) => None,
    };
    let scheme = match type_value {
        None => Scheme::External,
        Some((_, v)) if v.eq_ignore_ascii_case("internal") => Scheme::Internal,
        Some((_, v)) if v.eq_ignore_ascii_case("external") => Scheme::External,
        Some((k, v)) => return Err(err(fe, k, v, "expected Internal or External")),
    };
    let internal_only = |key: &str| -> Result<()> {
        match get(fe, key) {
            Some(v) if scheme != Scheme::Internal => Err(err(
                fe,
                key,
                v,
                format!("only with {LB_TYPE}: Internal (this Service's load balancer is external)"),
            )),
            _ => Ok(()),
        }
    };
    internal_only(SUBNET)?;
    internal_only(GLOBAL_ACCESS)?;
    let subnet = match get(fe, SUBNET) {
        Some(v) if !crate::gcp::names::is_rfc1035(v) => {
            return Err(err(
                fe,
                SUBNET,
                v,
                "a subnetwork name (lower-case letters, digits and '-', at most 63)",
            ))
        }
        v => v.map(String::from),
    };
    let global_access = match get(fe, GLOBAL_ACCESS) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(err(fe, GLOBAL_ACCESS, v, "expected true or false")),
    };
    let ip_addresses = crate::gcp::names::comma_list(get(fe, IP_ADDRESSES));
    if let Some(bad) = ip_addresses
        .iter()
        .find(|a| !crate::gcp::names::is_rfc1035(a))
    {
        return Err(err(
            fe,
            IP_ADDRESSES,
            bad,
            "names of reserved address resources (at most one IPv4 and one IPv6), comma-separated",
        ));
    }
    if ip_addresses.len() > 2 {
        return Err(err(
            fe,
            IP_ADDRESSES,
            &ip_addresses.join(","),
            "at most two addresses (one IPv4, one IPv6)",
        ));
    }
    let network_tier = match get(fe, NETWORK_TIER) {
        None => None,
        Some(v) if scheme == Scheme::Internal => {
            return Err(err(
                fe,
                NETWORK_TIER,
                v,
                "only for external load balancers (an internal one has no network tier)",
            ))
        }
        Some(v) if v.eq_ignore_ascii_case("premium") => Some(NetworkTier::Premium),
        Some(v) if v.eq_ignore_ascii_case("standard") => Some(NetworkTier::Standard),
        Some(v) => return Err(err(fe, NETWORK_TIER, v, "expected Premium or Standard")),
    };
    if let Some(v) = get(fe, L4_RBS) {
        if !v.eq_ignore_ascii_case("enabled") {
            return Err(err(
                fe,
                L4_RBS,
                v,
                "enabled (berth always builds backend-service-based load balancers)",
            ));
        }
    }
    Ok(L4Annotations {
        scheme,
        subnet,
        global_access,
        ip_addresses,
        network_tier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::ObjectRef;

    fn fe(a: &[(&str, &str)]) -> Frontend {
        let mut f = Frontend::new(ObjectRef::service("shop", "web"), "c1");
        f.annotations = a
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        f
    }

    #[test]
    fn gke_annotations_valid_and_invalid() {
        let ok = |a: &[(&str, &str)]| parse(&fe(a)).unwrap_or_else(|e| panic!("{a:?}: {e}"));
        assert_eq!(ok(&[]).scheme, Scheme::External);
        assert_eq!(ok(&[(LB_TYPE, "Internal")]).scheme, Scheme::Internal);
        assert_eq!(ok(&[(LB_TYPE_LEGACY, "internal")]).scheme, Scheme::Internal);
        let i = ok(&[
            (LB_TYPE, "Internal"),
            (SUBNET, "ilb-subnet"),
            (GLOBAL_ACCESS, "true"),
        ]);
        assert_eq!(
            (i.subnet.as_deref(), i.global_access),
            (Some("ilb-subnet"), true)
        );
        assert_eq!(
            ok(&[(NETWORK_TIER, "Standard")]).network_tier,
            Some(NetworkTier::Standard)
        );
        assert_eq!(
            ok(&[(IP_ADDRESSES, "web-v4, web-v6")]).ip_addresses,
            ["web-v4", "web-v6"]
        );
        assert_eq!(
            ok(&[
                (L4_RBS, "enabled"),
                ("cloud.google.com/neg", "{\"ingress\": true}")
            ])
            .scheme,
            Scheme::External
        );

        // (annotations, the annotation named, what the message says)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let bad: &[Case] = &[
            (
                &[(LB_TYPE, "Private")],
                LB_TYPE,
                "expected Internal or External",
            ),
            (
                &[(LB_TYPE, "Internal"), (LB_TYPE_LEGACY, "External")],
                LB_TYPE_LEGACY,
                "set one of them",
            ),
            (&[(SUBNET, "s1")], SUBNET, "only with"),
            (&[(GLOBAL_ACCESS, "true")], GLOBAL_ACCESS, "only with"),
            (
                &[(LB_TYPE, "Internal"), (GLOBAL_ACCESS, "yes")],
                GLOBAL_ACCESS,
                "true or false",
            ),
            (
                &[(LB_TYPE, "Internal"), (SUBNET, "Not_A_Name")],
                SUBNET,
                "subnetwork name",
            ),
            (
                &[(LB_TYPE, "Internal"), (NETWORK_TIER, "Premium")],
                NETWORK_TIER,
                "only for external",
            ),
            (
                &[(NETWORK_TIER, "Gold")],
                NETWORK_TIER,
                "Premium or Standard",
            ),
            (&[(IP_ADDRESSES, "a,b,c")], IP_ADDRESSES, "at most two"),
            (
                &[(IP_ADDRESSES, "10.0.0.1")],
                IP_ADDRESSES,
                "names of reserved address",
            ),
            (&[(L4_RBS, "disabled")], L4_RBS, "enabled"),
            (
                &[("networking.gke.io/load-balancer-typ", "Internal")],
                "networking.gke.io/load-balancer-typ",
                "honours",
            ),
        ];
        for (a, key, want) in bad {
            let e = parse(&fe(a))
                .expect_err(&format!("{a:?} is refused"))
                .to_string();
            assert!(
                e.contains(key) && e.contains(want) && e.contains("Service shop/web"),
                "{a:?}: {e}"
            );
        }
    }
}
