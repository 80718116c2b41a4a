//! Field errors in the shape of `k8s.io/apimachinery/pkg/util/validation/field.Error`, rendered with the
//! same text the real API server puts in a 422 `Status` (kubectl prints that text verbatim).

use serde_json::Value;

/// What kind of problem a [`FieldError`] reports; mirrors `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Not found`.
    NotFound,
    /// `Required value`: a required field is missing.
    Required,
    /// `Duplicate value`: an item of a set or map list repeats.
    Duplicate,
    /// `Invalid value`: out of range, wrong pattern, a failed CEL rule, ...
    Invalid,
    /// `Unsupported value`: not one of an enum's values.
    NotSupported,
    /// `Forbidden`.
    Forbidden,
    /// `Too long`: a string longer than maxLength.
    TooLong,
    /// `Too many`: more items or properties than maxItems / maxProperties.
    TooMany,
    /// `Internal error`.
    Internal,
    /// `Invalid value` for a value of the wrong JSON type (its own cause reason, same text as Invalid).
    TypeInvalid,
}

impl FieldErrorKind {
    /// The text the API server prints for this kind (`field.ErrorType.String()`).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::Internal => "Internal error",
        }
    }

    /// The `Status.details.causes[].reason` for this kind (`metav1.CauseType`).
    pub fn cause_reason(self) -> &'static str {
        match self {
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Internal => "InternalError",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One rejected field, as the API server reports it.
///
/// `path` is the field path as the server prints it (`spec.minReplicas`, `spec.items[0].name`, or `<nil>`
/// for an error about the whole object), `message` is the detail after the value. `value` is the bad value
/// the server echoes (`None` when it omits it, as for Required, Forbidden and Too long).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// Field path, e.g. `spec.minReplicas`.
    pub path: String,
    /// Which `field.ErrorType` this is.
    pub kind: FieldErrorKind,
    /// The detail text, e.g. `spec.tickSeconds in body should be greater than or equal to 5`.
    pub message: String,
    /// The offending value as JSON, `None` when the server's text omits it.
    pub value: Option<Value>,
}

impl FieldError {
    /// `field.Required(path, detail)`.
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Required, None, detail)
    }

    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(path: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Invalid, Some(value), detail)
    }

    /// `field.Invalid` without the value, as a Kubernetes 1.36 server reports a failed CEL rule:
    /// `spec: Invalid value: min must not exceed max`.
    pub fn invalid_omitting_value(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Invalid, None, detail)
    }

    /// `field.TypeInvalid(path, value, detail)`.
    pub fn type_invalid(path: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::TypeInvalid, Some(value), detail)
    }

    /// `field.NotSupported(path, value, supported)`.
    pub fn not_supported(path: impl Into<String>, value: Value, supported: &[String]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(path, FieldErrorKind::NotSupported, Some(value), detail)
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Forbidden, None, detail)
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(path: impl Into<String>, value: Value) -> Self {
        Self::new(path, FieldErrorKind::Duplicate, Some(value), "")
    }

    /// `field.TooLong(path, _, max)` (Kubernetes 1.31+ text; the value is never echoed).
    pub fn too_long(path: impl Into<String>, max: i64) -> Self {
        let detail = if max >= 0 {
            format!("may not be more than {max} {}", if max == 1 { "byte" } else { "bytes" })
        } else {
            "value is too long".to_string()
        };
        Self::new(path, FieldErrorKind::TooLong, None, detail)
    }

    /// `field.TooMany(path, actual, max)`.
    pub fn too_many(path: impl Into<String>, actual: i64, max: i64) -> Self {
        let detail = if max >= 0 {
            format!("must have at most {max} {}", if max == 1 { "item" } else { "items" })
        } else {
            "has too many items".to_string()
        };
        let value = (actual >= 0).then(|| Value::from(actual));
        Self::new(path, FieldErrorKind::TooMany, value, detail)
    }

    /// `field.InternalError(path, err)`.
    pub fn internal(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(path, FieldErrorKind::Internal, None, detail)
    }

    fn new(path: impl Into<String>, kind: FieldErrorKind, value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError { path: path.into(), kind, message: detail.into(), value }
    }

    /// The server's text for this error, e.g.
    /// `spec.tickSeconds: Invalid value: 1: spec.tickSeconds in body should be greater than or equal to 5`.
    pub fn render(&self) -> String {
        format!("{}: {}", self.path, self.body())
    }

    /// The text without the leading field path (`field.Error.ErrorBody()`).
    pub fn body(&self) -> String {
        let mut s = match (self.kind, &self.value) {
            (
                FieldErrorKind::Required
                | FieldErrorKind::Forbidden
                | FieldErrorKind::TooLong
                | FieldErrorKind::Internal,
                _,
            )
            | (_, None) => self.kind.as_str().to_string(),
            (_, Some(v)) => format!("{}: {}", self.kind.as_str(), go_value(v)),
        };
        if !self.message.is_empty() {
            s.push_str(": ");
            s.push_str(&self.message);
        }
        s
    }

    /// `Status.details.causes[].reason`, e.g. `FieldValueInvalid`.
    pub fn cause_reason(&self) -> &'static str {
        self.kind.cause_reason()
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// The errors as `field.ErrorList.ToAggregate().Error()` prints them: duplicates dropped, one error bare,
/// several in `[a, b]`.
pub fn render_aggregate(errors: &[FieldError]) -> String {
    let mut seen = std::collections::HashSet::new();
    let msgs: Vec<String> = errors.iter().map(FieldError::render).filter(|m| seen.insert(m.clone())).collect();
    match msgs.len() {
        0 => String::new(),
        1 => msgs.into_iter().next().unwrap_or_default(),
        _ => format!("[{}]", msgs.join(", ")),
    }
}

/// The message of the API server's 422 `Invalid` status for a custom resource, e.g.
/// `CostPolicy.hybridscale.dev "x" is invalid: spec.slo: Required value`.
pub fn invalid_status_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    format!("{qualified} {} is invalid: {}", go_quote(name), render_aggregate(errors))
}

/// A value as Go's `%v` (scalars), `%q` (strings) or `%#v` (lists and maps of `interface{}`) prints it,
/// which is how the API server echoes bad values.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "\"null\"".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::Array(_) | Value::Object(_) => go_sharp_v(v),
    }
}

/// `%#v` of a decoded JSON value (`[]interface {}{...}`, `map[string]interface {}{...}`).
fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_sharp_v).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys.iter().map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&map[*k]))).collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// A JSON number as the API server holds it after decoding (int64 when it is one, else float64), printed
/// with `%v`.
pub fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        // Beyond int64 Go decodes into float64.
        go_float(u as f64)
    } else {
        go_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest round-tripping digits,
/// in exponent form when the decimal exponent is below -4 or at least 6 (Go prints `1e+06` for a million).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".to_string() } else { "0".to_string() };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like strconv's shortest mode.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let neg = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{neg}{m}e{sign}{:02}", exp.abs());
    }
    // Plain decimal.
    let dp = exp + 1; // digits before the decimal point
    let s = if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(dp as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    };
    format!("{neg}{s}")
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
