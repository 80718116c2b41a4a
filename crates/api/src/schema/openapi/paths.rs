//! The REST paths of a CRD kind in its OpenAPI documents, with each operation's parameters and
//! descriptions as the server publishes them. Kept apart from the schemas because kubectl reads the two
//! for different things: the schemas for `explain`, these paths to see that the server supports
//! `fieldValidation` (without a PATCH operation listing it, `kubectl apply` fails).

use serde_json::{Map, Value, json};

use super::{CrdKind, definition_name, gvk, ref_prefix};

fn param(name: &str, location: &str, description: &str, ty: &str, v2: bool) -> Value {
    let mut p = json!({"name": name, "in": location, "description": description});
    if location == "path" {
        p["required"] = json!(true);
    }
    if v2 {
        p["type"] = json!(ty);
        p["uniqueItems"] = json!(true);
    } else {
        p["schema"] = json!({"type": ty, "uniqueItems": true});
    }
    p
}

const DRY_RUN_DOC: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER_DOC: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_VALIDATION_DOC: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";

/// Query parameters of an operation, by its `x-kubernetes-action`.
fn action_params(action: &str, v2: bool) -> Vec<Value> {
    let q = |name: &str, doc: &str, ty: &str| param(name, "query", doc, ty, v2);
    match action {
        "list" | "deletecollection" => [
            ("allowWatchBookmarks", "boolean"),
            ("continue", "string"),
            ("fieldSelector", "string"),
            ("labelSelector", "string"),
            ("limit", "integer"),
            ("resourceVersion", "string"),
            ("resourceVersionMatch", "string"),
            ("sendInitialEvents", "boolean"),
            ("timeoutSeconds", "integer"),
            ("watch", "boolean"),
        ]
        .iter()
        .map(|(n, t)| q(n, &format!("{n} (see ListOptions)"), t))
        .collect(),
        "get" => vec![q(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        )],
        "post" | "put" => vec![
            q("dryRun", DRY_RUN_DOC, "string"),
            q("fieldManager", FIELD_MANAGER_DOC, "string"),
            q("fieldValidation", FIELD_VALIDATION_DOC, "string"),
        ],
        "patch" => vec![
            q("dryRun", DRY_RUN_DOC, "string"),
            q("fieldManager", FIELD_MANAGER_DOC, "string"),
            q("fieldValidation", FIELD_VALIDATION_DOC, "string"),
            q(
                "force",
                "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
                "boolean",
            ),
        ],
        "delete" => vec![
            q("dryRun", DRY_RUN_DOC, "string"),
            q("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
            q(
                "propagationPolicy",
                "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
                "string",
            ),
        ],
        _ => vec![],
    }
}

/// One operation object.
#[allow(clippy::too_many_arguments)]
fn operation(
    v2: bool,
    gvk_value: &Value,
    action: &str,
    op_id: String,
    description: String,
    tag: &str,
    response: &str,
    body: Option<&str>,
    consumes: &[&str],
) -> Value {
    let response_ref = json!({"$ref": format!("{}{response}", ref_prefix(v2))});
    let mut params = action_params(action, v2);
    let mut op = json!({
        "description": description,
        "operationId": op_id,
        "tags": [tag],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk_value,
    });
    if v2 {
        if let Some(b) = body {
            params.push(json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": format!("{}{b}", ref_prefix(v2))}}));
        }
        op["consumes"] = json!(consumes);
        op["produces"] = json!(["application/json", "application/yaml"]);
        op["schemes"] = json!(["https"]);
        op["responses"] =
            json!({"200": {"description": "OK", "schema": response_ref}, "401": {"description": "Unauthorized"}});
    } else {
        if let Some(b) = body {
            let content: Map<String, Value> = consumes
                .iter()
                .map(|c| ((*c).to_string(), json!({"schema": {"$ref": format!("{}{b}", ref_prefix(v2))}})))
                .collect();
            op["requestBody"] = json!({"content": content, "required": true});
        }
        op["responses"] = json!({
            "200": {"description": "OK", "content": {
                "application/json": {"schema": response_ref},
                "application/yaml": {"schema": response_ref}
            }},
            "401": {"description": "Unauthorized"}
        });
    }
    op["parameters"] = Value::Array(params);
    op
}

/// The REST paths of one kind, with operations as the server documents them.
pub(super) fn kind_paths(group: &str, version: &str, k: &CrdKind, v2: bool) -> Vec<(String, Value)> {
    let kind_def = definition_name(group, version, &k.kind);
    let list_def = definition_name(group, version, &k.list_kind);
    let status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    let patch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    let delete_opts = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    let scale = "io.k8s.api.autoscaling.v1.Scale";
    let tag: String = {
        // `hybridscale.dev` -> `hybridscaleDev_v1alpha1`
        let parts: Vec<&str> = group.split('.').collect();
        let camel: String =
            parts.iter().enumerate().map(|(i, p)| if i == 0 { p.to_string() } else { capitalize(p) }).collect();
        format!("{camel}_{version}")
    };
    let gvk_value = gvk(group, version, &k.kind);
    let ns = if k.namespaced { "Namespaced" } else { "" };
    let kind = &k.kind;
    let patch_types = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];
    let json_yaml = ["application/json", "application/yaml"];
    let op =
        |action: &str, verb: &str, sub: &str, desc: String, response: &str, body: Option<&str>, consumes: &[&str]| {
            operation(
                v2,
                &gvk_value,
                action,
                format!("{verb}{ns}{kind}{}", capitalize(sub)),
                desc,
                &tag,
                response,
                body,
                consumes,
            )
        };
    let pretty = param("pretty", "query", "If 'true', then the output is pretty printed.", "string", v2);
    let name_param = param("name", "path", &format!("name of the {kind}"), "string", v2);
    let ns_param =
        param("namespace", "path", "object name and auth scope, such as for teams and projects", "string", v2);

    let mut out = Vec::new();
    let mut root = format!("/apis/{group}/{version}/{}", k.plural);
    if k.namespaced {
        let mut all = Map::new();
        let mut get = op("list", "list", "", format!("list objects of kind {kind}"), &list_def, None, &json_yaml);
        get["operationId"] = json!(format!("list{kind}ForAllNamespaces"));
        all.insert("get".into(), get);
        all.insert("parameters".into(), json!([pretty.clone()]));
        out.push((root.clone(), Value::Object(all)));
        root = format!("/apis/{group}/{version}/namespaces/{{namespace}}/{}", k.plural);
    }
    let scope_params = |with_name: bool| {
        let mut p = Vec::new();
        if with_name {
            p.push(name_param.clone());
        }
        if k.namespaced {
            p.push(ns_param.clone());
        }
        p.push(pretty.clone());
        Value::Array(p)
    };
    let article = if kind.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    out.push((
        root.clone(),
        json!({
            "get": op("list", "list", "", format!("list objects of kind {kind}"), &list_def, None, &json_yaml),
            "post": op("post", "create", "", format!("create {article} {kind}"), &kind_def, Some(&kind_def), &json_yaml),
            "delete": op("deletecollection", "deletecollection", "", format!("delete collection of {kind}"), status, None, &json_yaml),
            "parameters": scope_params(false),
        }),
    ));
    out.push((
        format!("{root}/{{name}}"),
        json!({
            "get": op("get", "read", "", format!("read the specified {kind}"), &kind_def, None, &json_yaml),
            "put": op("put", "replace", "", format!("replace the specified {kind}"), &kind_def, Some(&kind_def), &json_yaml),
            "delete": op("delete", "delete", "", format!("delete {article} {kind}"), status, Some(delete_opts), &json_yaml),
            "patch": op("patch", "patch", "", format!("partially update the specified {kind}"), &kind_def, Some(patch), &patch_types),
            "parameters": scope_params(true),
        }),
    ));
    for (sub, enabled, response) in [("status", k.status, kind_def.as_str()), ("scale", k.scale, scale)] {
        if !enabled {
            continue;
        }
        let body = if sub == "scale" { scale } else { kind_def.as_str() };
        out.push((
            format!("{root}/{{name}}/{sub}"),
            json!({
                "get": op("get", "read", sub, format!("read {sub} of the specified {kind}"), response, None, &json_yaml),
                "put": op("put", "replace", sub, format!("replace {sub} of the specified {kind}"), response, Some(body), &json_yaml),
                "patch": op("patch", "patch", sub, format!("partially update {sub} of the specified {kind}"), response, Some(patch), &patch_types),
                "parameters": scope_params(true),
            }),
        ));
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
