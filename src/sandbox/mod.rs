//! Sandbox Kubernetes API server: an emulator the real `kubectl` and `kube::Client` accept (see issue 5).
//!
//! `schema` admits custom resources against their CRD's OpenAPI schema (pruning, defaulting, structural
//! validation, CEL rules) and builds the OpenAPI documents kubectl reads for CRD kinds.

pub mod schema;
