//! Credentials for Prometheus: a bearer token and a CA, from files (the operator's flags) or from a
//! Secret in the pool's namespace. Never logged: their `Debug` is redacted by hand.

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;

use super::client::ClientError;

/// A bearer token. Its `Debug` never shows the value. `Hash` lets the operator share one client per
/// (URL, credentials) across pools.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wrap a token, trimming the trailing newline files and Secrets usually carry.
    pub fn new(token: impl AsRef<str>) -> Self {
        BearerToken(token.as_ref().trim().to_string())
    }

    /// The token itself, for the Authorization header only.
    pub(super) fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// How to authenticate to Prometheus and which CA to trust besides the system roots.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Sent as `Authorization: Bearer ...`.
    pub bearer_token: Option<BearerToken>,
    /// PEM bundle of extra trusted CAs.
    pub ca_pem: Option<Vec<u8>>,
    /// Where they came from, for error messages (never the values).
    pub origin: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| format!("<{} bytes>", p.len())))
            .field("origin", &self.origin)
            .finish()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::File { path: path.to_path_buf(), source })
}

fn secret_key(secret: &Secret, key: &str) -> Result<Vec<u8>, ClientError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.clone().into_bytes()));
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(ClientError::Secret { name, message: format!("key {key:?} is empty") }),
        None => Err(ClientError::Secret { name, message: format!("has no key {key:?}") }),
    }
}

fn token_from_bytes(bytes: Vec<u8>, origin: &str) -> Result<BearerToken, ClientError> {
    let text = String::from_utf8(bytes)
        .map_err(|_| ClientError::Token { origin: origin.into(), message: "not UTF-8".into() })?;
    let token = BearerToken::new(text);
    if token.0.is_empty() {
        return Err(ClientError::Token { origin: origin.into(), message: "empty".into() });
    }
    Ok(token)
}

impl Credentials {
    /// Read a token file and/or a CA bundle file (e.g. a mounted service-account token).
    pub fn from_files(token: Option<&Path>, ca: Option<&Path>) -> Result<Self, ClientError> {
        let mut origin = Vec::new();
        let bearer_token = match token {
            Some(p) => {
                origin.push(p.display().to_string());
                Some(token_from_bytes(read_file(p)?, &p.display().to_string())?)
            }
            None => None,
        };
        let ca_pem = match ca {
            Some(p) => {
                origin.push(p.display().to_string());
                Some(read_file(p)?)
            }
            None => None,
        };
        Ok(Credentials { bearer_token, ca_pem, origin: origin.join(", ") })
    }

    /// Read the keys a pool's `spec.metrics.auth` names from the Secrets the caller fetched.
    pub fn from_secrets(token: Option<(&Secret, &str)>, ca: Option<(&Secret, &str)>) -> Result<Self, ClientError> {
        let describe = |s: &Secret, k: &str| format!("Secret {}/{k}", s.metadata.name.as_deref().unwrap_or(""));
        let mut origin = Vec::new();
        let bearer_token = match token {
            Some((s, k)) => {
                origin.push(describe(s, k));
                Some(token_from_bytes(secret_key(s, k)?, &describe(s, k))?)
            }
            None => None,
        };
        let ca_pem = match ca {
            Some((s, k)) => {
                origin.push(describe(s, k));
                Some(secret_key(s, k)?)
            }
            None => None,
        };
        Ok(Credentials { bearer_token, ca_pem, origin: origin.join(", ") })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;

    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let c = Credentials { bearer_token: Some(BearerToken::new("s3cr3t\n")), ca_pem: None, origin: "f".into() };
        let shown = format!("{c:?} {:?}", c.bearer_token);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn secrets_give_token_and_errors_name_the_key() {
        let mut s = Secret::default();
        s.metadata.name = Some("prom".into());
        s.data = Some(BTreeMap::from([("token".to_string(), ByteString(b"abc\n".to_vec()))]));
        let c = Credentials::from_secrets(Some((&s, "token")), None).unwrap();
        assert_eq!(c.bearer_token, Some(BearerToken::new("abc")));
        let err = Credentials::from_secrets(None, Some((&s, "ca.crt"))).unwrap_err().to_string();
        assert_eq!(err, "Secret prom: has no key \"ca.crt\"");
    }

    #[test]
    fn a_missing_token_file_is_named() {
        let err = Credentials::from_files(Some(Path::new("/nonexistent/token")), None).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/token: "), "{err}");
    }
}
