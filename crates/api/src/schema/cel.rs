//! `x-kubernetes-validations` CEL rules, evaluated like the API server's
//! `apiextensions-apiserver/pkg/apiserver/schema/cel` validator.
//!
//! kube-cel compiles the rules (`compile_schema`: parsing, `oldSelf` detection, `messageExpression`) and
//! supplies the Kubernetes CEL function libraries. Its own `Validator` walk is not used because it differs
//! from the server where it matters for the messages and the verdict: here numbers of `type: number` fields
//! are CEL doubles even when written as `3`, field names are escaped with the server's rules (`a_b` stays
//! `a_b`), map keys appear as `spec.labels[key]` in paths, `oldSelf` is correlated for list items only in
//! `x-kubernetes-list-type: map` lists (by key, not index), rules never see `null` values, and a failed rule
//! reports its message without a value (`spec: Invalid value: <message>`, as a 1.36 server does) with its
//! `reason`.

use std::collections::HashMap;
use std::sync::Arc;

use kube::core::cel::cel::objects::{Key, Map};
use kube::core::cel::cel::{Context, ExecutionError, Value as CelValue};
use kube::core::cel::{CompilationError, CompilationResult, CompiledSchema, KubeCelExt};
use serde_json::Value;

use super::error::FieldError;
use super::formats;
use super::node;
use super::structural;

thread_local! {
    /// The function libraries, registered once per thread (a few hundred functions).
    static BASE: Context<'static> = Context::default().with_all();
}

/// Evaluate every rule in the schema against `obj` (and `old` on update), appending failures.
pub fn validate(raw: &Value, compiled: &CompiledSchema, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    BASE.with(|base| walk(raw, compiled, obj, old, old, "", true, base, errs));
}

#[allow(clippy::too_many_arguments)]
fn walk(
    raw: &Value,
    compiled: &CompiledSchema,
    value: &Value,
    old: Option<&Value>,
    ratchet: Option<&Value>,
    path: &str,
    root: bool,
    base: &Context<'_>,
    errs: &mut Vec<FieldError>,
) {
    // The server evaluates rules only on non-null values; rules about presence belong to the parent.
    if value.is_null() {
        return;
    }
    if !compiled.validations.is_empty() {
        let this = to_cel(raw, value, root);
        let before = old.filter(|o| !o.is_null()).map(|o| to_cel(raw, o, root));
        let mut scope = base.new_inner_scope();
        scope.add_variable_from_value("self", this);
        let has_old = before.is_some();
        if let Some(o) = before {
            scope.add_variable_from_value("oldSelf", o);
        }
        // Ratcheting: rules without oldSelf do not fail a value equal to its correlated stored value.
        let unchanged = ratchet == Some(value);
        for rule in &compiled.validations {
            evaluate(raw, rule, &scope, has_old, unchanged, path, errs);
        }
    }
    match value {
        Value::Object(map) => {
            let raw_props = node::properties(raw);
            let raw_add = node::additional_schema(raw);
            for (key, child) in map {
                let old_child = old.and_then(|o| o.get(key));
                if let (Some(r), Some(c)) = (raw_props.and_then(|p| p.get(key)), compiled.properties.get(key)) {
                    walk(r, c, child, old_child, old_child, &node::child_path(path, key), false, base, errs);
                } else if let (Some(r), Some(c)) = (raw_add, compiled.additional_properties.as_deref()) {
                    walk(r, c, child, old_child, old_child, &format!("{path}[{key}]"), false, base, errs);
                }
            }
        }
        Value::Array(items) => {
            let (Some(r), Some(c)) = (raw.get("items"), compiled.items.as_deref()) else { return };
            let keys = node::list_map_keys(raw);
            let correlate = node::list_type(raw) == Some("map") && !keys.is_empty();
            for (i, item) in items.iter().enumerate() {
                let old_item = if correlate {
                    old.and_then(Value::as_array)
                        .and_then(|olds| olds.iter().find(|o| keys.iter().all(|k| o.get(*k) == item.get(*k))))
                } else {
                    None
                };
                let ratchet_item = structural::correlate_item(raw, ratchet, item, i);
                walk(r, c, item, old_item, ratchet_item, &format!("{path}[{i}]"), false, base, errs);
            }
        }
        _ => {}
    }
}

fn evaluate(
    raw: &Value,
    rule: &Result<CompilationResult, CompilationError>,
    scope: &Context<'_>,
    has_old: bool,
    unchanged: bool,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let sts_type = Value::String(node::type_name(raw).to_string());
    let shown = if path.is_empty() { "<nil>".to_string() } else { path.to_string() };
    let cr = match rule {
        Ok(cr) => cr,
        Err(e) => {
            // The real server refuses such a CRD at registration (see `check_rules`); fail closed here.
            errs.push(FieldError::invalid(shown, sts_type, format!("rule compilation failed: {e}")));
            return;
        }
    };
    if unchanged && !cr.is_transition_rule {
        return;
    }
    let optional_old = cr.rule.optional_old_self == Some(true);
    if cr.is_transition_rule && !has_old && !optional_old {
        return;
    }
    let null_scope;
    let ctx: &Context<'_> = if cr.is_transition_rule && !has_old {
        // optionalOldSelf on create: the server binds an empty optional; the closest here is null.
        null_scope = {
            let mut s = scope.new_inner_scope();
            s.add_variable_from_value("oldSelf", CelValue::Null);
            s
        };
        &null_scope
    } else {
        scope
    };
    let rule_text = rule_error_string(cr);
    match cr.program.execute(ctx) {
        Ok(CelValue::Bool(true)) => {}
        Ok(CelValue::Bool(false)) => {
            let at = with_field_path(path, cr.rule.field_path.as_deref());
            let detail = message(cr, ctx);
            errs.push(match cr.rule.reason.as_deref() {
                Some("FieldValueForbidden") => FieldError::forbidden(at, detail),
                Some("FieldValueRequired") => FieldError::required(at, detail),
                Some("FieldValueDuplicate") => FieldError::duplicate(at, sts_type),
                _ => FieldError::invalid_omitting_value(at, detail),
            });
        }
        Ok(other) => errs.push(FieldError::invalid(
            shown,
            sts_type,
            format!("rule did not evaluate to a bool (got {:?}) evaluating rule: {rule_text}", other.type_of()),
        )),
        Err(ExecutionError::UndeclaredReference(name)) => errs.push(FieldError::invalid(
            shown,
            sts_type,
            format!(
                "undeclared reference to '{name}' (not supported by the sandbox's CEL evaluator) evaluating rule: {rule_text}"
            ),
        )),
        Err(e) => errs.push(FieldError::invalid(shown, sts_type, format!("{} evaluating rule: {rule_text}", go_error(&e)))),
    }
}

/// cel-go's wording for the runtime errors that matter (`no such key: x`); others lower-cased.
fn go_error(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::NoSuchOverload => "no such overload".to_string(),
        other => {
            let s = other.to_string();
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => s,
            }
        }
    }
}

/// `ruleErrorString`: the trimmed message, or the trimmed rule.
fn rule_error_string(cr: &CompilationResult) -> String {
    match cr.rule.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => cr.rule.rule.trim().to_string(),
    }
}

/// messageExpression when it yields a usable string, else `ruleMessageOrDefault`.
fn message(cr: &CompilationResult, ctx: &Context<'_>) -> String {
    if let Some(program) = &cr.message_program
        && let Ok(CelValue::String(s)) = program.execute(ctx)
        && !s.trim().is_empty()
        && !s.contains('\n')
    {
        return s.to_string();
    }
    match cr.rule.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => format!("failed rule: {}", cr.rule.rule.trim()),
    }
}

/// The error path with a rule's `fieldPath` (`.spec.x`, `.x['a.b']`) appended, normalised as the server
/// prints it (`spec.x`, `x[a.b]`).
fn with_field_path(path: &str, field_path: Option<&str>) -> String {
    let Some(fp) = field_path.map(str::trim).filter(|f| !f.is_empty()) else {
        return if path.is_empty() { "<nil>".to_string() } else { path.to_string() };
    };
    let normalized = fp.trim_start_matches('.').replace("['", "[").replace("']", "]").replace(".[", "[");
    node::child_path(path, &normalized)
}

/// The server's escaping of a property name as a CEL field (`escaping.Escape`); `None` when the name cannot
/// be accessed from CEL at all.
pub fn escape(ident: &str) -> Option<String> {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    let first = ident.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&ident) {
        return Some(format!("__{ident}__"));
    }
    let mut out = String::with_capacity(ident.len());
    let mut chars = ident.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// A JSON value as the CEL value the server binds for this schema node.
fn to_cel(schema: &Value, v: &Value, root: bool) -> CelValue {
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => number(schema, n),
        Value::String(s) => string(schema, s),
        Value::Array(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            CelValue::List(Arc::new(items.iter().map(|i| to_cel(item_schema, i, false)).collect()))
        }
        Value::Object(obj) => {
            let props = node::properties(schema);
            let additional = node::additional_schema(schema);
            let is_map = additional.is_some() || (props.is_none() && node::preserves_unknown(schema));
            let embedded = root || node::flag(schema, "x-kubernetes-embedded-resource");
            let mut map = HashMap::with_capacity(obj.len() + 3);
            for (k, child) in obj {
                let child_schema = props.and_then(|p| p.get(k)).or(additional).unwrap_or(&Value::Null);
                let value =
                    if embedded && k == "metadata" { object_meta(child) } else { to_cel(child_schema, child, false) };
                let key = if is_map && props.is_none_or(|p| !p.contains_key(k)) { Some(k.clone()) } else { escape(k) };
                if let Some(key) = key {
                    map.insert(Key::String(Arc::new(key)), value);
                }
            }
            if embedded {
                for (k, empty) in [
                    ("apiVersion", CelValue::String(Arc::new(String::new()))),
                    ("kind", CelValue::String(Arc::new(String::new()))),
                    ("metadata", CelValue::Map(Map { map: Arc::new(HashMap::new()) })),
                ] {
                    map.entry(Key::String(Arc::new(k.to_string()))).or_insert(empty);
                }
            }
            CelValue::Map(Map { map: Arc::new(map) })
        }
    }
}

/// Rules see only `metadata.name` and `metadata.generateName` of a resource.
fn object_meta(meta: &Value) -> CelValue {
    let mut map = HashMap::new();
    for k in ["name", "generateName"] {
        if let Some(Value::String(s)) = meta.get(k) {
            map.insert(Key::String(Arc::new(k.to_string())), CelValue::String(Arc::new(s.clone())));
        }
    }
    CelValue::Map(Map { map: Arc::new(map) })
}

fn number(schema: &Value, n: &serde_json::Number) -> CelValue {
    let f = n.as_f64().unwrap_or(f64::NAN);
    if node::type_name(schema) == "number" {
        return CelValue::Float(f);
    }
    if let Some(i) = n.as_i64() {
        CelValue::Int(i)
    } else if let Some(u) = n.as_u64() {
        CelValue::UInt(u)
    } else if node::type_name(schema) == "integer" && f.fract() == 0.0 {
        CelValue::Int(f as i64)
    } else {
        CelValue::Float(f)
    }
}

fn string(schema: &Value, s: &str) -> CelValue {
    if !node::flag(schema, "x-kubernetes-int-or-string") {
        match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => {
                if let Some(t) = formats::parse_date_time(s) {
                    return CelValue::Timestamp(t);
                }
            }
            Some("date") => {
                if let Some(t) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|dt| dt.and_utc().fixed_offset())
                {
                    return CelValue::Timestamp(t);
                }
            }
            Some("duration") => {
                if let Some(d) = formats::parse_duration(s) {
                    return CelValue::Duration(d);
                }
            }
            Some("byte") => {
                use base64::Engine;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                    return CelValue::Bytes(Arc::new(bytes));
                }
            }
            _ => {}
        }
    }
    CelValue::String(Arc::new(s.to_string()))
}

/// Compile-time problems with the schema's rules, as the API server reports them when the CRD is created
/// (`spec.validation...x-kubernetes-validations[i].rule: Invalid value: ...: compilation failed: ...`).
/// Paths are relative to the openAPIV3Schema (`openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule`).
pub fn check_rules(raw: &Value, compiled: &CompiledSchema, path: &str, errs: &mut Vec<FieldError>) {
    for (i, rule) in compiled.validations.iter().enumerate() {
        if let Err(e) = rule {
            let field = match e {
                CompilationError::MessageExpressionParse { .. } => "messageExpression",
                _ => "rule",
            };
            let text = raw
                .get("x-kubernetes-validations")
                .and_then(|v| v.get(i))
                .and_then(|r| r.get(field))
                .cloned()
                .unwrap_or(Value::Null);
            errs.push(FieldError::invalid(
                format!("{path}.x-kubernetes-validations[{i}].{field}"),
                text,
                format!("compilation failed: {e}"),
            ));
        }
    }
    if let Some(props) = node::properties(raw) {
        for (k, r) in props {
            if let Some(c) = compiled.properties.get(k) {
                check_rules(r, c, &format!("{path}.properties[{k}]"), errs);
            }
        }
    }
    if let (Some(r), Some(c)) = (raw.get("items"), compiled.items.as_deref()) {
        check_rules(r, c, &format!("{path}.items"), errs);
    }
    if let (Some(r), Some(c)) = (node::additional_schema(raw), compiled.additional_properties.as_deref()) {
        check_rules(r, c, &format!("{path}.additionalProperties"), errs);
    }
}
