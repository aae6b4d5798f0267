//! Zonal and regional pieces: instance groups, NEGs and their endpoints, the regional
//! passthrough NLB chain, certificates, labels.

mod common;

use common::{health_check, start, P};
use serde_json::{json, Value};

const WWW: &str = "https://www.googleapis.com/compute/v1";

#[tokio::test]
async fn instance_groups_members_and_named_ports() {
    let c = start().await;
    let z = format!("{P}/zones/z");
    c.ok(
        "POST",
        &format!("{z}/instanceGroups"),
        json!({"name": "ig", "network": "global/networks/default"}),
    )
    .await;
    let ig = format!("{z}/instanceGroups/ig");
    let instances = json!({"instances": [{"instance": format!("{z}/instances/n1")}, {"instance": format!("{z}/instances/n2")}]});
    let op = c
        .ok("POST", &format!("{ig}/addInstances"), instances.clone())
        .await;
    assert_eq!(op["operationType"], "addInstances");
    assert_eq!(op["zone"], format!("{WWW}/{z}"));
    c.expect(
        "POST",
        &format!("{ig}/addInstances"),
        Some(instances),
        400,
        "memberAlreadyExists",
    )
    .await;
    let listed = c
        .call(
            "POST",
            &format!("{ig}/listInstances"),
            Some(json!({"instanceState": "ALL"})),
        )
        .await
        .body;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    c.ok(
        "POST",
        &format!("{ig}/removeInstances"),
        json!({"instances": [{"instance": format!("{z}/instances/n1")}]}),
    )
    .await;
    let got = c.get(&ig).await.body;
    assert_eq!(got["size"], 1);
    let fp = got["fingerprint"].clone();
    let ports = json!({"namedPorts": [{"name": "http", "port": 30080}], "fingerprint": fp});
    c.ok("POST", &format!("{ig}/setNamedPorts"), ports.clone())
        .await;
    let got = c.get(&ig).await.body;
    assert_eq!(got["namedPorts"][0]["port"], 30080);
    c.expect(
        "POST",
        &format!("{ig}/setNamedPorts"),
        Some(ports),
        412,
        "conditionNotMet",
    )
    .await;

    // The regional passthrough NLB on the group.
    let r = format!("{P}/regions/r");
    c.ok("POST", &format!("{r}/healthChecks"), health_check("hc"))
        .await;
    let rbs = json!({"name": "rbs", "protocol": "TCP", "loadBalancingScheme": "EXTERNAL", "sessionAffinity": "CLIENT_IP",
        "healthChecks": [format!("{WWW}/{r}/healthChecks/hc")], "backends": [{"group": format!("{WWW}/{ig}")}]});
    c.ok("POST", &format!("{r}/backendServices"), rbs).await;
    let health = c
        .call(
            "POST",
            &format!("{r}/backendServices/rbs/getHealth"),
            Some(json!({"group": ig})),
        )
        .await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["healthStatus"][0]["healthState"], "HEALTHY");
    let fr = json!({"name": "fr", "IPProtocol": "TCP", "ports": ["80", "443"], "backendService": format!("{r}/backendServices/rbs"),
        "loadBalancingScheme": "EXTERNAL", "networkTier": "PREMIUM"});
    c.ok("POST", &format!("{r}/forwardingRules"), fr).await;
    let got = c.get(&format!("{r}/forwardingRules/fr")).await.body;
    assert!(
        got["IPAddress"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("198.18.")),
        "an ephemeral IP: {got}"
    );
    assert_eq!(got["region"], format!("{WWW}/{r}"));
    let reply = c.delete(&ig).await;
    assert_eq!(
        reply.reason(),
        "resourceInUseByAnotherResource",
        "the backend service uses the group"
    );
    for path in [
        format!("{r}/forwardingRules/fr"),
        format!("{r}/backendServices/rbs"),
        ig.clone(),
        format!("{r}/healthChecks/hc"),
    ] {
        c.ok("DELETE", &path, Value::Null).await;
    }
    c.assert_no_violations();
}

#[tokio::test]
async fn network_endpoint_groups_attach_and_detach() {
    let c = start().await;
    let z = format!("{P}/zones/z");
    let neg = json!({"name": "neg", "networkEndpointType": "GCE_VM_IP_PORT", "defaultPort": 8080,
        "network": "global/networks/default", "subnetwork": "regions/r/subnetworks/default"});
    c.ok("POST", &format!("{z}/networkEndpointGroups"), neg)
        .await;
    let path = format!("{z}/networkEndpointGroups/neg");
    let eps = |ips: &[&str]| json!({"networkEndpoints": ips.iter().map(|ip| json!({"ipAddress": ip, "port": 8080})).collect::<Vec<_>>()});
    c.ok(
        "POST",
        &format!("{path}/attachNetworkEndpoints"),
        eps(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
    )
    .await;
    c.ok(
        "POST",
        &format!("{path}/detachNetworkEndpoints"),
        eps(&["10.0.0.2"]),
    )
    .await;
    let reply = c
        .call(
            "POST",
            &format!("{path}/detachNetworkEndpoints"),
            Some(eps(&["10.0.0.2"])),
        )
        .await;
    assert_eq!((reply.status, reply.reason()), (400, "memberNotFound"));
    // The same endpoint with its fields in another order is the same endpoint.
    let reordered = json!({"networkEndpoints": [{"port": 8080, "ipAddress": "10.0.0.1"}]});
    let reply = c
        .call(
            "POST",
            &format!("{path}/attachNetworkEndpoints"),
            Some(reordered),
        )
        .await;
    assert_eq!(reply.reason(), "memberAlreadyExists");
    let listed = c
        .call(
            "POST",
            &format!("{path}/listNetworkEndpoints?maxResults=10"),
            Some(json!({})),
        )
        .await
        .body;
    let ips: Vec<&str> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["networkEndpoint"]["ipAddress"].as_str())
        .collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.3"]);
    assert_eq!(c.get(&path).await.body["size"], 2);
    let g = format!("{P}/global");
    c.ok("POST", &format!("{g}/healthChecks"), health_check("hc"))
        .await;
    let bs = json!({"name": "bs", "healthChecks": ["global/healthChecks/hc"],
        "backends": [{"group": format!("{WWW}/{path}"), "balancingMode": "RATE", "maxRatePerEndpoint": 100.0}]});
    c.ok("POST", &format!("{g}/backendServices"), bs).await;
    let health = c
        .call(
            "POST",
            &format!("{g}/backendServices/bs/getHealth"),
            Some(json!({"group": format!("{WWW}/{path}")})),
        )
        .await;
    let states: Vec<&str> = health.body["healthStatus"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["ipAddress"].as_str())
        .collect();
    assert_eq!(states, ["10.0.0.1", "10.0.0.3"], "{}", health.body);
    let other = c
        .call(
            "POST",
            &format!("{g}/backendServices/bs/getHealth"),
            Some(json!({"group": "zones/z/instanceGroups/x"})),
        )
        .await;
    assert_eq!(
        other.status, 400,
        "a group that is not a backend: {}",
        other.body
    );
    c.assert_no_violations();
}

#[tokio::test]
async fn certificates_and_labels() {
    let c = start().await;
    let g = format!("{P}/global");
    for n in ["c1", "c2"] {
        c.ok(
            "POST",
            &format!("{g}/sslCertificates"),
            json!({"name": n, "certificate": "PEM", "privateKey": "KEY"}),
        )
        .await;
    }
    c.ok("POST", &format!("{g}/healthChecks"), health_check("hc"))
        .await;
    c.ok(
        "POST",
        &format!("{g}/backendServices"),
        json!({"name": "bs", "healthChecks": ["global/healthChecks/hc"]}),
    )
    .await;
    c.ok(
        "POST",
        &format!("{g}/urlMaps"),
        json!({"name": "um", "defaultService": "global/backendServices/bs"}),
    )
    .await;
    let tp = json!({"name": "tps", "urlMap": "global/urlMaps/um", "sslCertificates": ["global/sslCertificates/c1"]});
    c.ok("POST", &format!("{g}/targetHttpsProxies"), tp).await;
    let set = format!("{P}/targetHttpsProxies/tps/setSslCertificates");
    let op = c
        .ok(
            "POST",
            &set,
            json!({"sslCertificates": [format!("{WWW}/{g}/sslCertificates/c2")]}),
        )
        .await;
    assert_eq!(op["operationType"], "setSslCertificates");
    let got = c.get(&format!("{g}/targetHttpsProxies/tps")).await.body;
    assert_eq!(
        got["sslCertificates"],
        json!([format!("{WWW}/{g}/sslCertificates/c2")])
    );
    c.ok("DELETE", &format!("{g}/sslCertificates/c1"), Value::Null)
        .await;
    let reply = c.delete(&format!("{g}/sslCertificates/c2")).await;
    assert_eq!(reply.reason(), "resourceInUseByAnotherResource");

    c.ok(
        "POST",
        &format!("{g}/addresses"),
        json!({"name": "ip", "labels": {"a": "1"}}),
    )
    .await;
    let address = c.get(&format!("{g}/addresses/ip")).await.body;
    let set = format!("{g}/addresses/ip/setLabels");
    let labels = json!({"labels": {"a": "2"}, "labelFingerprint": address["labelFingerprint"]});
    c.ok("POST", &set, labels.clone()).await;
    let after = c.get(&format!("{g}/addresses/ip")).await.body;
    assert_eq!(after["labels"]["a"], "2");
    assert_ne!(after["labelFingerprint"], address["labelFingerprint"]);
    let reply = c.call("POST", &set, Some(labels)).await;
    assert_eq!((reply.status, reply.reason()), (412, "conditionNotMet"));
    c.assert_no_violations();
}
