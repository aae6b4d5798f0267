//! The target-group annotations of one backend (the Service's, else the Ingress's).

use super::*;

/// The target-group settings for one backend: each key from the Service's annotations when set
/// there, else the Ingress's, else the default. `service` names the Service for errors.
pub fn tg_settings(
    object: &ObjectRef,
    ingress: &BTreeMap<String, String>,
    service: &str,
    service_annotations: &BTreeMap<String, String>,
) -> Result<TgSettings> {
    let on_service = Ctx {
        on: Some(format!("Service {service}")),
        ..ctx(object)
    };
    let on_ingress = ctx(object);
    let pick = |key: &str| -> Option<(&Ctx<'_>, &str)> {
        get(service_annotations, key)
            .map(|v| (&on_service, v))
            .or_else(|| get(ingress, key).map(|v| (&on_ingress, v)))
    };

    let target_type = pick(TARGET_TYPE)
        .map(|(cx, v)| cx.one_of(TARGET_TYPE, v, &["instance", "ip"]))
        .transpose()?
        .unwrap_or_else(|| "instance".into());
    let protocol = pick(BACKEND_PROTOCOL)
        .map(|(cx, v)| cx.one_of(BACKEND_PROTOCOL, v, &["HTTP", "HTTPS"]))
        .transpose()?
        .unwrap_or_else(|| "HTTP".into());
    let protocol_version = pick(BACKEND_PROTOCOL_VERSION)
        .map(|(cx, v)| cx.one_of(BACKEND_PROTOCOL_VERSION, v, &["HTTP1", "HTTP2", "GRPC"]))
        .transpose()?;
    let grpc = protocol_version.as_deref() == Some("GRPC");
    let hc_port = match pick(HC_PORT) {
        None => HcPort::TrafficPort,
        Some((_, "traffic-port")) => HcPort::TrafficPort,
        Some((cx, v)) if v.chars().all(|c| c.is_ascii_digit()) => {
            HcPort::Number(cx.small(HC_PORT, v, 1, 65535)?)
        }
        Some((_, v)) => HcPort::Named(v.to_string()),
    };
    let hc_protocol = pick(HC_PROTOCOL)
        .map(|(cx, v)| cx.one_of(HC_PROTOCOL, v, &["HTTP", "HTTPS"]))
        .transpose()?;
    let hc_path = pick(HC_PATH)
        .map(|(cx, v)| cx.hc_path(HC_PATH, v))
        .transpose()?;
    let num = |key: &str, min: u16, max: u16, default: u16| -> Result<u16> {
        pick(key)
            .map(|(cx, v)| cx.small(key, v, min, max))
            .transpose()
            .map(|x| x.unwrap_or(default))
    };
    let hc_interval = num(HC_INTERVAL, 5, 300, 15)?;
    let hc_timeout = num(HC_TIMEOUT, 2, 120, 5)?;
    let hc_healthy = num(HC_HEALTHY, 2, 10, 2)?;
    let hc_unhealthy = num(HC_UNHEALTHY, 2, 10, 2)?;
    if hc_timeout >= hc_interval {
        let (cx, v) = pick(HC_TIMEOUT).unwrap_or((&on_ingress, ""));
        return Err(cx.err(
            HC_TIMEOUT,
            v,
            format!("the timeout must be shorter than the health-check interval ({hc_interval}s)"),
        ));
    }
    let success_codes = pick(SUCCESS_CODES)
        .map(|(cx, v)| success_codes(cx, v, grpc))
        .transpose()?;
    let attributes = pick(TG_ATTRIBUTES)
        .map(|(cx, v)| cx.attributes(TG_ATTRIBUTES, v, &ALB_TG_ATTRIBUTES))
        .transpose()?
        .unwrap_or_default();
    if let Some(v) = attributes.get("stickiness.enabled") {
        let (cx, raw) = pick(TG_ATTRIBUTES).unwrap_or((&on_ingress, ""));
        if cx.bool(TG_ATTRIBUTES, v).is_err() {
            return Err(cx.err(TG_ATTRIBUTES, raw, "stickiness.enabled is true or false"));
        }
    }
    Ok(TgSettings {
        target_type,
        protocol,
        protocol_version,
        hc_port,
        hc_protocol,
        hc_path,
        hc_interval,
        hc_timeout,
        hc_healthy,
        hc_unhealthy,
        success_codes,
        attributes,
    })
}

/// HTTP codes 200-499 (`200`, `200-299`, `200,302`); gRPC codes 0-99 for GRPC targets.
pub(super) fn success_codes(cx: &Ctx<'_>, v: &str, grpc: bool) -> Result<String> {
    let (lo, hi, what) = if grpc {
        (0, 99, "gRPC codes from 0 to 99")
    } else {
        (200, 499, "HTTP codes from 200 to 499")
    };
    cx.codes(
        SUCCESS_CODES,
        v,
        lo,
        hi,
        &format!("expected {what}: a code, a range (a-b) or a list (a,b)"),
    )
}
