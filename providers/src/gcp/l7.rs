//! Ingress -> global external Application Load Balancer (ingress-gce's meaning, classic
//! `EXTERNAL` scheme, instance-group backends on the NodePorts): the annotations, parsed and
//! refused with the object, the annotation, the value and what is accepted; and the pure
//! translation.

pub mod annotations;
pub mod translate;

use std::collections::BTreeMap;

/// GKE's annotations on an Ingress naming its load balancer's parts (what ingress-gce writes,
/// and what users and tools read), from the names of what exists after an apply; GKE's
/// `ingress.kubernetes.io/backends` (per-backend health) is not written.
pub fn status_annotations<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    const BY_TYPE: [(&str, &str); 5] = [
        ("um", "url-map"),
        ("tp", "target-proxy"),
        ("ts", "https-target-proxy"),
        ("fr", "forwarding-rule"),
        ("fs", "https-forwarding-rule"),
    ];
    let mut out = BTreeMap::new();
    for name in names {
        for (token, key) in BY_TYPE {
            if name.starts_with(&format!("berth-{token}-")) {
                out.insert(format!("ingress.kubernetes.io/{key}"), name.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn gke_s_status_annotations_name_the_parts_that_exist() {
        let names = [
            "berth-um-1-a-b-2",
            "berth-fr-1-a-b-2",
            "berth-tp-1-a-b-2",
            "berth-be-1-x",
            "us-central1-a/berth-1-ig",
        ];
        let a = super::status_annotations(names.into_iter());
        assert_eq!(a.len(), 3, "{a:?}");
        assert_eq!(a["ingress.kubernetes.io/url-map"], "berth-um-1-a-b-2");
        assert_eq!(
            a["ingress.kubernetes.io/forwarding-rule"],
            "berth-fr-1-a-b-2"
        );
        assert!(!a.contains_key("ingress.kubernetes.io/https-forwarding-rule"));
    }
}
