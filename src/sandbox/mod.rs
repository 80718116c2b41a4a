//! Sandbox Kubernetes API server: an in-memory emulator that the real `kubectl` and `kube::Client` accept
//! unchanged, for tests, fault-injection runs and the local demo (no real API server can run here).
//!
//! Ownership inside this module:
//! - `schema/` (branch `validation`): CRD OpenAPI schema validation, defaulting, pruning, CEL, and the
//!   OpenAPI documents derived from CRD schemas. It implements [`admission`]'s contract:
//!   `schema::admit(schema, obj, old) -> Result<(), Vec<FieldError>>`.
//! - `cluster/` (branch `cluster`): simulated cluster behaviour, as controllers talking to the server
//!   through `kube::Client` over HTTP.
//! - everything else: the API server itself (store, watch, patches, discovery, tables, faults).

pub mod admission;
pub mod builtin;
pub mod cluster;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod kubeconfig;
pub mod managed;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod watch;

mod handle;
pub use handle::{Sandbox, SandboxError, SandboxOptions};

// Integration contract with the schema helper. For objects of CRD-served kinds the store calls
//
//     pub fn admit(schema: &serde_json::Value /* the version's openAPIV3Schema */,
//                  obj: &mut serde_json::Value /* defaulted and pruned in place */,
//                  old: Option<&serde_json::Value> /* the stored object on update, for transition rules */)
//         -> Result<(), Vec<FieldError>>;
//
// from `schema` (declared below by the `validation` branch), and renders the errors as the real API server's
// 422 `Status` (see `admission.rs`).

/// One field-level rejection from admission (schema validation or a CEL rule).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Field path as the API server prints it, e.g. `spec.minReplicas` or `spec.capacity[0].name`.
    pub path: String,
    /// What is wrong, which decides the `reason` and the message prefix (`Invalid value`, `Required value`...).
    pub kind: FieldErrorKind,
    /// Detail after the prefix, e.g. `must be greater than or equal to 1` or the CEL rule's message.
    pub message: String,
}

/// The kinds of field error the API server reports (k8s.io/apimachinery/pkg/util/validation/field).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldErrorKind {
    /// `Required value` (reason `FieldValueRequired`).
    Required,
    /// `Unsupported value: "x": supported values: "a", "b"` (reason `FieldValueNotSupported`).
    Unsupported {
        /// The offending value, rendered as JSON (e.g. `"Sometimes"`).
        value: String,
        /// The allowed values, each rendered as JSON.
        allowed: Vec<String>,
    },
    /// `Invalid value: <value>: <message>` (reason `FieldValueInvalid`); `value` rendered as JSON.
    Invalid {
        /// The offending value, rendered as the API server does (JSON, or `"object"` for objects).
        value: String,
    },
    /// `Too long: may not be more than N bytes` (reason `FieldValueTooLong`).
    TooLong {
        /// The limit.
        max: usize,
    },
    /// `Too many: N: must have at most M items` (reason `FieldValueTooMany`).
    TooMany {
        /// Actual count.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// `Forbidden: <message>` (reason `FieldValueForbidden`).
    Forbidden,
    /// `Duplicate value: <value>` (reason `FieldValueDuplicate`).
    Duplicate {
        /// The duplicated value, rendered as JSON.
        value: String,
    },
    /// `Internal error: <message>` (reason `InternalError`).
    Internal,
}

// The schema helper's module (branch `validation`) adds its `pub mod schema;` on the next line.
pub mod schema;
