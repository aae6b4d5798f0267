//! Request bodies are held to the method's request schema; the 400 names the field.

mod common;

use common::{health_check, start, P};
use serde_json::{json, Value};

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let c = start().await;
    let hc = format!("{P}/global/healthChecks");
    let fr = format!("{P}/regions/r/forwardingRules");
    let ig = format!("{P}/zones/z/instanceGroups/ig/addInstances");
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "colour": "red"}),
            "resource.colour",
        ),
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "httpHealthCheck": {"prot": 80}}),
            "resource.httpHealthCheck.prot",
        ),
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "checkIntervalSec": "5"}),
            "resource.checkIntervalSec",
        ),
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "checkIntervalSec": 1.5}),
            "resource.checkIntervalSec",
        ),
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "type": "HTTP3"}),
            "resource.type",
        ),
        ("POST", hc.clone(), json!({"name": 7}), "resource.name"),
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "id": 12}),
            "resource.id",
        ),
        (
            "POST",
            hc.clone(),
            json!({"name": "a", "logConfig": {"enable": 1}}),
            "resource.logConfig.enable",
        ),
        ("POST", hc.clone(), json!(["a"]), "resource"),
        (
            "POST",
            fr.clone(),
            json!({"name": "a", "ipProtocol": "TCP"}),
            "resource.ipProtocol",
        ),
        (
            "POST",
            fr.clone(),
            json!({"name": "a", "IPProtocol": "tcp"}),
            "resource.IPProtocol",
        ),
        (
            "POST",
            fr.clone(),
            json!({"name": "a", "ports": [80]}),
            "resource.ports[0]",
        ),
        (
            "POST",
            fr,
            json!({"name": "a", "labels": {"k": true}}),
            "resource.labels.k",
        ),
        (
            "POST",
            ig,
            json!({"instances": [{"instance": "i", "x": 1}]}),
            "resource.instances[0].x",
        ),
        (
            "POST",
            format!("{P}/global/urlMaps"),
            json!({"name": "u", "pathMatchers": [{"name": "m", "pathRules": [{"paths": "/a"}]}]}),
            "resource.pathMatchers[0].pathRules[0].paths",
        ),
        (
            "POST",
            format!("{P}/global/backendServices"),
            json!({"name": "b", "backends": [{"group": "g", "balancingMode": "RATE_X"}]}),
            "resource.backends[0].balancingMode",
        ),
        (
            "POST",
            format!("{P}/global/backendServices"),
            json!({"name": "b", "connectionDraining": {"drainingTimeoutSec": "30"}}),
            "resource.connectionDraining.drainingTimeoutSec",
        ),
    ];
    for (method, path, body, field) in cases {
        let reply = c
            .expect(method, &path, Some(body.clone()), 400, "invalid")
            .await;
        assert!(
            reply.message().contains(&format!("'{field}'")),
            "want {field}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"]["errors"][0]["domain"], "global");
        assert_eq!(reply.body["error"]["code"], 400);
    }
    assert_eq!(c.fake.count("GET", ""), 0);
    let stored = c.get(&hc).await;
    assert_eq!(
        stored.body["items"],
        Value::Null,
        "nothing was stored: {}",
        stored.body
    );
}

#[tokio::test]
async fn output_only_fields_may_be_echoed_back() {
    let c = start().await;
    let hc = format!("{P}/global/healthChecks");
    c.ok("POST", &hc, health_check("hc")).await;
    let got = c.get(&format!("{hc}/hc")).await.body;
    for field in ["id", "creationTimestamp", "selfLink", "kind"] {
        assert!(got.get(field).is_some(), "{field} in {got}");
    }
    assert_eq!(got["kind"], "compute#healthCheck");
    assert!(got["id"].is_string(), "id is a uint64 string: {got}");
    let mut echoed = got.clone();
    echoed["checkIntervalSec"] = json!(7);
    c.ok("PUT", &format!("{hc}/hc"), echoed).await;
    let after = c.get(&format!("{hc}/hc")).await.body;
    assert_eq!(after["checkIntervalSec"], 7);
    assert_eq!(after["id"], got["id"], "update keeps the server's id");
    c.assert_no_violations();
}

#[tokio::test]
async fn names_and_missing_bodies() {
    let c = start().await;
    let hc = format!("{P}/global/healthChecks");
    for name in ["", "A", "1a", "a_b", "a-", &"a".repeat(64)] {
        c.expect("POST", &hc, Some(health_check(name)), 400, "invalid")
            .await;
    }
    c.expect("POST", &hc, None, 400, "required").await;
    let reply = c
        .call(
            "POST",
            &format!("{P}/global/operations/x/wait"),
            Some(json!({"a": 1})),
        )
        .await;
    assert_eq!(reply.status, 400, "wait takes no body: {}", reply.body);
    c.ok("POST", &hc, health_check(&"a".repeat(63))).await;
}
