//! The IAM permissions of every Compute call berth makes (the call's metrics label -> what it
//! needs, including the `use` permissions a reference to another resource takes), and the
//! custom role `berth iam-policy --cloud gcp` prints. The provider tests check that every call
//! they make has its entry here.

/// (call, permissions).
pub const CALLS: &[(&str, &[&str])] = &[
    ("GetRegionHealthCheck", &["compute.regionHealthChecks.get"]),
    (
        "InsertRegionHealthCheck",
        &["compute.regionHealthChecks.create"],
    ),
    (
        "PatchRegionHealthCheck",
        &["compute.regionHealthChecks.update"],
    ),
    (
        "DeleteRegionHealthCheck",
        &["compute.regionHealthChecks.delete"],
    ),
    ("GetFirewall", &["compute.firewalls.get"]),
    (
        "InsertFirewall",
        &["compute.firewalls.create", "compute.networks.updatePolicy"],
    ),
    (
        "PatchFirewall",
        &["compute.firewalls.update", "compute.networks.updatePolicy"],
    ),
    (
        "DeleteFirewall",
        &["compute.firewalls.delete", "compute.networks.updatePolicy"],
    ),
    (
        "GetRegionBackendService",
        &["compute.regionBackendServices.get"],
    ),
    (
        "InsertRegionBackendService",
        &[
            "compute.regionBackendServices.create",
            "compute.regionHealthChecks.useReadOnly",
            "compute.instanceGroups.use",
        ],
    ),
    (
        "PatchRegionBackendService",
        &[
            "compute.regionBackendServices.update",
            "compute.regionHealthChecks.useReadOnly",
            "compute.instanceGroups.use",
        ],
    ),
    (
        "DeleteRegionBackendService",
        &["compute.regionBackendServices.delete"],
    ),
    ("GetForwardingRule", &["compute.forwardingRules.get"]),
    (
        "InsertForwardingRule",
        &[
            "compute.forwardingRules.create",
            "compute.regionBackendServices.use",
            "compute.addresses.use",
            "compute.networks.use",
            "compute.subnetworks.use",
        ],
    ),
    ("PatchForwardingRule", &["compute.forwardingRules.update"]),
    ("DeleteForwardingRule", &["compute.forwardingRules.delete"]),
    ("GetInstanceGroup", &["compute.instanceGroups.get"]),
    (
        "InsertInstanceGroup",
        &["compute.instanceGroups.create", "compute.networks.use"],
    ),
    ("DeleteInstanceGroup", &["compute.instanceGroups.delete"]),
    (
        "ListInstanceGroupInstances",
        &["compute.instanceGroups.list"],
    ),
    (
        "AddInstanceGroupInstances",
        &["compute.instanceGroups.update", "compute.instances.use"],
    ),
    (
        "RemoveInstanceGroupInstances",
        &["compute.instanceGroups.update", "compute.instances.use"],
    ),
    ("GetAddress", &["compute.addresses.get"]),
    (
        "SetInstanceGroupNamedPorts",
        &["compute.instanceGroups.update"],
    ),
    ("GetHealthCheck", &["compute.healthChecks.get"]),
    ("InsertHealthCheck", &["compute.healthChecks.create"]),
    ("PatchHealthCheck", &["compute.healthChecks.update"]),
    ("DeleteHealthCheck", &["compute.healthChecks.delete"]),
    ("GetBackendService", &["compute.backendServices.get"]),
    (
        "InsertBackendService",
        &[
            "compute.backendServices.create",
            "compute.healthChecks.useReadOnly",
            "compute.instanceGroups.use",
        ],
    ),
    (
        "PatchBackendService",
        &[
            "compute.backendServices.update",
            "compute.healthChecks.useReadOnly",
            "compute.instanceGroups.use",
        ],
    ),
    ("DeleteBackendService", &["compute.backendServices.delete"]),
    ("GetUrlMap", &["compute.urlMaps.get"]),
    (
        "InsertUrlMap",
        &["compute.urlMaps.create", "compute.backendServices.use"],
    ),
    (
        "PatchUrlMap",
        &["compute.urlMaps.update", "compute.backendServices.use"],
    ),
    ("DeleteUrlMap", &["compute.urlMaps.delete"]),
    ("GetTargetHttpProxy", &["compute.targetHttpProxies.get"]),
    (
        "InsertTargetHttpProxy",
        &["compute.targetHttpProxies.create", "compute.urlMaps.use"],
    ),
    (
        "PatchTargetHttpProxy",
        &["compute.targetHttpProxies.update", "compute.urlMaps.use"],
    ),
    (
        "DeleteTargetHttpProxy",
        &["compute.targetHttpProxies.delete"],
    ),
    ("GetTargetHttpsProxy", &["compute.targetHttpsProxies.get"]),
    (
        "InsertTargetHttpsProxy",
        &[
            "compute.targetHttpsProxies.create",
            "compute.urlMaps.use",
            "compute.sslCertificates.get",
        ],
    ),
    (
        "PatchTargetHttpsProxy",
        &[
            "compute.targetHttpsProxies.update",
            "compute.urlMaps.use",
            "compute.sslCertificates.get",
        ],
    ),
    (
        "DeleteTargetHttpsProxy",
        &["compute.targetHttpsProxies.delete"],
    ),
    ("GetGlobalAddress", &["compute.globalAddresses.get"]),
    ("InsertGlobalAddress", &["compute.globalAddresses.create"]),
    ("DeleteGlobalAddress", &["compute.globalAddresses.delete"]),
    (
        "GetGlobalForwardingRule",
        &["compute.globalForwardingRules.get"],
    ),
    (
        "InsertGlobalForwardingRule",
        &[
            "compute.globalForwardingRules.create",
            "compute.targetHttpProxies.use",
            "compute.targetHttpsProxies.use",
            "compute.globalAddresses.use",
        ],
    ),
    (
        "DeleteGlobalForwardingRule",
        &["compute.globalForwardingRules.delete"],
    ),
    ("GetGlobalOperation", &["compute.globalOperations.get"]),
    ("GetRegionOperation", &["compute.regionOperations.get"]),
    ("GetZoneOperation", &["compute.zoneOperations.get"]),
];

/// The permissions of one call, if berth knows it.
pub fn of(call: &str) -> Option<&'static [&'static str]> {
    CALLS.iter().find(|(c, _)| *c == call).map(|(_, p)| *p)
}

/// A custom role with exactly the permissions of berth's calls (for
/// `gcloud iam roles create berth --project PROJECT --file role.json`).
pub fn custom_role(cluster: &str) -> serde_json::Value {
    let mut all: Vec<&str> = CALLS.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    all.sort();
    all.dedup();
    serde_json::json!({
        "title": "berth load balancers",
        "description": format!("What berth (cluster {cluster}) calls to provision passthrough Network Load Balancers and Application Load Balancers"),
        "stage": "GA",
        "includedPermissions": all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_lists_each_permission_once_and_every_call_is_known_once() {
        let role = custom_role("prod");
        let perms = role["includedPermissions"].as_array().unwrap();
        let mut names: Vec<&str> = perms.iter().filter_map(|p| p.as_str()).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
        assert!(names.iter().all(|p| p.starts_with("compute.")));
        let mut calls: Vec<&str> = CALLS.iter().map(|(c, _)| *c).collect();
        calls.sort();
        calls.dedup();
        assert_eq!(calls.len(), CALLS.len(), "a call listed twice");
        assert_eq!(of("GetFirewall"), Some(&["compute.firewalls.get"][..]));
        assert_eq!(of("Nope"), None);
    }
}
