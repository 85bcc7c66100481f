//! A small blocking HTTP client for the API tests: every reply is read whole, whatever its
//! status, so tests can assert on error bodies as on successes.

// Other test binaries include this file too (`#[path]`) and use only part of it.
#![allow(dead_code)]

use serde_json::Value;

/// How a request proves who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// `Authorization: Bearer TOKEN`
    Bearer(&'a str),
    /// The browser session cookie.
    Cookie(&'a str),
    /// `?token=TOKEN`, as browsers' WebSockets use.
    Query(&'a str),
}

/// The server's API at one base URL.
#[derive(Debug)]
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

/// A reply: status, headers and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
    what: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        // No connection reuse: the server closes a connection after refusing a request
        // whose body it did not read (e.g. 401 before the JSON), and a pooled connection
        // closed that way would fail the next request as "peer disconnected".
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build()
            .into();
        Self { base: base.to_owned(), agent }
    }

    pub fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("GET {path}"), with_auth(self.agent.get(&url), auth).call())
    }

    /// POSTs with no body at all (actions such as blocking a notebook).
    pub fn post_empty(&self, path: &str, auth: Auth<'_>) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("POST {path}"), with_auth(self.agent.post(&url), auth).send_empty())
    }

    pub fn delete(&self, path: &str, auth: Auth<'_>) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("DELETE {path}"), with_auth(self.agent.delete(&url), auth).call())
    }

    pub fn post_json(&self, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("POST {path}"), with_auth(self.agent.post(&url), auth).send_json(body))
    }

    pub fn put_json(&self, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("PUT {path}"), with_auth(self.agent.put(&url), auth).send_json(body))
    }

    pub fn patch_json(&self, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("PATCH {path}"), with_auth(self.agent.patch(&url), auth).send_json(body))
    }

    /// POSTs raw bytes with no content type (as an `.ipynb` upload).
    pub fn post_bytes(&self, path: &str, auth: Auth<'_>, body: &[u8]) -> Reply {
        let url = self.url(path, auth);
        self.finish(format!("POST {path}"), with_auth(self.agent.post(&url), auth).send(body))
    }

    /// POSTs bytes with the given content type (to send malformed JSON).
    pub fn post_raw(&self, path: &str, auth: Auth<'_>, content_type: &str, body: &[u8]) -> Reply {
        let url = self.url(path, auth);
        let request = with_auth(self.agent.post(&url), auth).header("content-type", content_type);
        self.finish(format!("POST {path}"), request.send(body))
    }

    fn url(&self, path: &str, auth: Auth<'_>) -> String {
        match auth {
            Auth::Query(token) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{}{path}{sep}token={token}", self.base)
            }
            _ => format!("{}{path}", self.base),
        }
    }

    fn finish(&self, what: String, result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = result.unwrap_or_else(|e| panic!("{what}: {e}"));
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        Reply { status: response.status().as_u16(), headers: response.headers().clone(), body, what }
    }
}

fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Auth<'_>) -> ureq::RequestBuilder<B> {
    match auth {
        Auth::Bearer(token) => request.header("authorization", format!("Bearer {token}")),
        Auth::Cookie(token) => request.header("cookie", format!("theme=dark; talkbook_session={token}")),
        Auth::None | Auth::Query(_) => request,
    }
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    pub fn expect(&self, status: u16) {
        assert_eq!(self.status, status, "{} answered {}: {}", self.what, self.status, self.text());
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.what, self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}
