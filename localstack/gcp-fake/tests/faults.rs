//! Fault injection from the test side, and the request log.

mod common;

use common::{health_check, start, P};
use serde_json::json;

#[tokio::test]
async fn next_requests_fail_with_429_or_503() {
    let c = start().await;
    let hcs = format!("{P}/global/healthChecks");
    c.fake.fail_next("POST", "/global/healthChecks", 429, 1);
    c.fake.fail_next("", "/healthChecks/a", 503, 2);
    let cases = [
        ("POST", hcs.clone(), 429, "rateLimitExceeded"),
        ("POST", hcs.clone(), 200, ""),
        ("GET", format!("{hcs}/a"), 503, "backendError"),
        ("GET", format!("{hcs}/a"), 503, "backendError"),
        ("GET", format!("{hcs}/a"), 200, ""),
        ("GET", format!("{hcs}/a"), 200, ""),
    ];
    for (method, path, status, reason) in cases {
        let body = (method == "POST").then(|| health_check("a"));
        let reply = c.call(method, &path, body).await;
        assert_eq!(
            (reply.status, reply.reason()),
            (status, reason),
            "{method} {path}: {}",
            reply.body
        );
    }
    // A failed request changed nothing: the second POST created the only health check.
    let list = c.get(&hcs).await.body;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn an_operation_fails_and_changes_nothing() {
    let c = start().await;
    let hcs = format!("{P}/global/healthChecks");
    c.fake.fail_next_operation(
        "insert",
        "QUOTA_EXCEEDED",
        "Quota 'HEALTH_CHECKS' exceeded.",
    );
    let reply = c.call("POST", &hcs, Some(health_check("a"))).await;
    assert_eq!(
        reply.status, 200,
        "the failure is in the operation: {}",
        reply.body
    );
    let op = c.done(&reply.body).await;
    assert_eq!(op["status"], "DONE");
    assert_eq!(op["error"]["errors"][0]["code"], "QUOTA_EXCEEDED");
    assert_eq!(
        op["error"]["errors"][0]["message"],
        "Quota 'HEALTH_CHECKS' exceeded."
    );
    assert_eq!(op["httpErrorStatusCode"], 400);
    assert_eq!(
        c.get(&format!("{hcs}/a")).await.status,
        404,
        "a failed insert stores nothing"
    );
    // Only the next one: the retry succeeds.
    let op = c.ok("POST", &hcs, health_check("a")).await;
    assert_eq!(op.get("error"), None, "{op}");
    // A failure of another type waits for its type.
    c.fake
        .fail_next_operation("delete", "RESOURCE_NOT_READY", "not ready");
    let op = c
        .ok("PATCH", &format!("{hcs}/a"), json!({"checkIntervalSec": 9}))
        .await;
    assert_eq!(op.get("error"), None);
    let op = c.ok("DELETE", &format!("{hcs}/a"), json!(null)).await;
    assert_eq!(op["error"]["errors"][0]["code"], "RESOURCE_NOT_READY");
    assert_eq!(
        c.get(&format!("{hcs}/a")).await.status,
        200,
        "a failed delete deletes nothing"
    );
    c.assert_no_violations();
}

#[tokio::test]
async fn an_operation_never_finishes() {
    let c = start().await;
    let hcs = format!("{P}/global/healthChecks");
    c.fake.stall_next_operation("insert");
    let reply = c.call("POST", &hcs, Some(health_check("a"))).await;
    let name = reply.body["name"]
        .as_str()
        .expect("a stalled operation has a name too")
        .to_string();
    let op = format!("{P}/global/operations/{name}");
    for _ in 0..20 {
        let polled = c.get(&op).await.body;
        assert_eq!(polled["status"], "RUNNING", "{polled}");
        assert_eq!(polled["name"], name.as_str());
    }
    let waited = c.call("POST", &format!("{op}/wait"), None).await.body;
    assert_eq!(
        waited["status"], "RUNNING",
        "wait does not finish it either"
    );
    assert_eq!(c.get(&format!("{hcs}/a")).await.status, 404);
    let op = c.ok("POST", &hcs, health_check("a")).await;
    assert_eq!(op.get("error"), None, "the next insert finishes");
    c.assert_no_violations();
}

#[tokio::test]
async fn requests_are_logged_and_counted() {
    let c = start().await;
    let hcs = format!("{P}/global/healthChecks");
    c.ok(
        "POST",
        &format!("{hcs}?requestId=r1&$alt=json"),
        health_check("a"),
    )
    .await;
    c.get(&format!("{hcs}/a")).await;
    let log = c.fake.requests();
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, format!("/compute/v1/{hcs}"));
    assert_eq!(log[0].query, "requestId=r1&$alt=json");
    assert_eq!(log[0].body, Some(health_check("a")));
    assert_eq!(
        log.last().map(|r| (r.method.as_str(), r.body.is_none())),
        Some(("GET", true))
    );
    assert_eq!(c.fake.count("POST", "/healthChecks"), 1);
    assert_eq!(c.fake.count("GET", "/operations/"), 2, "two polls to DONE");
    assert_eq!(c.fake.count("", "/global/"), 4);
    assert_eq!(c.fake.count("DELETE", ""), 0);
    c.fake.clear_requests();
    assert!(c.fake.requests().is_empty());
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_gets_the_same_operation() {
    let c = start().await;
    let hcs = format!("{P}/global/healthChecks");
    let first = c
        .call(
            "POST",
            &format!("{hcs}?requestId=r1"),
            Some(health_check("a")),
        )
        .await;
    c.done(&first.body).await;
    let again = c
        .call(
            "POST",
            &format!("{hcs}?requestId=r1"),
            Some(health_check("a")),
        )
        .await;
    assert_eq!(again.status, 200, "not 409: {}", again.body);
    assert_eq!(
        (again.body["name"].clone(), again.body["status"].clone()),
        (first.body["name"].clone(), "DONE".into())
    );
    let other = c
        .call(
            "POST",
            &format!("{hcs}?requestId=r2"),
            Some(health_check("a")),
        )
        .await;
    assert_eq!(other.reason(), "alreadyExists");
}
