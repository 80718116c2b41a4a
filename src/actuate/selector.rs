//! Label selectors in the string form the /scale subresource reports in `status.selector`
//! (`app=llama,tier in (spot),!canary`), used to tell which pods belong to which capacity class.

use std::collections::BTreeMap;

use super::ActuateError;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parse the string form. Errors name the selector and the offending part.
    pub fn parse(s: &str) -> Result<Self, ActuateError> {
        let bad = |part: &str| ActuateError::Selector { selector: s.to_string(), part: part.to_string() };
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let req = if let Some(key) = p.strip_prefix('!') {
                Requirement::NotExists(label(key.trim()).ok_or_else(|| bad(p))?)
            } else if let Some((k, v)) = p.split_once("!=") {
                Requirement::NotEquals(label(k.trim()).ok_or_else(|| bad(p))?, v.trim().to_string())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Requirement::Equals(label(k.trim()).ok_or_else(|| bad(p))?, v.trim().to_string())
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                Requirement::NotIn(label(k.trim()).ok_or_else(|| bad(p))?, set(rest).ok_or_else(|| bad(p))?)
            } else if let Some((k, rest)) = p.split_once(" in ") {
                Requirement::In(label(k.trim()).ok_or_else(|| bad(p))?, set(rest).ok_or_else(|| bad(p))?)
            } else {
                Requirement::Exists(label(p).ok_or_else(|| bad(p))?)
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Build an equality selector from a map (e.g. a Deployment's matchLabels).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        Selector(labels.iter().map(|(k, v)| Requirement::Equals(k.clone(), v.clone())).collect())
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
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

fn label(k: &str) -> Option<String> {
    let ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    ok.then(|| k.to_string())
}

fn set(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_matches_the_scale_subresource_forms() {
        let s = Selector::parse("app=llama,tier in (spot, ondemand),!canary,track!=beta,zone").unwrap();
        assert!(s.matches(&labels(&[("app", "llama"), ("tier", "spot"), ("zone", "a")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "reserved"), ("zone", "a")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "spot"), ("zone", "a"), ("canary", "")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "spot"), ("zone", "a"), ("track", "beta")])));
        assert!(!s.matches(&labels(&[("app", "llama"), ("tier", "spot")])));
        let n = Selector::parse("app.kubernetes.io/name==x,tier notin (spot)").unwrap();
        assert!(n.matches(&labels(&[("app.kubernetes.io/name", "x")])));
        assert!(Selector::parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn bad_selectors_are_errors() {
        let e = Selector::parse("app=x,tier in spot").unwrap_err();
        assert!(e.to_string().contains("tier in spot"), "{e}");
        assert!(Selector::parse("a b").is_err());
    }
}
