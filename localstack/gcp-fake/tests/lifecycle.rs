//! State and semantics: the global HTTP load balancer chain, references, duplicates,
//! fingerprints, paging and operations.

mod common;

use common::{backend_service, health_check, start, P};
use serde_json::{json, Value};

const WWW: &str = "https://www.googleapis.com/compute/v1";
const API: &str = "https://compute.googleapis.com/compute/v1";

#[tokio::test]
async fn http_load_balancer_chain_created_and_deleted_in_order() {
    let c = start().await;
    let g = format!("{P}/global");
    // References in every accepted spelling: full URL on either host, projects/..., global/...
    c.ok("POST", &format!("{g}/healthChecks"), health_check("hc"))
        .await;
    let bs = backend_service("bs", &format!("{API}/{g}/healthChecks/hc"));
    let op = c.ok("POST", &format!("{g}/backendServices"), bs).await;
    assert_eq!(op["operationType"], "insert");
    assert_eq!(op["targetLink"], format!("{WWW}/{g}/backendServices/bs"));
    let um = json!({"name": "um", "defaultService": format!("{g}/backendServices/bs"),
        "hostRules": [{"hosts": ["a.example"], "pathMatcher": "m"}],
        "pathMatchers": [{"name": "m", "defaultService": "global/backendServices/bs",
            "pathRules": [{"paths": ["/api/*"], "service": format!("{WWW}/{g}/backendServices/bs")}]}]});
    c.ok("POST", &format!("{g}/urlMaps"), um).await;
    c.ok(
        "POST",
        &format!("{g}/targetHttpProxies"),
        json!({"name": "tp", "urlMap": "global/urlMaps/um"}),
    )
    .await;
    c.ok("POST", &format!("{g}/addresses"), json!({"name": "ip"}))
        .await;
    let ip = c.get(&format!("{g}/addresses/ip")).await.body["address"].clone();
    let fr = json!({"name": "fr", "IPAddress": format!("{g}/addresses/ip"), "IPProtocol": "TCP",
        "portRange": "80-80", "target": format!("{WWW}/{g}/targetHttpProxies/tp"),
        "loadBalancingScheme": "EXTERNAL_MANAGED", "network": "global/networks/not-checked"});
    c.ok("POST", &format!("{g}/forwardingRules"), fr).await;
    let got = c.get(&format!("{g}/forwardingRules/fr")).await.body;
    assert_eq!(got["IPAddress"], ip, "an address URL becomes its IP: {got}");
    let address = c.get(&format!("{g}/addresses/ip")).await.body;
    assert_eq!(address["status"], "IN_USE");
    let keys: Vec<String> = c.fake.resources().into_iter().map(|(k, _)| k).collect();
    let want = [
        "addresses/ip",
        "backendServices/bs",
        "forwardingRules/fr",
        "healthChecks/hc",
        "targetHttpProxies/tp",
        "urlMaps/um",
    ];
    assert_eq!(keys, want.map(|k| format!("{g}/{k}")));
    assert_eq!(address["users"][0], format!("{WWW}/{g}/forwardingRules/fr"));

    for (path, user) in [
        ("healthChecks/hc", "backendServices/bs"),
        ("backendServices/bs", "urlMaps/um"),
        ("urlMaps/um", "targetHttpProxies/tp"),
        ("targetHttpProxies/tp", "forwardingRules/fr"),
        ("addresses/ip", "forwardingRules/fr"),
    ] {
        let reply = c.delete(&format!("{g}/{path}")).await;
        assert_eq!(
            (reply.status, reply.reason()),
            (400, "resourceInUseByAnotherResource"),
            "{path}"
        );
        assert!(
            reply.message().contains(user),
            "{path} used by {user}: {}",
            reply.body
        );
    }
    for path in [
        "forwardingRules/fr",
        "addresses/ip",
        "targetHttpProxies/tp",
        "urlMaps/um",
        "backendServices/bs",
        "healthChecks/hc",
    ] {
        let op = c.ok("DELETE", &format!("{g}/{path}"), Value::Null).await;
        assert_eq!(
            (op["operationType"].as_str(), op.get("error")),
            (Some("delete"), None),
            "{op}"
        );
        let reply = c.get(&format!("{g}/{path}")).await;
        assert_eq!(
            (reply.status, reply.reason()),
            (404, "notFound"),
            "{path} is gone"
        );
    }
    assert_eq!(c.fake.resources(), []);
    c.assert_no_violations();
}

#[tokio::test]
async fn duplicates_missing_references_and_missing_resources() {
    let c = start().await;
    let g = format!("{P}/global");
    c.ok("POST", &format!("{g}/healthChecks"), health_check("hc"))
        .await;
    c.expect(
        "POST",
        &format!("{g}/healthChecks"),
        Some(health_check("hc")),
        409,
        "alreadyExists",
    )
    .await;
    // Free text is not a reference, even when it looks like one.
    let described = json!({"name": "described", "description": "global/healthChecks/nope",
        "healthChecks": ["global/healthChecks/hc"]});
    c.ok("POST", &format!("{g}/backendServices"), described)
        .await;
    c.ok(
        "DELETE",
        &format!("{g}/backendServices/described"),
        Value::Null,
    )
    .await;
    // The same name in another scope is another resource.
    c.ok(
        "POST",
        &format!("{P}/regions/r/healthChecks"),
        health_check("hc"),
    )
    .await;
    let cases = [
        (
            format!("{g}/backendServices"),
            backend_service("bs", "global/healthChecks/nope"),
            "resource.healthChecks[0]",
        ),
        (
            format!("{g}/backendServices"),
            backend_service("bs", "regions/r/healthChecks/nope"),
            "resource.healthChecks[0]",
        ),
        (
            format!("{g}/backendServices"),
            json!({"name": "bs", "backends": [{"group": "zones/z/networkEndpointGroups/nope"}]}),
            "resource.backends[0].group",
        ),
        (
            format!("{g}/urlMaps"),
            json!({"name": "um", "defaultService": "global/backendServices/nope"}),
            "resource.defaultService",
        ),
        (
            format!("{g}/targetHttpsProxies"),
            json!({"name": "t", "urlMap": "global/urlMaps/um", "sslCertificates": []}),
            "resource.urlMap",
        ),
        (
            format!("{g}/forwardingRules"),
            json!({"name": "f", "target": "global/targetHttpProxies/nope"}),
            "resource.target",
        ),
        (
            format!("{g}/forwardingRules"),
            json!({"name": "f", "IPAddress": "global/addresses/nope"}),
            "resource.IPAddress",
        ),
    ];
    for (path, body, field) in cases {
        let reply = c
            .expect("POST", &path, Some(body.clone()), 404, "notFound")
            .await;
        assert!(reply.message().contains(field), "{field}: {}", reply.body);
    }
    for (method, path) in [
        ("GET", "healthChecks/x"),
        ("DELETE", "healthChecks/x"),
        ("PATCH", "urlMaps/x"),
    ] {
        let body = (method == "PATCH").then(|| json!({}));
        c.expect(method, &format!("{g}/{path}"), body, 404, "notFound")
            .await;
    }
    // A regional backend service may use the regional health check of the same name.
    let rbs = json!({"name": "rbs", "protocol": "TCP", "loadBalancingScheme": "EXTERNAL",
        "healthChecks": ["regions/r/healthChecks/hc"]});
    c.ok("POST", &format!("{P}/regions/r/backendServices"), rbs)
        .await;
    let reply = c.delete(&format!("{P}/regions/r/healthChecks/hc")).await;
    assert_eq!(reply.reason(), "resourceInUseByAnotherResource");
    c.ok("DELETE", &format!("{g}/healthChecks/hc"), Value::Null)
        .await;
    c.assert_no_violations();
}

#[tokio::test]
async fn fingerprints_change_and_stale_ones_are_412() {
    let c = start().await;
    let g = format!("{P}/global");
    c.ok("POST", &format!("{g}/healthChecks"), health_check("hc"))
        .await;
    c.ok(
        "POST",
        &format!("{g}/backendServices"),
        backend_service("bs", "global/healthChecks/hc"),
    )
    .await;
    c.ok(
        "POST",
        &format!("{g}/urlMaps"),
        json!({"name": "um", "defaultService": "global/backendServices/bs"}),
    )
    .await;
    c.ok(
        "POST",
        &format!("{g}/urlMaps"),
        json!({"name": "um2", "defaultService": "global/backendServices/bs"}),
    )
    .await;
    c.ok(
        "POST",
        &format!("{g}/targetHttpProxies"),
        json!({"name": "tp", "urlMap": "global/urlMaps/um"}),
    )
    .await;
    let first = c.get(&format!("{g}/backendServices/bs")).await.body;
    let fp0 = first["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_string();
    let patch = json!({"timeoutSec": 40, "fingerprint": fp0});
    let op = c
        .ok("PATCH", &format!("{g}/backendServices/bs"), patch.clone())
        .await;
    assert_eq!(op["operationType"], "patch");
    let second = c.get(&format!("{g}/backendServices/bs")).await.body;
    assert_eq!(
        (second["timeoutSec"].clone(), second["protocol"].clone()),
        (json!(40), json!("HTTP")),
        "merged"
    );
    assert_ne!(
        second["fingerprint"], first["fingerprint"],
        "a change makes a new fingerprint"
    );
    c.expect(
        "PATCH",
        &format!("{g}/backendServices/bs"),
        Some(patch),
        412,
        "conditionNotMet",
    )
    .await;
    let mut stale = first.clone();
    stale["timeoutSec"] = json!(50);
    c.expect(
        "PUT",
        &format!("{g}/backendServices/bs"),
        Some(stale),
        412,
        "conditionNotMet",
    )
    .await;
    // update replaces: what the body leaves out is gone.
    let fresh = json!({"name": "bs", "healthChecks": ["global/healthChecks/hc"], "fingerprint": second["fingerprint"]});
    c.ok("PUT", &format!("{g}/backendServices/bs"), fresh).await;
    let third = c.get(&format!("{g}/backendServices/bs")).await.body;
    assert_eq!(third.get("timeoutSec"), None, "{third}");
    // A set* method with the stale fingerprint of the proxy, then with the current one.
    let tp = c.get(&format!("{g}/targetHttpProxies/tp")).await.body;
    let set = format!("{P}/targetHttpProxies/tp/setUrlMap");
    c.ok(
        "POST",
        &set,
        json!({"urlMap": format!("{WWW}/{g}/urlMaps/um2")}),
    )
    .await;
    let moved = c.get(&format!("{g}/targetHttpProxies/tp")).await.body;
    assert_eq!(moved["urlMap"], format!("{WWW}/{g}/urlMaps/um2"));
    assert_ne!(moved["fingerprint"], tp["fingerprint"]);
    let reply = c
        .call(
            "PATCH",
            &format!("{g}/targetHttpProxies/tp"),
            Some(json!({"fingerprint": tp["fingerprint"]})),
        )
        .await;
    assert_eq!(reply.status, 412, "{}", reply.body);
    let reply = c
        .call("POST", &set, Some(json!({"urlMap": "global/urlMaps/nope"})))
        .await;
    assert_eq!(
        reply.status, 404,
        "setUrlMap checks the reference: {}",
        reply.body
    );
    c.ok("DELETE", &format!("{g}/urlMaps/um"), Value::Null)
        .await;
    c.assert_no_violations();
}

#[tokio::test]
async fn operations_go_pending_running_done_and_lists_page() {
    let c = start().await;
    let g = format!("{P}/global");
    let reply = c
        .call(
            "POST",
            &format!("{g}/healthChecks"),
            Some(health_check("a")),
        )
        .await;
    let op = reply.body;
    assert_eq!(op["status"], "PENDING");
    let name = op["name"]
        .as_str()
        .expect("operations always have a name")
        .to_string();
    assert_eq!(op["selfLink"], format!("{WWW}/{g}/operations/{name}"));
    let path = format!("{g}/operations/{name}");
    let states: Vec<Value> = futures_states(&c, &path).await;
    assert_eq!(states, [json!("RUNNING"), json!("DONE"), json!("DONE")]);
    // A regional mutation has a regional operation, a zonal one a zonal operation.
    let reply = c
        .call(
            "POST",
            &format!("{P}/regions/r/healthChecks"),
            Some(health_check("a")),
        )
        .await;
    assert_eq!(reply.body["region"], format!("{WWW}/{P}/regions/r"));
    let waited = c
        .call(
            "POST",
            &format!(
                "{P}/regions/r/operations/{}/wait",
                reply.body["name"].as_str().unwrap_or_default()
            ),
            None,
        )
        .await;
    assert_eq!(
        waited.body["status"], "DONE",
        "wait finishes it: {}",
        waited.body
    );
    let reply = c
        .call(
            "POST",
            &format!("{P}/zones/z/instanceGroups"),
            Some(json!({"name": "ig"})),
        )
        .await;
    assert!(reply.body["selfLink"]
        .as_str()
        .unwrap_or_default()
        .contains("/zones/z/operations/"));
    c.done(&reply.body).await;

    for n in ["b", "c", "d", "e"] {
        c.ok("POST", &format!("{g}/healthChecks"), health_check(n))
            .await;
    }
    let mut names = Vec::new();
    let mut token = String::new();
    for _ in 0..5 {
        let page = c
            .get(&format!("{g}/healthChecks?maxResults=2&pageToken={token}"))
            .await
            .body;
        assert_eq!(page["kind"], "compute#healthCheckList");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        names.extend(
            items
                .iter()
                .map(|i| i["name"].as_str().unwrap_or_default().to_string()),
        );
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(
        names,
        ["a", "b", "c", "d", "e"],
        "global only, in order, once each"
    );
    let ops = c.get(&format!("{g}/operations")).await.body;
    assert_eq!(ops["kind"], "compute#operationList");
    assert_eq!(ops["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(c.delete(&path).await.status, 200);
    assert_eq!(
        c.get(&path).await.status,
        404,
        "a deleted operation is gone"
    );
    c.assert_no_violations();
}

async fn futures_states(c: &common::Client, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(c.get(path).await.body["status"].clone());
    }
    out
}
