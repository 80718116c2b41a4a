//! Validation ratcheting on update: errors in parts equal to the stored object are not reported.

use serde_json::{Value, json};

use super::rendered;

fn schema() -> Value {
    json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 3},
            "size": {"type": "integer", "minimum": 10},
            "other": {"type": "integer"},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "byKey": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                      "items": {"type": "object", "required": ["k"], "properties": {
                          "k": {"type": "string"}, "v": {"type": "integer", "maximum": 5}}}},
            "pair": {"type": "object", "properties": {"lo": {"type": "integer"}, "hi": {"type": "integer"}},
                     "x-kubernetes-validations": [{"rule": "self.lo <= self.hi", "message": "lo above hi"}]},
            "grow": {"type": "integer", "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "cannot shrink"}]}
        }
    }}})
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "x.dev/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec})
}

#[test]
fn unchanged_invalid_fields_pass_and_changed_ones_are_checked() {
    // Stored before the schema became stricter.
    let old = obj(json!({"name": "toolong", "size": 1, "pair": {"lo": 5, "hi": 1}, "other": 1}));
    // Changing another field is allowed.
    let mut new = obj(json!({"name": "toolong", "size": 1, "pair": {"lo": 5, "hi": 1}, "other": 2}));
    assert_eq!(rendered(&schema(), &mut new, Some(&old)), Vec::<String>::new());
    // Changing the invalid fields to other invalid values is not.
    let mut new = obj(json!({"name": "toolong!", "size": 2, "pair": {"lo": 6, "hi": 1}, "other": 1}));
    assert_eq!(
        rendered(&schema(), &mut new, Some(&old)),
        vec![
            "spec.name: Too long: may not be more than 3 bytes",
            "spec.size: Invalid value: 2: spec.size in body should be greater than or equal to 10",
            "<nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ]
    );
    let mut new = obj(json!({"name": "toolong", "size": 1, "pair": {"lo": 6, "hi": 1}, "other": 1}));
    assert_eq!(rendered(&schema(), &mut new, Some(&old)), vec!["spec.pair: Invalid value: lo above hi"]);
    // On create the same object is rejected.
    assert_eq!(rendered(&schema(), &mut old.clone(), None).len(), 3);
}

#[test]
fn map_list_items_ratchet_by_key_and_transition_rules_never_ratchet() {
    let old = obj(json!({"byKey": [{"k": "a", "v": 9}, {"k": "b", "v": 1}], "grow": 5}));
    // Reordered, the stored invalid item is unchanged; a new invalid item is not.
    let mut new = obj(json!({"byKey": [{"k": "c", "v": 7}, {"k": "b", "v": 1}, {"k": "a", "v": 9}], "grow": 5}));
    assert_eq!(
        rendered(&schema(), &mut new, Some(&old)),
        vec!["spec.byKey[0].v: Invalid value: 7: spec.byKey[0].v in body should be less than or equal to 5"]
    );
    let mut new = obj(json!({"byKey": [{"k": "a", "v": 9}, {"k": "b", "v": 1}], "grow": 4}));
    assert_eq!(rendered(&schema(), &mut new, Some(&old)), vec!["spec.grow: Invalid value: cannot shrink"]);
}

#[test]
fn list_uniqueness_is_checked_only_if_the_stored_object_passed_it() {
    let clean = obj(json!({"tags": ["a"]}));
    let mut new = obj(json!({"tags": ["a", "a"]}));
    assert_eq!(rendered(&schema(), &mut new, Some(&clean)), vec!["spec.tags[1]: Duplicate value: \"a\""]);
    let dirty = obj(json!({"tags": ["a", "a"]}));
    let mut new = obj(json!({"tags": ["a", "a", "b", "b"]}));
    assert_eq!(rendered(&schema(), &mut new, Some(&dirty)), Vec::<String>::new());
}
