//! The OpenAPI document at `/api/openapi.json`: valid by the real `openapi-spec-validator`,
//! and describing exactly the routes the router registers, each with its error answers.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::support::run_py;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Every `METHOD /path` the document describes.
fn documented(document: &Value) -> BTreeSet<String> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect()
}

#[test]
fn the_openapi_document_is_valid_and_describes_every_route() {
    let env = Env::new(Backend::Sqlite);
    let reply = env.api.get("/api/openapi.json", Auth::None);
    reply.expect(200);
    assert!(reply.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let document = reply.json();

    let file = env.db.dir().join("openapi.json");
    std::fs::write(&file, reply.body()).expect("write the document");
    let out = run_py("openapi_validate.py", &[&file]);
    assert!(out.status.success(), "openapi-spec-validator refused the document: {}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("valid OpenAPIV3.1"), "{}", describe(&out));

    let registered: BTreeSet<String> =
        sync_server::app::route_table().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let described = documented(&document);
    let undocumented: Vec<&String> = registered.difference(&described).collect();
    assert!(undocumented.is_empty(), "routes without documentation: {undocumented:?}");
    let phantom: Vec<&String> = described.difference(&registered).collect();
    assert!(phantom.is_empty(), "documented routes the server does not have: {phantom:?}");
    assert!(registered.contains("GET /ws/{notebook_id}"), "the WebSocket upgrade is a route");

    // The three ways to present a token.
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        (schemes["cookie"]["in"].as_str(), schemes["cookie"]["name"].as_str()),
        (Some("cookie"), Some("talkbook_session"))
    );
    assert_eq!(
        (schemes["token"]["in"].as_str(), schemes["token"]["name"].as_str()),
        (Some("query"), Some("token"))
    );

    let mut operation_ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let operation = &item[*method];
            let route = format!("{} {path}", method.to_uppercase());
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(operation_ids.insert(id.to_owned()), "operationId `{id}` is used twice");
            assert!(operation["summary"].is_string(), "{route} has no summary");
            let responses = operation["responses"].as_object().expect("responses");
            // Every error answer carries the error body's schema (but the WebSocket
            // upgrade's refusals of malformed handshakes, which are axum's plain text).
            for (status, response) in
                responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5'))
            {
                if path == "/ws/{notebook_id}" && response["content"].get("text/plain").is_some() {
                    continue;
                }
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                let schema = schema.as_str().unwrap_or_else(|| panic!("{route} {status} has no error body"));
                assert!(schema.ends_with("ErrorBody"), "{route} {status}: {schema}");
            }
            // Everything but the service routes and sign-in may refuse the caller, and
            // everything with an id in its path may not find it.
            if !["/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/auth/login"]
                .contains(&path.as_str())
            {
                assert!(responses.contains_key("401"), "{route} does not document 401");
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{route} does not document 404");
            }
        }
    }
    // Writes to a blocked notebook document the 423 body with its holder.
    let rename = &document["paths"]["/api/notebooks/{id}"]["patch"]["responses"]["423"];
    assert!(
        rename["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("BlockedErrorBody"))
    );
    let detail = &document["components"]["schemas"]["BlockedErrorDetail"]["required"];
    for field in ["code", "message", "holder", "since", "reason"] {
        assert!(
            detail.as_array().is_some_and(|r| r.contains(&serde_json::json!(field))),
            "{field} in {detail}"
        );
    }
}
