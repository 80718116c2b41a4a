//! OpenAPI schema validation with the API server's semantics and messages: the kube-openapi validator
//! (`k8s.io/kube-openapi/pkg/validation/validate`) as `ValidateCustomResource` maps its results to field
//! errors, plus the `x-kubernetes-list-type` set/map uniqueness check (structurallisttype).

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Number, Value};

use super::error::{FieldError, go_float, go_quote};
use super::formats;
use super::node;

/// Compiled `pattern`s of a schema, keyed by their source.
pub type Patterns = HashMap<String, Regex>;

/// Compile every `pattern` in the schema once. Patterns the regex engine rejects are left out (the real
/// server would have refused the CRD); they then never fail a value.
pub fn collect_patterns(schema: &Value, out: &mut Patterns) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern")
                && !out.contains_key(p)
                && let Ok(re) = Regex::new(p)
            {
                out.insert(p.clone(), re);
            }
            for (key, child) in map {
                // Only descend into sub-schemas, not into `default`/`example`/`enum` data.
                match key.as_str() {
                    "properties" | "patternProperties" | "definitions" => {
                        if let Value::Object(children) = child {
                            children.values().for_each(|c| collect_patterns(c, out));
                        }
                    }
                    "items" | "additionalProperties" | "not" | "additionalItems" => collect_patterns(child, out),
                    "allOf" | "anyOf" | "oneOf" => {
                        if let Value::Array(branches) = child {
                            branches.iter().for_each(|c| collect_patterns(c, out));
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|c| collect_patterns(c, out)),
        _ => {}
    }
}

/// Validate `value` against `schema`, appending field errors in the order the server reports them.
///
/// `old` is the correlated value of the stored object on update. Like the server's validation ratcheting
/// (CRDValidationRatcheting, on by default since 1.30), a subtree equal to its correlated old value reports
/// no errors: object fields correlate by name, `x-kubernetes-list-type: map` items by key, items of lists
/// without a list type by index, and `set`/`atomic` items not at all.
pub fn validate(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    patterns: &Patterns,
    errs: &mut Vec<FieldError>,
) {
    if old == Some(value) {
        return;
    }
    // Error paths are kube-openapi's names with the leading dot trimmed; the whole object is `<nil>`.
    let shown = if path.is_empty() { "<nil>" } else { path };
    let types = declared_types(schema);
    let nullable = node::flag(schema, "nullable");

    if value.is_null() {
        if !types.is_empty() && !nullable {
            let t = types.join(",");
            errs.push(FieldError::type_invalid(
                shown,
                "null".into(),
                format!("{shown} in body must be of type {t}: \"null\""),
            ));
        }
        check_enum(schema, value, shown, errs);
        return;
    }

    // Type.
    let actual = node::json_type(value);
    if !types.is_empty() {
        let float_int = matches!(value, Value::Number(n) if node::is_integral(n)) && types.contains(&"integer");
        let int_float = actual == "integer" && types.contains(&"number");
        if !(types.contains(&actual) || float_int || int_float) {
            let t = types.join(",");
            errs.push(FieldError::type_invalid(
                shown,
                actual.into(),
                format!("{shown} in body must be of type {t}: {}", go_quote(actual)),
            ));
        }
    }

    if ["allOf", "anyOf", "oneOf", "not"].iter().any(|k| schema.get(*k).is_some()) {
        junctors(schema, value, old, path, patterns, errs);
    }

    match value {
        Value::String(s) => {
            check_string(schema, s, shown, patterns, errs);
            if let Some(format) = schema.get("format").and_then(Value::as_str)
                && !formats::is_valid(format, s)
            {
                errs.push(FieldError::type_invalid(
                    shown,
                    Value::String(s.clone()),
                    format!("{shown} in body must be of type {format}: {}", go_quote(s)),
                ));
            }
        }
        Value::Number(n) => check_number(schema, n, shown, errs),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    let old_item = correlate_item(schema, old, item, i);
                    validate(item_schema, item, old_item, &format!("{path}[{i}]"), patterns, errs);
                }
            }
            let len = items.len() as i64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_i64)
                && len < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    len.into(),
                    format!("{shown} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_i64)
                && len > max
            {
                errs.push(FieldError::too_many(shown, len, max));
            }
        }
        _ => {}
    }

    check_enum(schema, value, shown, errs);

    if let Value::Object(map) = value {
        let len = map.len() as i64;
        if let Some(min) = schema.get("minProperties").and_then(Value::as_i64)
            && len < min
        {
            errs.push(FieldError::invalid(
                shown,
                len.into(),
                format!("{shown} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_i64)
            && len > max
        {
            errs.push(FieldError::too_many(shown, len, max));
            return;
        }
        let props = node::properties(schema);
        if let Some(add) = node::additional_schema(schema) {
            for (key, child) in map {
                if props.is_some_and(|p| p.contains_key(key)) {
                    continue;
                }
                validate(add, child, old.and_then(|o| o.get(key)), &node::child_path(path, key), patterns, errs);
            }
        }
        if let Some(props) = props {
            for (key, prop) in props {
                if let Some(child) = map.get(key) {
                    validate(prop, child, old.and_then(|o| o.get(key)), &node::child_path(path, key), patterns, errs);
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(key) {
                    errs.push(FieldError::required(node::child_path(path, key), ""));
                }
            }
        }
    }
}

/// The types a value may have: `x-kubernetes-int-or-string` is integer or string, no `type` allows any.
fn declared_types(schema: &Value) -> Vec<&str> {
    if node::flag(schema, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match node::type_name(schema) {
        "" => vec![],
        t => vec![t],
    }
}

fn check_string(schema: &Value, s: &str, shown: &str, patterns: &Patterns, errs: &mut Vec<FieldError>) {
    // go-openapi counts runes, not bytes.
    let len = s.chars().count() as i64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_i64)
        && len > max
    {
        errs.push(FieldError::too_long(shown, max));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_i64)
        && len < min
    {
        errs.push(FieldError::invalid(shown, s.into(), format!("{shown} in body should be at least {min} chars long")));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Some(re) = patterns.get(pattern)
        && !re.is_match(s)
    {
        errs.push(FieldError::invalid(shown, s.into(), format!("{shown} in body should match '{pattern}'")));
    }
}

/// minimum/maximum/exclusive*/multipleOf. Like kube-openapi, an integer value is compared with the bound
/// converted to an integer (Go's `int64(bound)`, truncating), so `minimum: 0.5` accepts the integer 0.
fn check_number(schema: &Value, n: &Number, shown: &str, errs: &mut Vec<FieldError>) {
    let bad = Value::Number(n.clone());
    let as_int = n.as_i64().filter(|_| n.is_i64());
    let as_f = n.as_f64().unwrap_or(f64::NAN);

    if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64)
        && factor > 0.0
    {
        let ok = match as_int {
            Some(i) if factor.fract() == 0.0 => i % (factor as i64) == 0,
            _ => {
                let mult = as_f / factor;
                (mult - mult.round()).abs() < 1e-9
            }
        };
        if !ok {
            let shown_factor =
                if as_int.is_some() && factor.fract() == 0.0 { (factor as i64).to_string() } else { go_float(factor) };
            errs.push(FieldError::invalid(
                shown,
                bad.clone(),
                format!("{shown} in body should be a multiple of {shown_factor}"),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = node::flag(schema, "exclusiveMaximum");
        let (fails, bound) = match as_int {
            Some(i) => {
                let m = max as i64;
                (if exclusive { i >= m } else { i > m }, m.to_string())
            }
            None => (if exclusive { as_f >= max } else { as_f > max }, go_float(max)),
        };
        if fails {
            let op = if exclusive { "less than" } else { "less than or equal to" };
            errs.push(FieldError::invalid(shown, bad.clone(), format!("{shown} in body should be {op} {bound}")));
        }
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = node::flag(schema, "exclusiveMinimum");
        let (fails, bound) = match as_int {
            Some(i) => {
                let m = min as i64;
                (if exclusive { i <= m } else { i < m }, m.to_string())
            }
            None => (if exclusive { as_f <= min } else { as_f < min }, go_float(min)),
        };
        if fails {
            let op = if exclusive { "greater than" } else { "greater than or equal to" };
            errs.push(FieldError::invalid(shown, bad, format!("{shown} in body should be {op} {bound}")));
        }
    }
}

fn check_enum(schema: &Value, value: &Value, shown: &str, errs: &mut Vec<FieldError>) {
    let Some(allowed) = schema.get("enum").and_then(Value::as_array) else { return };
    if allowed.is_empty() || allowed.iter().any(|a| json_equal(a, value)) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    errs.push(FieldError::not_supported(shown, value.clone(), &supported));
}

/// Equality of decoded JSON, with 1 and 1.0 equal (Go converts the value to the enum entry's type).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// allOf / anyOf / oneOf / not (value validations only, as structural schemas allow).
fn junctors(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    patterns: &Patterns,
    errs: &mut Vec<FieldError>,
) {
    let branches = |key: &str| schema.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let run = |branch: &Value| {
        let mut e = Vec::new();
        validate(branch, value, old, path, patterns, &mut e);
        e
    };
    // These composite errors carry no field in kube-openapi, so the server prints them at `<nil>`.
    let quoted = go_quote(path);
    for branch in branches("allOf") {
        errs.extend(run(&branch));
    }
    let any_of = branches("anyOf");
    if !any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = any_of.iter().map(run).collect();
        if !results.iter().any(Vec::is_empty) {
            errs.push(FieldError::invalid(
                "<nil>",
                "".into(),
                format!("{quoted} must validate at least one schema (anyOf)"),
            ));
            errs.extend(results.into_iter().min_by_key(Vec::len).unwrap_or_default());
        }
    }
    let one_of = branches("oneOf");
    if !one_of.is_empty() {
        let results: Vec<Vec<FieldError>> = one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid == 0 {
            errs.push(FieldError::invalid(
                "<nil>",
                "".into(),
                format!("{quoted} must validate one and only one schema (oneOf)"),
            ));
            errs.extend(results.into_iter().min_by_key(Vec::len).unwrap_or_default());
        } else if valid > 1 {
            errs.push(FieldError::invalid(
                "<nil>",
                "".into(),
                format!("{quoted} must validate one and only one schema (oneOf). Found {valid} valid alternatives"),
            ));
        }
    }
    if let Some(not) = schema.get("not")
        && run(not).is_empty()
    {
        errs.push(FieldError::invalid("<nil>", "".into(), format!("{quoted} must not validate the schema (not)")));
    }
}

/// The old item correlated with the new item at `index`, for ratcheting: by key in a map list, by index in
/// a list without a list type, none in a set or atomic list.
pub fn correlate_item<'a>(schema: &Value, old: Option<&'a Value>, item: &Value, index: usize) -> Option<&'a Value> {
    let olds = old?.as_array()?;
    match node::list_type(schema) {
        Some("map") => {
            let keys = node::list_map_keys(schema);
            olds.iter().find(|o| keys.iter().all(|k| o.get(*k) == item.get(*k)))
        }
        Some(_) => None,
        None => olds.get(index),
    }
}

/// `x-kubernetes-list-type: set` items must be unique, `map` items unique by their
/// `x-kubernetes-list-map-keys` (structurallisttype.ValidateListSetsAndMaps).
pub fn validate_list_types(schema: &Value, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match value {
        Value::Array(items) => {
            match node::list_type(schema) {
                Some("set") => {
                    let mut reported: Vec<&Value> = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let seen_before = items[..i].iter().any(|p| json_equal(p, item));
                        if seen_before && !reported.iter().any(|r| json_equal(r, item)) {
                            reported.push(item);
                            errs.push(FieldError::duplicate(format!("{path}[{i}]"), item.clone()));
                        }
                    }
                }
                Some("map") => {
                    let keys = node::list_map_keys(schema);
                    let key_of = |item: &Value| -> serde_json::Map<String, Value> {
                        let mut m = serde_json::Map::new();
                        for k in &keys {
                            // A missing key counts as its schema default; absent both, as null.
                            let v = item.get(*k).cloned().or_else(|| {
                                schema
                                    .get("items")
                                    .and_then(|s| s.get("properties"))
                                    .and_then(|p| p.get(*k))
                                    .and_then(|s| s.get("default"))
                                    .cloned()
                            });
                            m.insert((*k).to_string(), v.unwrap_or(Value::Null));
                        }
                        m
                    };
                    let mut seen: Vec<serde_json::Map<String, Value>> = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let key = key_of(item);
                        if seen.iter().any(|s| json_equal(&Value::Object(s.clone()), &Value::Object(key.clone()))) {
                            errs.push(FieldError::duplicate(format!("{path}[{i}]"), Value::Object(key)));
                        } else {
                            seen.push(key);
                        }
                    }
                }
                _ => {}
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_list_types(item_schema, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            let props = node::properties(schema);
            let additional = node::additional_schema(schema);
            for (key, child) in map {
                let child_path = node::child_path(path, key);
                if let Some(prop) = props.and_then(|p| p.get(key)) {
                    validate_list_types(prop, child, &child_path, errs);
                } else if let Some(add) = additional {
                    validate_list_types(add, child, &format!("{path}[{key}]"), errs);
                }
            }
        }
        _ => {}
    }
}
