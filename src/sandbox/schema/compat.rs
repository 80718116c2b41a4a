//! Conversion into the server core's `sandbox::FieldError`, whose renderer (`admission.rs`) builds the 422
//! `Status`. The values are pre-rendered the Go way here so that renderer prints the same text as
//! [`FieldError::render`]; the one thing lost is the `FieldValueTypeInvalid` cause reason (the core's type
//! has no TypeInvalid kind, so type errors become `FieldValueInvalid`, with the same message).

use super::error::{FieldError, FieldErrorKind, go_value};
use crate::sandbox as core;

impl From<FieldError> for core::FieldError {
    fn from(e: FieldError) -> Self {
        let value = e.value.as_ref().map(go_value).unwrap_or_default();
        let (kind, message) = match e.kind {
            FieldErrorKind::Required => (core::FieldErrorKind::Required, e.message),
            FieldErrorKind::NotSupported => {
                let allowed = e
                    .message
                    .strip_prefix("supported values: ")
                    .map(|list| list.split(", ").map(str::to_string).collect())
                    .unwrap_or_default();
                (core::FieldErrorKind::Unsupported { value, allowed }, String::new())
            }
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid | FieldErrorKind::NotFound => {
                (core::FieldErrorKind::Invalid { value }, e.message)
            }
            FieldErrorKind::TooLong => {
                let max = e.message.split(' ').find_map(|w| w.parse().ok()).unwrap_or(0);
                (core::FieldErrorKind::TooLong { max }, e.message)
            }
            FieldErrorKind::TooMany => {
                let actual = e.value.as_ref().and_then(|v| v.as_u64()).unwrap_or(0) as usize;
                let max = e.message.split(' ').find_map(|w| w.parse().ok()).unwrap_or(0);
                (core::FieldErrorKind::TooMany { actual, max }, e.message)
            }
            FieldErrorKind::Forbidden => (core::FieldErrorKind::Forbidden, e.message),
            FieldErrorKind::Duplicate => (core::FieldErrorKind::Duplicate { value }, e.message),
            FieldErrorKind::Internal => (core::FieldErrorKind::Internal, e.message),
        };
        core::FieldError { path: e.path, kind, message }
    }
}
