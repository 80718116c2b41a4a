//! Reconcile errors. Each pipeline step has its own variant family, and every error maps to a short
//! metric label (`hybridscale_reconcile_errors_total{error=...}`) so a dashboard shows *which step*
//! fails without parsing messages.

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Dereference: the CostPolicy named by the pool does not exist (yet).
    #[error("CostPolicy {namespace}/{name} not found")]
    PolicyNotFound { namespace: String, name: String },
    /// Validate: the pool and policy together do not make a plannable configuration.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Observe: reading the cluster failed.
    #[error("observing {what}: {source}")]
    Observe {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// Observe: a referenced object is missing or malformed.
    #[error("{0}")]
    Reference(String),
    /// Apply: making the cluster match the plan failed.
    #[error("applying the plan: {0}")]
    Apply(String),
    /// Status: writing status failed.
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    /// Ledger: cost accounting failed (e.g. a corrupt accruedUntil).
    #[error("cost ledger: {0}")]
    Ledger(String),
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Any other Kubernetes API failure.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    /// The metric label for this error.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::PolicyNotFound { .. } => "policy_not_found",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Observe { .. } => "observe",
            Error::Reference(_) => "reference",
            Error::Apply(_) => "apply",
            Error::Status(_) => "status",
            Error::Ledger(_) => "ledger",
            Error::Finalizer(_) => "finalizer",
            Error::Kube(_) => "kube",
        }
    }

    /// A CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::PolicyNotFound { .. } => "CostPolicyNotFound",
            Error::InvalidConfig(_) => "InvalidConfiguration",
            Error::Observe { .. } => "ObserveFailed",
            Error::Reference(_) => "ReferenceNotFound",
            Error::Apply(_) => "ApplyFailed",
            Error::Status(_) => "StatusWriteFailed",
            Error::Ledger(_) => "LedgerError",
            Error::Finalizer(_) => "FinalizerFailed",
            Error::Kube(_) => "KubernetesApiError",
        }
    }
}

/// Result of a reconcile step.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_distinct_label_and_reason() {
        let errors = [
            Error::PolicyNotFound { namespace: "a".into(), name: "b".into() },
            Error::InvalidConfig("x".into()),
            Error::Reference("x".into()),
            Error::Apply("x".into()),
            Error::Ledger("x".into()),
        ];
        let labels: std::collections::BTreeSet<_> = errors.iter().map(Error::metric_label).collect();
        assert_eq!(labels.len(), errors.len());
        assert!(errors.iter().all(|e| !e.reason().is_empty() && e.reason().chars().next().unwrap().is_uppercase()));
    }
}
