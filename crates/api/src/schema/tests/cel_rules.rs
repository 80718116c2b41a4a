//! x-kubernetes-validations: messages, reasons, fieldPath, transition rules, typing and escaping.

use serde_json::{Value, json};

use super::rendered;
use crate::schema::{CrdSchema, FieldErrorKind};

fn schema(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "x.dev/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec})
}

fn replicas(rules: Value) -> Value {
    schema(json!({
        "type": "object",
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        "x-kubernetes-validations": rules
    }))
}

#[test]
fn failing_rule_reports_the_node_type_and_message() {
    let s = replicas(json!([{"rule": "self.min <= self.max", "message": "min must not exceed max"}]));
    assert!(rendered(&s, &mut obj(json!({"min": 1, "max": 2})), None).is_empty());
    assert_eq!(
        rendered(&s, &mut obj(json!({"min": 3, "max": 2})), None),
        vec!["spec: Invalid value: min must not exceed max"]
    );
}

#[test]
fn rule_without_message_uses_failed_rule() {
    let s = replicas(json!([{"rule": "self.min <= self.max"}]));
    assert_eq!(
        rendered(&s, &mut obj(json!({"min": 3, "max": 2})), None),
        vec!["spec: Invalid value: failed rule: self.min <= self.max"]
    );
}

#[test]
fn message_expression_wins_and_falls_back_when_empty() {
    let s = replicas(json!([
        {"rule": "self.min <= self.max", "messageExpression": "'min ' + string(self.min) + ' > max ' + string(self.max)"},
        {"rule": "self.min < 0", "message": "static", "messageExpression": "''"}
    ]));
    assert_eq!(
        rendered(&s, &mut obj(json!({"min": 3, "max": 2})), None),
        vec!["spec: Invalid value: min 3 > max 2", "spec: Invalid value: static"]
    );
}

#[test]
fn reason_and_field_path() {
    let s = replicas(json!([
        {"rule": "self.min <= self.max", "message": "too big", "fieldPath": ".min", "reason": "FieldValueForbidden"},
        {"rule": "has(self.max)", "message": "set max", "fieldPath": ".max", "reason": "FieldValueRequired"}
    ]));
    let mut o = obj(json!({"min": 3}));
    let errs = CrdSchema::new(&s).admit(&mut o, None).expect_err("invalid");
    // min <= max errors with "no such key" because max is absent; the has() rule reports Required.
    let texts: Vec<String> = errs.iter().map(|e| e.render()).collect();
    assert_eq!(
        texts,
        vec![
            "spec: Invalid value: \"object\": no such key: max evaluating rule: too big",
            "spec.max: Required value: set max",
        ]
    );
    assert_eq!(errs[1].kind, FieldErrorKind::Required);
    assert_eq!(errs[1].cause_reason(), "FieldValueRequired");
    let errs = CrdSchema::new(&s).admit(&mut obj(json!({"min": 3, "max": 1})), None).expect_err("invalid");
    assert_eq!(errs[0].render(), "spec.min: Forbidden: too big");
}

#[test]
fn transition_rules_run_only_on_update() {
    let s = schema(json!({
        "type": "object",
        "properties": {"class": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "class is immutable"}
        ]}},
        "x-kubernetes-validations": [{"rule": "self.size() >= oldSelf.size()", "message": "fields cannot be removed"}]
    }));
    let old = obj(json!({"class": "gold"}));
    assert!(rendered(&s, &mut obj(json!({"class": "silver"})), None).is_empty(), "create has no oldSelf");
    assert!(rendered(&s, &mut obj(json!({"class": "gold"})), Some(&old)).is_empty());
    assert_eq!(
        rendered(&s, &mut obj(json!({"class": "silver"})), Some(&old)),
        vec!["spec.class: Invalid value: class is immutable"]
    );
    // Newly added field: no old value, so its transition rule is skipped.
    assert!(rendered(&s, &mut obj(json!({"class": "x"})), Some(&obj(json!({})))).is_empty());
    assert_eq!(rendered(&s, &mut obj(json!({})), Some(&old)), vec!["spec: Invalid value: fields cannot be removed"]);
}

#[test]
fn transition_rules_correlate_map_list_items_by_key_only() {
    let item = json!({"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "cannot shrink"}]});
    let s = schema(json!({"type": "object", "properties": {
        "byKey": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": item.clone()},
        "atomic": {"type": "array", "items": item}
    }}));
    let old = obj(json!({
        "byKey": [{"name": "a", "size": 5}, {"name": "b", "size": 5}],
        "atomic": [{"name": "a", "size": 5}]
    }));
    // Reordered but not shrunk: fine. Atomic lists have no oldSelf for items, so shrinking there passes.
    let mut new = obj(json!({
        "byKey": [{"name": "b", "size": 6}, {"name": "a", "size": 5}],
        "atomic": [{"name": "a", "size": 1}]
    }));
    assert!(rendered(&s, &mut new, Some(&old)).is_empty());
    let mut shrunk = obj(json!({"byKey": [{"name": "b", "size": 4}], "atomic": []}));
    assert_eq!(rendered(&s, &mut shrunk, Some(&old)), vec!["spec.byKey[0]: Invalid value: cannot shrink"]);
}

#[test]
fn number_fields_are_doubles_even_when_written_as_integers() {
    let s = schema(json!({"type": "object",
        "properties": {"share": {"type": "number"}, "allowed": {"type": "boolean"}},
        "x-kubernetes-validations": [{"rule": "self.allowed || self.share == 0.0", "message": "no share"},
                                     {"rule": "self.share + 0.5 >= 0.5", "message": "share is a double"}]}));
    // `int + double` has no overload in CEL: the rule only works because 0 is bound as 0.0.
    assert_eq!(rendered(&s, &mut obj(json!({"allowed": false, "share": 0})), None), Vec::<String>::new());
    assert_eq!(
        rendered(&s, &mut obj(json!({"allowed": false, "share": 1})), None),
        vec!["spec: Invalid value: no share"]
    );
}

#[test]
fn field_names_are_escaped_like_the_server() {
    let s = schema(json!({"type": "object",
        "properties": {"my-field": {"type": "integer"}, "namespace": {"type": "string"}, "a_b": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.my__dash__field == self.a_b && self.__namespace__ == 'x'"}]}));
    assert!(rendered(&s, &mut obj(json!({"my-field": 1, "a_b": 1, "namespace": "x"})), None).is_empty());
    assert_eq!(
        rendered(&s, &mut obj(json!({"my-field": 1, "a_b": 2, "namespace": "x"})), None),
        vec!["spec: Invalid value: failed rule: self.my__dash__field == self.a_b && self.__namespace__ == 'x'"]
    );
}

#[test]
fn map_keys_are_not_escaped_and_show_in_brackets() {
    let s = schema(json!({"type": "object", "properties": {"limits": {
        "type": "object",
        "additionalProperties": {"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0", "message": "positive"}]},
        "x-kubernetes-validations": [{"rule": "'nvidia.com/gpu' in self", "message": "needs a GPU limit"}]
    }}}));
    assert!(rendered(&s, &mut obj(json!({"limits": {"nvidia.com/gpu": 8}})), None).is_empty());
    assert_eq!(
        rendered(&s, &mut obj(json!({"limits": {"cpu": 0}})), None),
        vec!["spec.limits: Invalid value: needs a GPU limit", "spec.limits[cpu]: Invalid value: positive"]
    );
}

#[test]
fn kubernetes_cel_libraries_and_formats_are_available() {
    let s = schema(json!({"type": "object",
    "properties": {
        "mem": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "every": {"type": "string", "format": "duration"},
        "name": {"type": "string"}
    },
    "x-kubernetes-validations": [
        {"rule": "quantity(self.mem).isGreaterThan(quantity('1Gi'))", "message": "mem"},
        {"rule": "self.at > timestamp('2020-01-01T00:00:00Z')", "message": "at"},
        {"rule": "self.every <= duration('1h')", "message": "every"},
        {"rule": "self.name.matches('^[a-z-]+$') && self.name.lowerAscii() == self.name", "message": "name"}
    ]}));
    let good = json!({"mem": "2Gi", "at": "2026-01-01T00:00:00Z", "every": "30m", "name": "ok-name"});
    assert!(rendered(&s, &mut obj(good), None).is_empty());
    let bad = json!({"mem": "1Mi", "at": "2019-01-01T00:00:00Z", "every": "2h", "name": "Bad"});
    assert_eq!(rendered(&s, &mut obj(bad), None).len(), 4);
}

#[test]
fn rules_do_not_see_nulls_and_root_rules_print_nil() {
    let s = json!({"type": "object",
        "properties": {"spec": {"type": "object", "nullable": true,
            "x-kubernetes-validations": [{"rule": "has(self.x)", "message": "needs x"}]}},
        "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('a')", "message": "name must start with a"}]});
    assert!(rendered(&s, &mut obj(Value::Null), None).is_empty());
    let mut o = obj(Value::Null);
    o["metadata"]["name"] = json!("b");
    assert_eq!(rendered(&s, &mut o, None), vec!["<nil>: Invalid value: name must start with a"]);
}

#[test]
fn unsupported_macros_fail_closed_and_bad_rules_are_reported_by_check() {
    let s = replicas(json!([{"rule": "cel.bind(x, self.min, x <= self.max)"}]));
    let errs = rendered(&s, &mut obj(json!({"min": 1, "max": 2})), None);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("spec: Invalid value: \"object\": "), "{errs:?}");
    let broken = replicas(json!([{"rule": "self.min <="}]));
    let check = CrdSchema::new(&broken).check();
    assert_eq!(check.len(), 1);
    assert_eq!(check[0].path, "openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule");
}
