//! A small HTTP client for the tests, which also checks every successful response against the
//! response schema of the method the path routes to (independently of the fake's own check).
#![allow(dead_code)]

use gcp_fake::discovery::Api;
use gcp_fake::schema::validate;
use gcp_fake::Fake;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

pub const P: &str = "projects/p";

pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The discovery method the fake routed to (empty when none).
    pub routed: String,
}

impl Reply {
    pub fn reason(&self) -> &str {
        self.body["error"]["errors"][0]["reason"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

pub struct Client {
    pub fake: Fake,
}

pub async fn start() -> Client {
    Client {
        fake: Fake::start().await,
    }
}

impl Client {
    /// `path` is below `/compute/v1/` and may carry a query.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let addr = self.fake.url().trim_start_matches("http://").to_string();
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("/compute/v1/{path}"))
            .header("host", addr)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .expect("request");
        let response = sender.send_request(request).await.expect("send");
        let status = response.status().as_u16();
        let routed = response.headers().get(gcp_fake::ROUTED_HEADER);
        let routed = routed
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&body).expect("a JSON body");
        if status == 200 {
            check_response(method, path, &body);
        }
        Reply {
            status,
            body,
            routed,
        }
    }

    /// A call that must fail with this status and reason.
    pub async fn expect(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
        reason: &str,
    ) -> Reply {
        let reply = self.call(method, path, body).await;
        assert_eq!(
            (reply.status, reply.reason()),
            (status, reason),
            "{method} {path}: {}",
            reply.body
        );
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// A mutation that must be accepted; polls its operation to DONE and returns it.
    pub async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method != "DELETE").then_some(body);
        let reply = self.call(method, path, body).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
        self.done(&reply.body).await
    }

    /// Polls an operation until DONE (at most 10 polls).
    pub async fn done(&self, op: &Value) -> Value {
        let link = op["selfLink"].as_str().expect("operation selfLink");
        let path = link
            .split("/compute/v1/")
            .nth(1)
            .expect("a compute URL")
            .to_string();
        for _ in 0..10 {
            let reply = self.get(&path).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            if reply.body["status"] == "DONE" {
                return reply.body;
            }
        }
        panic!("operation {path} not DONE after 10 polls");
    }

    pub fn assert_no_violations(&self) {
        assert_eq!(self.fake.schema_violations(), Vec::<String>::new());
    }
}

fn check_response(method: &str, path: &str, body: &Value) {
    let api = Api::get();
    let bare = path.split('?').next().unwrap_or_default();
    let (route, _) = api
        .route(method, bare)
        .expect("a 200 answer comes from a routed path");
    if let Some(schema) = &route.response {
        if let Err(e) = validate(api, schema, body, "response") {
            panic!("{method} {path}: response breaks {schema}: {e:?}\n{body}");
        }
    }
}

pub fn health_check(name: &str) -> Value {
    json!({"name": name, "type": "HTTP", "httpHealthCheck": {"port": 8080, "requestPath": "/healthz"}})
}

pub fn backend_service(name: &str, health_check: &str) -> Value {
    json!({"name": name, "protocol": "HTTP", "loadBalancingScheme": "EXTERNAL_MANAGED",
           "healthChecks": [health_check], "timeoutSec": 30})
}
