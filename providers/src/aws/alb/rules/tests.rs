use super::*;

#[test]
fn path_types_map_to_patterns() {
    assert_eq!(path_patterns("/api", PathType::Exact), ["/api"]);
    assert_eq!(path_patterns("/api/", PathType::Prefix), ["/api", "/api/*"]);
    assert_eq!(path_patterns("/", PathType::Prefix), ["/*"]);
    assert_eq!(
        path_patterns("/img/*.png", PathType::ImplementationSpecific),
        ["/img/*.png"]
    );
    assert_eq!(path_patterns("", PathType::ImplementationSpecific), ["/*"]);
}

#[test]
fn specificity_orders_host_exact_longer_first() {
    let mut v = vec![
        (None, "/", PathType::Prefix),
        (Some("a"), "/", PathType::Prefix),
        (Some("a"), "/api", PathType::Prefix),
        (Some("a"), "/api", PathType::Exact),
        (Some("a"), "/x", PathType::Exact),
    ];
    v.sort_by_key(|(h, p, t)| specificity(*h, p, *t));
    assert_eq!(
        v,
        [
            (Some("a"), "/api", PathType::Exact),
            (Some("a"), "/x", PathType::Exact),
            (Some("a"), "/api", PathType::Prefix),
            (Some("a"), "/", PathType::Prefix),
            (None, "/", PathType::Prefix),
        ]
    );
}

#[test]
fn enabled_stickiness_needs_a_duration() {
    let object = crate::frontend::ObjectRef::service("ns", "ing");
    let cx = crate::aws::alb::annotations::ctx(&object);
    let raw = r#"{"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "a", "servicePort": 80}], "targetGroupStickinessConfig": {"enabled": true}}}"#;
    let err = parse_action(&cx, "actions.x", raw).unwrap_err();
    assert!(err.to_string().contains("needs durationSeconds"), "{err}");
    let raw = r#"{"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "a", "servicePort": 80}], "targetGroupStickinessConfig": {"enabled": false}}}"#;
    let ActionSpec::Forward {
        targets,
        stickiness,
    } = parse_action(&cx, "actions.x", raw).unwrap()
    else {
        panic!("a forward action")
    };
    // Disabled stickiness and a single target of weight 1 render as the short form, as AWS
    // reports it back.
    let refs: Vec<(Value, Option<u16>)> =
        targets.iter().map(|_| (json!("arn:tg"), Some(1))).collect();
    assert_eq!(
        forward(&refs, stickiness),
        json!({"Type": "forward", "TargetGroupArn": "arn:tg"})
    );
}

#[test]
fn forward_shapes() {
    assert_eq!(
        forward(&[(json!({"Ref": "tg"}), None)], None),
        json!({"Type": "forward", "TargetGroupArn": {"Ref": "tg"}})
    );
    assert_eq!(
        forward(
            &[(json!("a"), Some(20)), (json!("b"), Some(80))],
            Some((true, Some(60)))
        ),
        json!({"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "a", "Weight": 20}, {"TargetGroupArn": "b", "Weight": 80}], "TargetGroupStickinessConfig": {"Enabled": true, "DurationSeconds": 60}}})
    );
}
