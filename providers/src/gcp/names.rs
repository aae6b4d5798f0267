//! GCP resource names: RFC 1035 (lower-case letters, digits and '-', starting with a letter,
//! at most 63 characters), deterministic, and unique per cluster. The scheme is GKE's L4 one
//! (ingress-gce's `L4Namer`: `k8s2-{cluster hash}-{namespace}-{name}-{hash}`, namespace and name
//! trimmed evenly) with berth's own prefix, so berth never takes a name GKE's controllers use
//! on the same cluster: `berth-{cluster hash}-{namespace}-{name}-{hash}`.

use crate::naming::hash_hex;

const PREFIX: &str = "berth";
const MAX: usize = 63;
/// Length of the cluster hash and of the per-object hash.
const HASH: usize = 8;
/// Room for `{namespace}-{name}`: 63 less the prefix, two hashes and four dashes.
const COMBINED: usize = MAX - PREFIX.len() - 2 * HASH - 4;

/// The cluster's part of every name: two clusters of one project never share a name.
pub fn cluster_hash(cluster: &str) -> String {
    hash_hex(&["cluster", cluster], HASH)
}

fn object_hash(cluster: &str, namespace: &str, name: &str) -> String {
    hash_hex(&[cluster, namespace, name], HASH)
}

/// Shortens the fields so that together they fit `max`, each in proportion to its length
/// (ingress-gce's `TrimFieldsEvenly`).
pub fn trim_evenly(max: usize, fields: &[&str]) -> Vec<String> {
    let total: usize = fields.iter().map(|f| f.len()).sum();
    if total <= max {
        return fields.iter().map(|f| f.to_string()).collect();
    }
    let excess = total - max;
    let mut lengths: Vec<usize> = fields
        .iter()
        .map(|f| (f.len() - f.len() * excess / total).saturating_sub(1))
        .collect();
    let used: usize = lengths.iter().sum();
    for l in lengths.iter_mut().take(max.saturating_sub(used)) {
        *l += 1;
    }
    fields
        .iter()
        .zip(lengths)
        .map(|(f, l)| f[..l.min(f.len())].to_string())
        .collect()
}

/// Joins the parts with '-'; a field trimmed to end in '-' loses it (no "--" in names).
fn join(parts: &[&str]) -> String {
    let s = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_end_matches('-'))
        .collect::<Vec<_>>()
        .join("-");
    s[..s.len().min(MAX)].to_string()
}

/// The backend service, health check and firewall of one Service (as GKE's `L4Backend`).
pub fn l4_backend(cluster: &str, namespace: &str, name: &str) -> String {
    let ns_name = trim_evenly(COMBINED - 1, &[namespace, name]);
    join(&[
        PREFIX,
        &cluster_hash(cluster),
        &ns_name[0],
        &ns_name[1],
        &object_hash(cluster, namespace, name),
    ])
}

/// A Service's forwarding rule for one protocol (`tcp`, `udp`): the protocol after the prefix,
/// the rest as [`l4_backend`], cut to fit.
pub fn l4_forwarding_rule(cluster: &str, namespace: &str, name: &str, protocol: &str) -> String {
    typed(protocol, cluster, namespace, name)
}

/// An object's resource of one type (`um` URL map, `tp`/`ts` HTTP(S) proxy, `fr`/`fs` HTTP(S)
/// forwarding rule, `ip` address, `fw` firewall rule: ingress-gce's v2 frontend scheme,
/// `k8s2-{type}-{cluster}-{namespace}-{name}-{hash}`, with berth's prefix).
pub fn typed(kind: &str, cluster: &str, namespace: &str, name: &str) -> String {
    let ns_name = trim_evenly(COMBINED - 1 - kind.len() - 1, &[namespace, name]);
    join(&[
        PREFIX,
        kind,
        &cluster_hash(cluster),
        &ns_name[0],
        &ns_name[1],
        &object_hash(cluster, namespace, name),
    ])
}

/// The backend service (`be`) or health check (`hc`) of one Ingress for one Service port:
/// `berth-{be|hc}-{cluster}-{namespace}-{service}-{port}-{hash of the Ingress and the port}`.
pub fn l7_backend(
    kind: &str,
    cluster: &str,
    namespace: &str,
    ingress: &str,
    service: &str,
    port: &str,
) -> String {
    let room = COMBINED - 1 - kind.len() - 1 - port.len() - 1;
    let ns_svc = trim_evenly(room, &[namespace, service]);
    join(&[
        PREFIX,
        kind,
        &cluster_hash(cluster),
        &ns_svc[0],
        &ns_svc[1],
        port,
        &hash_hex(&[cluster, namespace, ingress, service, port], HASH),
    ])
}

/// The firewall rule that lets Google's health checkers reach a Service's nodes.
pub fn l4_health_check_firewall(cluster: &str, namespace: &str, name: &str) -> String {
    suffixed(&l4_backend(cluster, namespace, name), "-fw")
}

/// The health check every Service with `externalTrafficPolicy: Cluster` shares (kube-proxy's
/// health port on every node), and its firewall rule: shared resources of the cluster.
pub fn shared_health_check(cluster: &str) -> String {
    join(&[PREFIX, &cluster_hash(cluster), "l4-shared-hc"])
}

pub fn shared_health_check_firewall(cluster: &str) -> String {
    join(&[PREFIX, &cluster_hash(cluster), "l4-shared-hc-fw"])
}

/// The cluster's instance group in each zone (the same name in every zone), shared by every
/// load balancer of the cluster.
pub fn instance_group(cluster: &str) -> String {
    join(&[PREFIX, &cluster_hash(cluster), "ig"])
}

/// `name` with `suffix`, cutting `name` so that the whole fits 63 characters.
fn suffixed(name: &str, suffix: &str) -> String {
    let keep = MAX - suffix.len();
    format!("{}{suffix}", &name[..name.len().min(keep)])
}

/// A comma-separated list of names (addresses, network tags), blanks dropped.
pub fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `s` is a valid GCP resource name.
pub fn is_rfc1035(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_is_even_and_fits() {
        assert_eq!(trim_evenly(10, &["abc", "de"]), ["abc", "de"]);
        let t = trim_evenly(10, &["aaaaaaaaaa", "bbbbbbbbbb"]);
        assert_eq!(t.iter().map(String::len).sum::<usize>(), 10);
        assert_eq!(t, ["aaaaa", "bbbbb"]);
        let t = trim_evenly(12, &["a".repeat(30).as_str(), "bb"]);
        assert!(t.iter().map(String::len).sum::<usize>() <= 12, "{t:?}");
        assert!(t[1].len() <= 2);
    }

    #[test]
    fn names_are_rfc1035_unique_per_cluster_and_stable() {
        let long = "n".repeat(63);
        let cases = [
            l4_backend("prod", "shop", "web"),
            l4_backend("prod", &long, &long),
            l4_forwarding_rule("prod", "shop", "web", "tcp"),
            l4_forwarding_rule("prod", &long, &long, "udp"),
            l4_health_check_firewall("prod", &long, &long),
            shared_health_check("prod"),
            shared_health_check_firewall("prod"),
            instance_group("prod"),
            typed("um", "prod", &long, &long),
            l7_backend("be", "prod", &long, &long, &long, "http"),
            l7_backend("hc", "prod", "shop", "web", "api", "8080"),
        ];
        for n in &cases {
            assert!(is_rfc1035(n), "{n} ({} characters)", n.len());
            assert!(n.starts_with("berth-"), "{n}");
        }
        assert_eq!(
            l4_backend("prod", "shop", "web"),
            l4_backend("prod", "shop", "web")
        );
        assert_ne!(
            l4_backend("prod", "shop", "web"),
            l4_backend("stage", "shop", "web")
        );
        // Long names that share their trimmed prefix still differ (the object hash).
        let a = format!("{long}a");
        let b = format!("{long}b");
        assert_ne!(l4_backend("prod", "ns", &a), l4_backend("prod", "ns", &b));
        assert_ne!(
            l4_forwarding_rule("prod", "shop", "web", "tcp"),
            l4_forwarding_rule("prod", "shop", "web", "udp")
        );
        assert!(!is_rfc1035("9abc") && !is_rfc1035("abc-") && !is_rfc1035("aBc"));
    }
}
