//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors (`metadata.name`,
//! `metadata.namespace` and a few per-kind fields such as `spec.nodeName` and `status.phase` for pods).

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<Req>,
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn set_of(s: &str) -> Result<BTreeSet<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: expected (values) in {s:?}")))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

impl LabelSelector {
    /// Parse the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let req = if let Some((k, v)) = p.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some(idx) = p.find(" notin ") {
                Req::NotIn(p[..idx].trim().into(), set_of(&p[idx + 7..])?)
            } else if let Some(idx) = p.find(" in ") {
                Req::In(p[..idx].trim().into(), set_of(&p[idx + 4..])?)
            } else if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if p.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                Req::Exists(p.into())
            } else {
                return Err(ApiError::bad_request(format!("unable to parse requirement: {p:?}")));
            };
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    /// Build from a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
        for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
            let values: BTreeSet<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => reqs.push(Req::In(key, values)),
                Some("NotIn") => reqs.push(Req::NotIn(key, values)),
                Some("Exists") => reqs.push(Req::Exists(key)),
                Some("DoesNotExist") => reqs.push(Req::NotExists(key)),
                _ => {}
            }
        }
        LabelSelector { reqs }
    }

    /// The selector in query-string form (what `Scale.status.selector` carries).
    pub fn to_query(&self) -> String {
        let set = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        self.reqs
            .iter()
            .map(|r| match r {
                Req::Eq(k, v) => format!("{k}={v}"),
                Req::Ne(k, v) => format!("{k}!={v}"),
                Req::In(k, s) => format!("{k} in ({})", set(s)),
                Req::NotIn(k, s) => format!("{k} notin ({})", set(s)),
                Req::Exists(k) => k.clone(),
                Req::NotExists(k) => format!("!{k}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether this selects nothing in particular (matches everything).
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Does an object's `metadata.labels` match?
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, s) => get(k).is_some_and(|x| s.contains(x)),
            Req::NotIn(k, s) => get(k).is_none_or(|x| !s.contains(x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector: `field=value` / `field!=value` terms over a fixed set of fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// Fields every kind supports, plus the per-kind ones the real server registers and the operator uses.
fn supported(kind: &str, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace")
        || match kind {
            "Pod" => matches!(field, "spec.nodeName" | "status.phase" | "spec.schedulerName" | "status.podIP"),
            "Node" => field == "spec.unschedulable",
            "Event" => matches!(
                field,
                "involvedObject.kind"
                    | "involvedObject.name"
                    | "involvedObject.namespace"
                    | "involvedObject.uid"
                    | "reason"
                    | "type"
                    | "regarding.name"
                    | "regarding.kind"
            ),
            "Secret" => field == "type",
            _ => false,
        }
}

impl FieldSelector {
    /// Parse the `fieldSelector` query parameter for one kind; unknown fields are a 400 as on the real server.
    pub fn parse(s: &str, kind: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid selector: '{part}'; can't understand '{part}'")));
            };
            let field = field.trim();
            if !supported(kind, field) {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
            terms.push((field.to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    /// The value a term compares with: a missing field is the empty string (`spec.nodeName=` selects
    /// unscheduled pods), booleans print as `true`/`false`.
    fn value_of(obj: &Value, field: &str) -> String {
        let ptr = format!("/{}", field.replace('.', "/"));
        match obj.pointer(&ptr) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Null) | None => {
                if field == "spec.unschedulable" {
                    "false".into()
                } else {
                    String::new()
                }
            }
            Some(other) => other.to_string(),
        }
    }

    /// Does the object match?
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(f, neg, v)| (Self::value_of(obj, f) == *v) != *neg)
    }

    /// The name a `metadata.name=x` term pins, for a fast path and for `watch` on one object.
    pub fn pinned_name(&self) -> Option<&str> {
        self.terms.iter().find(|(f, neg, _)| f == "metadata.name" && !neg).map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn label_operators() {
        let o = obj(json!({"app": "web", "tier": "gpu"}));
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app=web", true),
            ("app in (x),tier", false),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&o), want, "{sel}");
        }
    }

    #[test]
    fn label_selector_object_round_trips_to_query() {
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"app": "web"}}));
        assert_eq!(sel.to_query(), "app=web");
        assert!(sel.matches(&obj(json!({"app": "web"}))));
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=a", "Pod").unwrap().matches(&o));
        assert!(FieldSelector::parse("spec.nodeName=n1,metadata.namespace!=x", "Pod").unwrap().matches(&o));
        assert!(!FieldSelector::parse("status.phase=Running", "Pod").unwrap().matches(&o));
        assert!(FieldSelector::parse("spec.nodeName=n1", "ConfigMap").is_err());
    }
}
