//! Reconcile errors: one variant per step of the pipeline (dereference, validate, observe, apply,
//! status, finalizer), each keeping the error that caused it as its `source`, and each with its own
//! metric label (`hybridscale_reconcile_errors_total{error=...}`), so a dashboard shows *which step*
//! fails without parsing messages.
//!
//! What is *not* an error: a command of the apply step that fails (a workload that cannot be scaled, a
//! route that refuses its weights). The reconcile then stops running commands for that tick (never
//! scale down before traffic has moved), reports the failure in the pool's `Degraded` condition and
//! still writes the rest of its status (ledger, plan, reasons), and the next tick decides again. An
//! error would skip that status write: the ledger would stop and the reason would only be in the logs.
//! Only the finalizer's commands are errors ([`Error::Apply`]): the finalizer must not be removed before
//! the route is safe, so it is retried.

/// Any error a step may wrap.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Dereference: the CostPolicy named by the pool could not be read, or does not exist (yet).
    #[error("CostPolicy {namespace}/{name}: {source}")]
    Dereference {
        namespace: String,
        name: String,
        #[source]
        source: DereferenceError,
    },
    /// Validate: the object, or the pool and policy together, do not make a plannable configuration.
    #[error("invalid configuration: {source}")]
    Validate {
        #[source]
        source: Source,
    },
    /// Observe: reading the cluster or summing the policy's pools failed.
    #[error("observing {what}: {source}")]
    Observe {
        what: String,
        #[source]
        source: Source,
    },
    /// Apply: a command the finalizer must run failed (see the module docs for the tick's commands).
    #[error("applying {what}: {source}")]
    Apply {
        what: String,
        #[source]
        source: crate::actuate::ActuateError,
    },
    /// Status: writing the status subresource failed.
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    /// Finalizer: adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Source),
}

/// Why the CostPolicy could not be dereferenced.
#[derive(Debug, thiserror::Error)]
pub enum DereferenceError {
    /// It does not exist (yet).
    #[error("not found")]
    NotFound,
    /// Reading it failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
}

impl Error {
    /// A validation error from anything that explains itself.
    pub fn validate(source: impl Into<Source>) -> Self {
        Error::Validate { source: source.into() }
    }

    /// An observation error: reading `what` failed because of `source`.
    pub fn observe(what: impl Into<String>, source: impl Into<Source>) -> Self {
        Error::Observe { what: what.into(), source: source.into() }
    }

    /// The metric label for this error: one per step.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Dereference { .. } => "dereference",
            Error::Validate { .. } => "validate",
            Error::Observe { .. } => "observe",
            Error::Apply { .. } => "apply",
            Error::Status(_) => "status",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// A CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Dereference { source: DereferenceError::NotFound, .. } => "CostPolicyNotFound",
            Error::Dereference { .. } => "CostPolicyUnreadable",
            Error::Validate { .. } => "InvalidConfiguration",
            Error::Observe { .. } => "ObserveFailed",
            Error::Apply { .. } => "ApplyFailed",
            Error::Status(_) => "StatusWriteFailed",
            Error::Finalizer(_) => "FinalizerFailed",
        }
    }
}

/// Result of a reconcile step.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("the server said no", "Forbidden").with_code(code).boxed())
    }

    /// One of each step's error, in pipeline order.
    fn one_per_step() -> Vec<Error> {
        vec![
            Error::Dereference { namespace: "ns".into(), name: "p".into(), source: api_error(403).into() },
            Error::validate("spec.minReplicas 3 is above spec.maxReplicas 2"),
            Error::observe("InferencePools in ns", api_error(500)),
            Error::Apply {
                what: "the route's final weights".into(),
                source: crate::actuate::ActuateError::Route { route: "ns/r".into(), why: "has no spec.rules".into() },
            },
            Error::Status(api_error(409)),
            Error::Finalizer("the finalizer could not be removed".into()),
        ]
    }

    #[test]
    fn each_step_has_its_own_label_and_reason_and_keeps_its_source() {
        let errors = one_per_step();
        let labels: Vec<_> = errors.iter().map(Error::metric_label).collect();
        assert_eq!(labels, ["dereference", "validate", "observe", "apply", "status", "finalizer"]);
        let reasons: std::collections::BTreeSet<_> = errors.iter().map(Error::reason).collect();
        assert_eq!(reasons.len(), errors.len());
        assert!(reasons.iter().all(|r| r.chars().next().is_some_and(char::is_uppercase)));
        for e in &errors {
            let source = e.source().unwrap_or_else(|| panic!("{e} lost its source"));
            assert!(e.to_string().contains(&source.to_string()), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_missing_policy_is_a_dereference_error_with_its_own_reason() {
        let e = Error::Dereference { namespace: "ns".into(), name: "p".into(), source: DereferenceError::NotFound };
        assert_eq!(e.to_string(), "CostPolicy ns/p: not found");
        assert_eq!((e.metric_label(), e.reason()), ("dereference", "CostPolicyNotFound"));
    }
}
