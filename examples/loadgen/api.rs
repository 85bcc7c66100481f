//! The few calls of Talkbook's HTTP API the examples make: the load generator's
//! `--talkbook-api` creates the project and notebooks a run needs (Talkbook rooms are
//! notebook ids that must exist and need a token), and the Rust client runs a cell.
//!
//! `POST /api/projects {"name"}` → `{"id", …}`, `POST /api/projects/{id}/notebooks
//! {"name"}` → `{"id", …}` and `POST /api/notebooks/{id}/cells/{cell}/run` → the run's
//! record, with `Authorization: Bearer`. Plain HTTP/1.1 over hyper's bare client (one
//! connection per request): a handful of requests to a local server need no pool and no
//! TLS.

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
pub struct TalkbookApi {
    /// `host:port` to connect to and to send as `Host`.
    authority: String,
    /// Path prefix before `/api`, without a trailing slash (usually empty).
    prefix: String,
    token: Option<String>,
}

impl TalkbookApi {
    /// `base` is like `http://127.0.0.1:8080`; only plain HTTP is supported.
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let uri: hyper::Uri = base.parse().with_context(|| format!("invalid --talkbook-api {base:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--talkbook-api must be an http:// URL");
        }
        let host = uri.host().ok_or_else(|| anyhow!("--talkbook-api has no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        Ok(TalkbookApi {
            authority: format!("{host}:{port}"),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Creates a project; returns its id.
    pub async fn create_project(&self, name: &str) -> anyhow::Result<String> {
        let created =
            self.post_json("/api/projects", json!({ "name": name })).await.context("creating project")?;
        id_of(&created)
    }

    /// Creates a notebook in `project`; returns its id, which is the room name.
    pub async fn create_notebook(&self, project: &str, name: &str) -> anyhow::Result<String> {
        let path = format!("/api/projects/{project}/notebooks");
        let created = self
            .post_json(&path, json!({ "name": name }))
            .await
            .with_context(|| format!("creating notebook {name}"))?;
        id_of(&created)
    }

    /// Queues a run of a cell; returns its execution record.
    #[allow(dead_code)] // the Rust client's; the load generator runs nothing
    pub async fn run_cell(&self, notebook: &str, cell: &str) -> anyhow::Result<Value> {
        let path = format!("/api/notebooks/{notebook}/cells/{cell}/run");
        self.post_json(&path, json!({})).await.with_context(|| format!("running cell {cell}"))
    }

    async fn post_json(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // Drives the connection until the response is read and the sender dropped.
        tokio::spawn(connection);

        let mut request = Request::post(format!("{}{path}", self.prefix))
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body.to_string())))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("POST {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        serde_json::from_slice(&body).with_context(|| format!("POST {path}: response is not JSON"))
    }
}

/// The `id` of a created resource, as a room-name string whether the server sends a number
/// or a string.
fn id_of(created: &Value) -> anyhow::Result<String> {
    match created.get("id") {
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        _ => bail!("response has no id: {created}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_may_be_numbers_or_strings() {
        assert_eq!(id_of(&json!({"id": 42, "name": "x"})).expect("id"), "42");
        assert_eq!(id_of(&json!({"id": "nb_1"})).expect("id"), "nb_1");
        assert!(id_of(&json!({"name": "x"})).is_err());
    }

    #[test]
    fn base_url_keeps_host_port_and_prefix() {
        let api = TalkbookApi::new("http://127.0.0.1:8080/talkbook/", None).expect("valid");
        assert_eq!((api.authority.as_str(), api.prefix.as_str()), ("127.0.0.1:8080", "/talkbook"));
        assert!(TalkbookApi::new("https://example.invalid", None).is_err());
    }
}
