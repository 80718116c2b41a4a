//! Label selectors, parsed once for everyone: the string form (`app=llama,tier in (spot),!canary`) that
//! /scale reports in `status.selector` and that list and watch requests carry in `labelSelector`, and the
//! object form (`matchLabels`, `matchExpressions`). Both become kube's [`Selector`], whose matching and
//! rendering are kube-core's; kube has no parser of the string form, which is what this module adds.
//! The operator uses it to tell which pods belong to which capacity class, the sandbox API server to
//! filter lists and watches.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use kube::core::{Expression, Selector, SelectorExt};

/// A selector string that does not parse, with the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("label selector {selector:?}: cannot parse {part:?}")]
pub struct ParseError {
    pub selector: String,
    pub part: String,
}

/// Parse the string form. The empty string selects everything, as in Kubernetes.
pub fn parse(s: &str) -> Result<Selector, ParseError> {
    let bad = |part: &str| ParseError { selector: s.to_string(), part: part.to_string() };
    let mut exprs = Vec::new();
    for part in split_top_level(s) {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let key = |k: &str| label_key(k.trim()).ok_or_else(|| bad(p));
        let expr = if let Some(k) = p.strip_prefix('!') {
            Expression::DoesNotExist(key(k)?)
        } else if let Some((k, v)) = p.split_once("!=") {
            Expression::NotEqual(key(k)?, v.trim().to_string())
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Expression::Equal(key(k)?, v.trim().to_string())
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            Expression::NotIn(key(k)?, value_set(rest).ok_or_else(|| bad(p))?)
        } else if let Some((k, rest)) = p.split_once(" in ") {
            Expression::In(key(k)?, value_set(rest).ok_or_else(|| bad(p))?)
        } else {
            Expression::Exists(key(p)?)
        };
        exprs.push(expr);
    }
    Ok(exprs.into_iter().collect())
}

/// The selector of a `metav1.LabelSelector` object. An operator the API server would have rejected
/// selects nothing rather than everything.
pub fn from_object(sel: &Value) -> Selector {
    let mut exprs: Vec<Expression> = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            exprs.push(Expression::Equal(k.clone(), v.as_str().unwrap_or_default().to_string()));
        }
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
        let values: BTreeSet<String> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        exprs.push(match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
            "In" => Expression::In(key, values),
            "NotIn" => Expression::NotIn(key, values),
            "Exists" => Expression::Exists(key),
            "DoesNotExist" => Expression::DoesNotExist(key),
            _ => Expression::In(key, BTreeSet::new()),
        });
    }
    exprs.into_iter().collect()
}

/// An object's `metadata.labels` (string values only).
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// Split on commas that are not inside `( )`.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn label_key(k: &str) -> Option<String> {
    let ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    ok.then(|| k.to_string())
}

fn value_set(rest: &str) -> Option<BTreeSet<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let s = parse("app=llama,tier in (spot, ondemand),!canary,track!=beta,zone").unwrap();
        assert!(s.matches(&labels(&[("app", "llama"), ("tier", "spot"), ("zone", "a")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "reserved"), ("zone", "a")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "spot"), ("zone", "a"), ("canary", "")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "spot"), ("zone", "a"), ("track", "beta")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "spot")])));
        let n = parse("app.kubernetes.io/name==x,tier notin (spot)").unwrap();
        assert!(n.matches(&labels(&[("app.kubernetes.io/name", "x")])));
        assert!(parse("").unwrap().matches(&labels(&[])));
        assert!(parse("").unwrap().selects_all());
    }

    #[test]
    fn bad_selectors_name_the_part() {
        let e = parse("app=x,tier in spot").unwrap_err();
        assert_eq!(e.to_string(), "label selector \"app=x,tier in spot\": cannot parse \"tier in spot\"");
        assert!(parse("a b").is_err());
        assert!(parse("=x").is_err());
    }

    #[test]
    fn objects_render_as_scale_reports_them_and_parse_back() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["spot", "gpu"]}, {"key": "canary", "operator": "DoesNotExist"}]});
        let s = from_object(&sel);
        assert_eq!(s.to_string(), "app=web,tier in (gpu,spot),!canary");
        assert_eq!(parse(&s.to_string()).unwrap(), s);
        let bogus = from_object(&json!({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]}));
        assert!(!bogus.matches(&labels(&[("a", "x")])), "an unknown operator selects nothing");
        assert_eq!(labels_of(&json!({"metadata": {"labels": {"app": "web", "n": 1}}})), labels(&[("app", "web")]));
    }
}
