//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`: parsed by [`hybridscale_api::selector`], shared
//! with the operator) applied to stored JSON objects, and field selectors (`metadata.name`,
//! `metadata.namespace` and a few per-kind fields such as `spec.nodeName` and `status.phase` for pods).

use serde_json::Value;

use super::error::ApiError;
use hybridscale_api::selector::{self, Selector, SelectorExt};

/// A parsed label selector over JSON objects; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Selector);

impl LabelSelector {
    /// Parse the `labelSelector` query parameter; a bad one is a 400 as on the real server.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        selector::parse(s)
            .map(LabelSelector)
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {:?}", e.part)))
    }

    /// Build from a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Self {
        LabelSelector(selector::from_object(sel))
    }

    /// The selector in query-string form (what `Scale.status.selector` carries).
    pub fn to_query(&self) -> String {
        self.0.to_string()
    }

    /// Whether this selects nothing in particular (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.selects_all()
    }

    /// Does an object's `metadata.labels` match?
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.matches(&selector::labels_of(obj))
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
