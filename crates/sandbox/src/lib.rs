//! Sandbox Kubernetes API server: an in-memory emulator that the real `kubectl` and `kube::Client` accept
//! unchanged, for tests, fault-injection runs and the local demo (no real API server can run here).
//!
//! What is where:
//! - `schema` (`hybridscale_api::schema`, re-exported): CRD OpenAPI schema validation, defaulting,
//!   pruning, CEL, and the OpenAPI documents derived from CRD schemas. It implements [`admission`]'s
//!   contract: `schema::admit(schema, obj, old) -> Result<(), Vec<FieldError>>`. It lives with the CRD
//!   types because the simulator checks policy files with it too.
//! - `cluster/`: simulated cluster behaviour, as controllers talking to the server through
//!   `kube::Client` over HTTP.
//! - everything else: the API server itself (store, watch, patches, discovery, tables, faults).
#![forbid(unsafe_code)]

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
pub use hybridscale_api::schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod watch;

mod handle;
pub use handle::{Sandbox, SandboxError, SandboxOptions};

// Admission contract: for objects of CRD-served kinds the store calls `schema::admit(schema, obj, old)
// -> Result<(), Vec<FieldError>>` (obj defaulted and pruned in place, `old` for transition rules) and
// renders the errors as the real API server's 422 `Status` (see `admission.rs`). There is one field error
// type, the schema module's, re-exported here.
pub use schema::{FieldError, FieldErrorKind};
