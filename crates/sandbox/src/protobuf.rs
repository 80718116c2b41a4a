//! Just enough of the Kubernetes protobuf encoding to accept the bodies kubectl's imperative generators send
//! for `kubectl create namespace` and `kubectl create configmap`: the `k8s\0` envelope (`runtime.Unknown`)
//! around a Namespace or ConfigMap whose ObjectMeta carries name, generateName, namespace, labels,
//! annotations and finalizers. Any other kind (or field number) is refused, and the caller answers 415.

use base64::Engine;
use serde_json::{Map, Value, json};

/// Why a protobuf body was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("protobuf body not supported: {0}")]
pub struct ProtobufError(String);

fn err(s: impl Into<String>) -> ProtobufError {
    ProtobufError(s.into())
}

/// One protobuf field: number and payload.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| err("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(err("varint too long"))
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtobufError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| err("length overflow"))?;
                if len > self.buf.len() {
                    return Err(err("truncated field"));
                }
                let (b, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(b)
            }
            1 => {
                self.skip(8)?;
                Field::Varint(0)
            }
            5 => {
                self.skip(4)?;
                Field::Varint(0)
            }
            w => return Err(err(format!("wire type {w}"))),
        };
        Ok(Some((key >> 3, field)))
    }

    fn skip(&mut self, n: usize) -> Result<(), ProtobufError> {
        if n > self.buf.len() {
            return Err(err("truncated fixed field"));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtobufError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| err("invalid UTF-8"))
}

/// A `map<string, X>` entry: field 1 key, field 2 value.
fn map_entry(b: &[u8]) -> Result<(String, &[u8]), ProtobufError> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = string(k)?,
            (2, Field::Bytes(v)) => value = v,
            _ => {}
        }
    }
    Ok((key, value))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(v) = f else { continue };
        match n {
            1 => drop(m.insert("name".into(), json!(string(v)?))),
            2 => drop(m.insert("generateName".into(), json!(string(v)?))),
            3 => drop(m.insert("namespace".into(), json!(string(v)?))),
            11 => {
                let (k, x) = map_entry(v)?;
                labels.insert(k, json!(string(x)?));
            }
            12 => {
                let (k, x) = map_entry(v)?;
                annotations.insert(k, json!(string(x)?));
            }
            14 => finalizers.push(json!(string(v)?)),
            // Server-set fields (uid, resourceVersion, timestamps...) are ignored on create anyway.
            4..=10 | 17 => {}
            other => return Err(err(format!("ObjectMeta field {other}"))),
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

/// Decode a `k8s\0`-prefixed protobuf body into the JSON object it encodes.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let raw = body.strip_prefix(b"k8s\0").ok_or_else(|| err("missing k8s envelope"))?;
    let (mut api_version, mut kind, mut object) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (k, v) in fields(tm)? {
                    match (k, v) {
                        (1, Field::Bytes(s)) => api_version = string(s)?,
                        (2, Field::Bytes(s)) => kind = string(s)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => object = b,
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap") {
        return Err(err(format!("kind {kind:?} (only Namespace and ConfigMap): send JSON, e.g. kubectl create -f")));
    }
    let mut out = json!({"apiVersion": api_version, "kind": kind});
    for (n, f) in fields(object)? {
        let Field::Bytes(v) = f else {
            if kind == "ConfigMap" && n == 4 {
                // immutable: a bool (varint) on ConfigMap.
                if let Field::Varint(b) = f {
                    out["immutable"] = json!(b != 0);
                }
                continue;
            }
            return Err(err(format!("{kind} field {n}")));
        };
        match (kind.as_str(), n) {
            (_, 1) => out["metadata"] = object_meta(v)?,
            ("Namespace", 2) => {
                let fin: Result<Vec<Value>, _> = fields(v)?
                    .into_iter()
                    .filter_map(|(k, f)| match (k, f) {
                        (1, Field::Bytes(s)) => Some(string(s).map(Value::String)),
                        _ => None,
                    })
                    .collect();
                out["spec"] = json!({"finalizers": fin?});
            }
            ("Namespace", 3) => {}
            ("ConfigMap", 2) => {
                let (k, x) = map_entry(v)?;
                if !out.get("data").is_some_and(Value::is_object) {
                    out["data"] = json!({});
                }
                out["data"][k] = json!(string(x)?);
            }
            ("ConfigMap", 3) => {
                let (k, x) = map_entry(v)?;
                if !out.get("binaryData").is_some_and(Value::is_object) {
                    out["binaryData"] = json!({});
                }
                out["binaryData"][k] = json!(base64::engine::general_purpose::STANDARD.encode(x));
            }
            (k, n) => return Err(err(format!("{k} field {n}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_namespace_as_kubectl_create_sends_it() {
        let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let label = [field(1, b"team"), field(2, b"ml")].concat();
        let meta = [field(1, b"inference"), field(11, &label)].concat();
        let ns = [field(1, &meta), field(2, &[]), field(3, &[])].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &ns)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["metadata"]["name"], "inference");
        assert_eq!(v["metadata"]["labels"]["team"], "ml");
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &field(1, &field(1, b"x")))].concat();
        assert!(decode(&body).is_err());
        assert!(decode(b"k8s\0\xff").is_err());
        assert!(decode(b"{}").is_err());
    }
}
