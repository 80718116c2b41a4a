//! Admission of custom resources against their CRD's `openAPIV3Schema`, as the real API server does it,
//! and the OpenAPI documents kubectl reads for CRD kinds.
//!
//! [`admit`] runs, in the server's order:
//! 1. pruning of fields the schema does not declare (`x-kubernetes-preserve-unknown-fields` keeps them;
//!    `apiVersion`, `kind` and `metadata` are kept at the root and in embedded resources, `metadata` is
//!    reduced to ObjectMeta's fields), then dropping `null`s of fields that are neither nullable nor
//!    defaulted;
//! 2. defaulting (`default`, also inside defaults just inserted and inside any present parent);
//! 3. OpenAPI validation with the server's messages: type (incl. `x-kubernetes-int-or-string`, `nullable`),
//!    `required`, `enum`, `minimum`/`maximum` (+ `exclusive*`), `multipleOf`, `minLength`/`maxLength`,
//!    `pattern`, string `format`s, `minItems`/`maxItems`, `minProperties`/`maxProperties`, `allOf`/`anyOf`/
//!    `oneOf`/`not`;
//! 4. `x-kubernetes-list-type` `set`/`map` uniqueness;
//! 5. `x-kubernetes-validations` CEL rules (`message`, `messageExpression`, `reason`, `fieldPath`,
//!    transition rules with `oldSelf` on update only, `optionalOldSelf`), skipped, as on the server, when
//!    step 3 found a type, required, enum, too-long or too-many error (and the schema has rules at all).
//!
//! On update, errors in parts of the object equal to the stored one are ratcheted away, as on a 1.30+
//! server. [`CrdSchema`] prepares a schema once (compiled rules and patterns) for many objects, reports the
//! pruned unknown fields (for `fieldValidation=Strict`/`Warn`), and checks a CRD's schema the way CRD
//! creation does ([`CrdSchema::check`]: structural, rules compile, defaults valid).
//!
//! Errors are [`FieldError`]s whose [`FieldError::render`] is the server's text, e.g.
//! `spec.mode: Unsupported value: "Sometimes": supported values: "Enforce", "Recommend"`.
//!
//! # Not supported (differences from a real API server)
//! - CEL: `cel.bind`, `sortBy`, two-variable comprehensions (`all(i, v, ...)`, `transformList`,
//!   `transformMap`) and the `authorizer` library are not available (rules using them are rejected with an
//!   "undeclared reference" error: fail closed); optional types (`?.`, `optional.of`, `oldSelf.hasValue()`)
//!   are not supported, and with `optionalOldSelf` on create `oldSelf` is `null` instead of an empty
//!   optional. There is no static type checking: a rule the server refuses at CRD creation for a type
//!   mismatch (e.g. comparing an int field with `==` to a double) is evaluated leniently here. CEL cost
//!   budgets (estimated and runtime) are not enforced. Runtime error texts other than `no such key` may be
//!   worded differently from cel-go's.
//! - Ratcheted errors are dropped; the server returns them as warnings.
//! - `format`: `uri`, `password`, ISBN, credit-card, SSN and rgbcolor strings are not checked (the server
//!   checks some of them); numeric formats are ignored exactly as on the server (it strips them).
//! - `x-kubernetes-map-type`, `x-kubernetes-embedded-resource` metadata validation (name syntax etc.) and
//!   ObjectMeta validation belong to the server core, not to this module.
//! - Error order among sibling fields follows the schema's property order; the server's is Go map order.

mod cel;
mod defaulting;
mod error;
mod formats;
mod node;
pub mod openapi;
mod structural;
mod structural_check;

#[cfg(test)]
mod tests;

use kube::core::cel::{CompiledSchema, compile_schema};
use serde_json::Value;

pub use defaulting::{apply_defaults, prune, prune_non_nullable_nulls};
pub use error::{FieldError, FieldErrorKind, go_quote, go_value, invalid_status_message, render_aggregate};
pub use openapi::{CrdKind, definition_name, openapi_v2_definitions, openapi_v3_document, openapi_v3_index_entry};

/// The detail of the error the server appends when it skips CEL rules because of earlier errors.
pub const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// A CRD version's schema, prepared once (CEL rules and patterns compiled) for admitting many objects.
pub struct CrdSchema {
    raw: Value,
    compiled: CompiledSchema,
    patterns: structural::Patterns,
    has_rules: bool,
}

/// What admission did besides validating.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Admitted {
    /// Paths of the unknown fields that were pruned (e.g. `spec.foo`). A server honouring
    /// `fieldValidation=Strict` (kubectl's default) rejects the request with
    /// `strict decoding error: unknown field "spec.foo"`; with `Warn` it returns them as warnings.
    pub unknown_fields: Vec<String>,
}

impl CrdSchema {
    /// Prepare `schema` (a CRD version's `schema.openAPIV3Schema`).
    pub fn new(schema: &Value) -> Self {
        let mut patterns = structural::Patterns::new();
        structural::collect_patterns(schema, &mut patterns);
        let compiled = compile_schema(schema);
        let has_rules = has_rules(&compiled);
        CrdSchema { raw: schema.clone(), compiled, patterns, has_rules }
    }

    /// The schema as given.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Problems the server would report when the CRD is created (it refuses such a CRD): a schema that is
    /// not structural, CEL rules or messageExpressions that do not compile, and `default`s that do not
    /// validate against their own schema. Paths start at `openAPIV3Schema`; the server prefixes
    /// `spec.versions[i].schema.`.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        structural_check::check(&self.raw, "openAPIV3Schema", &mut errs);
        cel::check_rules(&self.raw, &self.compiled, "openAPIV3Schema", &mut errs);
        check_defaults(&self.raw, "openAPIV3Schema", &self.patterns, &mut errs);
        errs
    }

    /// Prune, default and validate `obj` in place; `old` is the stored object on update: transition rules
    /// see it as `oldSelf`, and errors in parts of `obj` equal to it are ratcheted (not reported), as on a
    /// 1.30+ server.
    pub fn admit(&self, obj: &mut Value, old: Option<&Value>) -> Result<Admitted, Vec<FieldError>> {
        let unknown_fields = prune(&self.raw, obj);
        prune_non_nullable_nulls(&self.raw, obj);
        apply_defaults(&self.raw, obj);

        // The stored object, defaulted as the server reads it from storage.
        let old = old.map(|o| {
            let mut o = o.clone();
            prune_non_nullable_nulls(&self.raw, &mut o);
            apply_defaults(&self.raw, &mut o);
            o
        });
        let old = old.as_ref();

        let mut errs = Vec::new();
        structural::validate(&self.raw, obj, old, "", &self.patterns, &mut errs);
        // List uniqueness is ratcheted as a whole: checked on update only if the stored object passed it.
        let old_lists_valid = old.is_none_or(|o| {
            let mut e = Vec::new();
            structural::validate_list_types(&self.raw, o, "", &mut e);
            e.is_empty()
        });
        if old_lists_valid {
            structural::validate_list_types(&self.raw, obj, "", &mut errs);
        }
        let blocking = errs.iter().any(|e| {
            matches!(
                e.kind,
                FieldErrorKind::NotSupported
                    | FieldErrorKind::Required
                    | FieldErrorKind::TooLong
                    | FieldErrorKind::TooMany
                    | FieldErrorKind::TypeInvalid
            )
        });
        if !self.has_rules {
            // The server builds no CEL validator for a schema without rules, so it says nothing about them.
        } else if blocking {
            errs.push(FieldError::invalid("<nil>", Value::Null, RULES_NOT_CHECKED));
        } else {
            cel::validate(&self.raw, &self.compiled, obj, old, &mut errs);
        }
        if errs.is_empty() { Ok(Admitted { unknown_fields }) } else { Err(errs) }
    }
}

/// The message of the 400 `BadRequest` the server returns for unknown fields under
/// `fieldValidation=Strict` (kubectl's default), e.g.
/// `CostPolicy in version "v1alpha1" cannot be handled as a CostPolicy: strict decoding error: unknown field "spec.foo"`.
pub fn strict_decoding_message(kind: &str, version: &str, unknown_fields: &[String]) -> String {
    let fields: Vec<String> = unknown_fields.iter().map(|f| unknown_field_warning(f)).collect();
    format!(
        "{kind} in version {} cannot be handled as a {kind}: strict decoding error: {}",
        go_quote(version),
        fields.join(", ")
    )
}

/// The warning (`Warning` header text, 299) for one unknown field under `fieldValidation=Warn`, which
/// kubectl prints as `Warning: unknown field "spec.foo"`.
pub fn unknown_field_warning(path: &str) -> String {
    format!("unknown field {}", go_quote(path))
}

/// Whether any node carries `x-kubernetes-validations`.
fn has_rules(compiled: &CompiledSchema) -> bool {
    !compiled.validations.is_empty()
        || compiled.properties.values().any(has_rules)
        || compiled.items.as_deref().is_some_and(has_rules)
        || compiled.additional_properties.as_deref().is_some_and(has_rules)
        || compiled.all_of.iter().chain(&compiled.any_of).chain(&compiled.one_of).any(has_rules)
}

/// Every `default` must validate against the schema it sits on, nested defaults applied first.
fn check_defaults(schema: &Value, path: &str, patterns: &structural::Patterns, errs: &mut Vec<FieldError>) {
    if let Some(default) = schema.get("default") {
        let mut value = default.clone();
        apply_defaults(schema, &mut value);
        // The server validates a default on its own, so messages name fields relative to it while the
        // error path is the full one (`...properties[metrics].default.maxAgeSeconds`).
        let mut found = Vec::new();
        structural::validate(schema, &value, None, "", patterns, &mut found);
        for mut e in found {
            e.path = if e.path == "<nil>" { format!("{path}.default") } else { format!("{path}.default.{}", e.path) };
            errs.push(e);
        }
    }
    if let Some(props) = node::properties(schema) {
        for (k, child) in props {
            check_defaults(child, &format!("{path}.properties[{k}]"), patterns, errs);
        }
    }
    if let Some(items) = schema.get("items") {
        check_defaults(items, &format!("{path}.items"), patterns, errs);
    }
    if let Some(add) = node::additional_schema(schema) {
        check_defaults(add, &format!("{path}.additionalProperties"), patterns, errs);
    }
}

/// Admit a custom resource as the API server does on create (`old` = `None`) or update: prune unknown
/// fields, apply defaults, validate the schema, then evaluate its CEL rules. `obj` is left pruned and
/// defaulted, ready to store. Compiles the schema on every call; keep a [`CrdSchema`] to reuse it.
pub fn admit(schema: &Value, obj: &mut Value, old: Option<&Value>) -> Result<(), Vec<FieldError>> {
    CrdSchema::new(schema).admit(obj, old).map(|_| ())
}
