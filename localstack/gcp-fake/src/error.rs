//! Google-style error bodies: `{"error": {"code", "message", "errors": [{reason, message, domain}]}}`.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            reason,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "notFound",
            format!("The resource '{what}' was not found"),
        )
    }

    pub fn body(&self) -> Value {
        json!({"error": {
            "code": self.status,
            "message": self.message,
            "errors": [{"reason": self.reason, "message": self.message, "domain": "global"}],
        }})
    }
}

pub type ApiResult<T = Value> = Result<T, ApiError>;
