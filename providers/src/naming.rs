//! Deterministic names: the same inputs give the same name in every reconcile and replica.

use sha2::{Digest, Sha256};

/// Lower-case hex of SHA-256 over the parts (separated so that ("ab","c") != ("a","bc")).
pub fn hash_hex(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let full: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    full[..len.min(full.len())].to_string()
}

/// Keeps `[a-z0-9-]`, lower-cases, and cuts to `max` characters without a trailing dash.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(max)
        .collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_separates_parts() {
        assert_eq!(hash_hex(&["a", "b"], 10), hash_hex(&["a", "b"], 10));
        assert_ne!(hash_hex(&["ab", "c"], 10), hash_hex(&["a", "bc"], 10));
        assert_eq!(hash_hex(&["x"], 10).len(), 10);
    }

    #[test]
    fn sanitize_keeps_dns_chars() {
        assert_eq!(sanitize("My_Service.v2-", 32), "myservicev2");
        assert_eq!(sanitize("abcdef", 3), "abc");
    }
}
