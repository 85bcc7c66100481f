//! Project files through the API (SPEC §9), on both backends: uploads and downloads byte
//! for byte, listings with authors and blocks, implicit folders, moving, copying and
//! deleting files and folders, folders as zips, the upload limit, path attacks, and
//! manual blocks (423 naming the holder, the holder's own writes, unblocking).

use std::io::{Read, Write};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sync_server::store::{BlockReason, FileContent, FileEntry, FilePath, ProjectId, Role};

use super::*;

/// A query parameter value, percent-encoded (everything but unreserved characters and
/// `/`), so NUL bytes, newlines and backslashes reach the server as they are.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/api/projects/{project}/files{route}?path=PATH`.
pub fn file_url(project: i64, route: &str, path: &str) -> String {
    format!("/api/projects/{project}/files{route}?path={}", encode(path))
}

/// Writes a file straight into the store as `by` (for rows of the permission matrix).
pub fn seed_file(env: &Env, project: i64, path: &str, bytes: &[u8], by: &TestUser) {
    let path = FilePath::parse(path).expect("path");
    let content = FileContent::new(bytes.to_vec());
    let at = chrono::Utc::now();
    env.rt
        .block_on(env.store.write_file(ProjectId(project), &path, &content, by.user.id, at))
        .expect("write");
}

/// The entry at `path`, straight from the store.
pub fn stored_entry(env: &Env, project: i64, path: &str) -> Option<FileEntry> {
    let path = FilePath::parse(path).expect("path");
    env.rt.block_on(env.store.file_entry(ProjectId(project), &path)).expect("entry")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to an upload: the client in `client.rs` has no PUT with a raw body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "PUT answered {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// The error code, after checking the error's shape.
    pub fn error(&self, status: u16) -> String {
        let body = self.expect(status);
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        body["error"]["code"].as_str().expect("code").to_owned()
    }
}

/// `PUT /api/projects/{project}/files?path=PATH` with `bytes` as the body.
pub fn put(env: &Env, token: Option<&str>, project: i64, path: &str, bytes: &[u8]) -> Answer {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
    let url = format!("{}{}", env.server.http(), file_url(project, "", path));
    let mut request = agent.put(&url).header("content-type", "application/octet-stream");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut response = request.send(bytes).unwrap_or_else(|e| panic!("PUT {path}: {e}"));
    let body = response.body_mut().read_to_vec().expect("read the answer");
    Answer { status: response.status().as_u16(), body }
}

/// An upload with `Transfer-Encoding: chunked` (no `Content-Length`, so the server must
/// count as it reads), written by hand on a socket.
fn put_chunked(env: &Env, token: &str, project: i64, path: &str, chunks: &[&[u8]]) -> Answer {
    let mut socket = std::net::TcpStream::connect(env.server.addr).expect("connect");
    let mut request = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        file_url(project, "", path),
        env.server.addr
    )
    .into_bytes();
    for chunk in chunks {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer (413) before reading everything; the answer is what counts.
    let _ = socket.write_all(&request);
    let mut raw = Vec::new();
    let _ = socket.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status =
        text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {text}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // The answer itself may be chunked: keep the JSON between the chunk sizes.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body.lines().filter(|l| l.starts_with('{')).collect::<String>()
    } else {
        body.to_owned()
    };
    Answer { status, body: body.into_bytes() }
}

/// The entries of a listing as `path` (folders with a trailing `/`).
fn paths(listing: &Value) -> Vec<String> {
    listing["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let path = f["path"].as_str().expect("path");
            if f["kind"] == json!("folder") { format!("{path}/") } else { path.to_owned() }
        })
        .collect()
}

fn list(env: &Env, token: &str, project: i64, folder: &str, recursive: bool) -> Value {
    let url = format!("{}&recursive={recursive}", file_url(project, "", folder));
    let reply = env.api.get(&url, Auth::Bearer(token));
    reply.expect(200);
    reply.json()
}

fn user_ref(user: &TestUser) -> Value {
    json!({"id": user.user.id.0, "name": user.user.name, "display_name": user.user.display_name, "color": user.user.color})
}

fn download(env: &Env, token: &str, project: i64, path: &str) -> Vec<u8> {
    let reply = env.api.get(&file_url(project, "/content", path), Auth::Bearer(token));
    reply.expect(200);
    reply.body().to_vec()
}

/// A project owned by `owner` with the given members.
fn team(env: &Env, owner: &TestUser, name: &str, members: &[(&TestUser, Role)]) -> i64 {
    let project = env.project(&owner.token, name);
    for (user, role) in members {
        env.member(project, user, *role);
    }
    project
}

pub fn files_round_trip_byte_for_byte_and_list_with_their_authors(backend: Backend) {
    let env = Env::new(backend);
    let (alice, bob, vera) = (env.user("alice"), env.user("bob"), env.user("vera"));
    let project = team(&env, &alice, "files", &[(&bob, Role::Editor), (&vera, Role::Viewer)]);

    // Every byte value, and more than one chunk of the body.
    let blob: Vec<u8> = (0..=255u8).rev().cycle().take(300_001).collect();
    let made = put(&env, Some(&bob.token), project, "data/raw/blob.bin", &blob).expect(201);
    assert_eq!(made["path"], json!("data/raw/blob.bin"));
    assert_eq!(made["name"], json!("blob.bin"));
    assert_eq!((made["kind"].clone(), made["size"].clone()), (json!("file"), json!(300_001)));
    assert_eq!(made["sha256"], json!(sha256_hex(&blob)));
    assert_eq!((made["updated_by"].clone(), made["block"].clone()), (user_ref(&bob), Value::Null));
    assert!(
        chrono::DateTime::parse_from_rfc3339(made["updated_at"].as_str().expect("time")).is_ok(),
        "{made}"
    );

    let got = env.api.get(&file_url(project, "/content", "data/raw/blob.bin"), Auth::Bearer(&vera.token));
    got.expect(200);
    assert!(got.body() == blob.as_slice(), "the download is the upload, byte for byte");
    assert_eq!(got.header("content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(
        got.header("content-disposition").as_deref(),
        Some("attachment; filename=\"blob.bin\"; filename*=UTF-8''blob.bin")
    );
    assert_eq!(got.header("etag"), Some(format!("\"{}\"", sha256_hex(&blob))));
    assert_eq!(got.header("x-content-type-options").as_deref(), Some("nosniff"));

    let csv = b"x,y\n1,2\n";
    put(&env, Some(&bob.token), project, "data/table.csv", csv).expect(201);
    let got = env.api.get(&file_url(project, "/content", "data/table.csv"), Auth::Bearer(&alice.token));
    assert_eq!(
        (got.body(), got.header("content-type").as_deref()),
        (&csv[..], Some("text/csv; charset=utf-8"))
    );

    // Replacing is 200 and changes the bytes, the hash and the author.
    let newer = b"replaced".to_vec();
    let replaced = put(&env, Some(&alice.token), project, "data/raw/blob.bin", &newer).expect(200);
    assert_eq!(
        (replaced["size"].clone(), replaced["sha256"].clone(), replaced["updated_by"].clone()),
        (json!(8), json!(sha256_hex(&newer)), user_ref(&alice))
    );
    assert_eq!(download(&env, &vera.token, project, "data/raw/blob.bin"), newer);
    let empty = put(&env, Some(&alice.token), project, "empty", b"").expect(201);
    assert_eq!(empty["sha256"], json!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));

    // The folders the first upload needed exist, made by bob; folders have no size or hash.
    let top = list(&env, &vera.token, project, "", false);
    assert_eq!(paths(&top), ["data/", "empty"]);
    let data = &top["files"][0];
    assert_eq!(
        (data["name"].clone(), data["size"].clone(), data["sha256"].clone()),
        (json!("data"), Value::Null, Value::Null)
    );
    assert_eq!(data["updated_by"], user_ref(&bob));
    assert_eq!(paths(&list(&env, &vera.token, project, "data", false)), ["data/raw/", "data/table.csv"]);
    assert_eq!(
        paths(&list(&env, &vera.token, project, "", true)),
        ["data/", "data/raw/", "data/raw/blob.bin", "data/table.csv", "empty"]
    );
    assert_eq!(paths(&list(&env, &vera.token, project, "data/table.csv", false)), ["data/table.csv"]);
    let (code, _) =
        error_of(&env.api.get(&file_url(project, "", "nothing/here"), Auth::Bearer(&vera.token)), 404);
    assert_eq!(code, "not_found");

    // Files and folders are not each other.
    assert_eq!(put(&env, Some(&bob.token), project, "data", b"x").error(409), "is_a_folder");
    assert_eq!(put(&env, Some(&bob.token), project, "data/table.csv/x", b"x").error(409), "not_a_folder");
    let (code, _) =
        error_of(&env.api.get(&file_url(project, "/content", "data"), Auth::Bearer(&bob.token)), 409);
    assert_eq!(code, "is_a_folder");
    error_of(&env.api.get(&file_url(project, "/content", "data/nope"), Auth::Bearer(&bob.token)), 404);

    // Viewers read but do not write; nobody outside a private project reads.
    assert_eq!(put(&env, Some(&vera.token), project, "vera.txt", b"v").error(403), "forbidden");
    assert_eq!(put(&env, None, project, "anon.txt", b"a").error(401), "unauthenticated");
    error_of(&env.api.get(&file_url(project, "", ""), Auth::None), 401);
    let stranger = env.user("stranger");
    error_of(&env.api.get(&file_url(project, "/content", "empty"), Auth::Bearer(&stranger.token)), 403);
    // A public project's files are read anonymously.
    let public = json!({"visibility": "public"});
    env.api.patch_json(&format!("/api/projects/{project}"), Auth::Bearer(&alice.token), &public).expect(200);
    let anonymous = env.api.get(&file_url(project, "/content", "data/table.csv"), Auth::None);
    anonymous.expect(200);
    assert_eq!(anonymous.body(), csv);
    env.api.get(&format!("{}&recursive=true", file_url(project, "", "")), Auth::None).expect(200);
    assert_eq!(
        paths(&list(&env, &vera.token, project, "", false)),
        ["data/", "empty"],
        "vera.txt was refused"
    );
}

pub fn files_and_folders_move_copy_and_delete(backend: Backend) {
    let env = Env::new(backend);
    let (alice, bob) = (env.user("alice"), env.user("bob"));
    let project = team(&env, &alice, "tree", &[(&bob, Role::Editor)]);
    let auth = Auth::Bearer(&bob.token);
    put(&env, Some(&alice.token), project, "src/a.py", b"print('a')").expect(201);
    put(&env, Some(&alice.token), project, "src/lib/b.py", b"print('b')").expect(201);
    put(&env, Some(&alice.token), project, "notes.txt", b"notes").expect(201);

    let folders = format!("/api/projects/{project}/folders");
    let made = env.api.post_json(&folders, auth, &json!({"path": "empty/inner/"}));
    made.expect(201);
    assert_eq!(
        (made.json()["path"].clone(), made.json()["kind"].clone()),
        (json!("empty/inner"), json!("folder"))
    );
    let (code, message) = error_of(&env.api.post_json(&folders, auth, &json!({"path": "empty/inner"})), 409);
    assert_eq!(code, "conflict");
    assert!(message.contains("empty/inner"), "{message}");

    let move_url = format!("/api/projects/{project}/files/move");
    let copy_url = format!("/api/projects/{project}/files/copy");
    let moved = env.api.post_json(&move_url, auth, &json!({"from": "src", "to": "old/src"}));
    moved.expect(200);
    assert_eq!(
        (moved.json()["path"].clone(), moved.json()["kind"].clone()),
        (json!("old/src"), json!("folder"))
    );
    env.api.post_json(&move_url, auth, &json!({"from": "notes.txt", "to": "old/notes.md"})).expect(200);
    assert_eq!(
        paths(&list(&env, &bob.token, project, "", true)),
        [
            "empty/",
            "empty/inner/",
            "old/",
            "old/notes.md",
            "old/src/",
            "old/src/a.py",
            "old/src/lib/",
            "old/src/lib/b.py"
        ]
    );
    assert_eq!(download(&env, &bob.token, project, "old/src/lib/b.py"), b"print('b')");
    // A moved file keeps its author: moving changes no bytes.
    let moved_file = &list(&env, &bob.token, project, "old/src", false)["files"][0];
    assert_eq!(
        (moved_file["path"].clone(), moved_file["updated_by"].clone()),
        (json!("old/src/a.py"), user_ref(&alice))
    );

    let refused = |body: Value, status: u16, expected: &str| {
        let (code, _) = error_of(&env.api.post_json(&move_url, auth, &body), status);
        assert_eq!(code, expected, "{body}");
    };
    refused(json!({"from": "missing", "to": "x"}), 404, "not_found");
    refused(json!({"from": "old/notes.md", "to": "old/src/a.py"}), 409, "conflict");
    refused(json!({"from": "old", "to": "old/deeper/old"}), 409, "into_itself");
    refused(json!({"from": "old/src", "to": "old/notes.md/src"}), 409, "not_a_folder");
    refused(json!({"from": "old/src"}), 422, "invalid_request");

    let copied = env.api.post_json(&copy_url, auth, &json!({"from": "old/src", "to": "src"}));
    copied.expect(201);
    assert_eq!(copied.json()["updated_by"], user_ref(&bob), "a copy is the copier's");
    assert_eq!(download(&env, &bob.token, project, "src/lib/b.py"), b"print('b')");
    assert_eq!(download(&env, &bob.token, project, "old/src/lib/b.py"), b"print('b')");
    let (code, _) = error_of(
        &env.api.post_json(&copy_url, auth, &json!({"from": "old/notes.md", "to": "src/a.py"})),
        409,
    );
    assert_eq!(code, "conflict");
    error_of(&env.api.post_json(&copy_url, auth, &json!({"from": "gone", "to": "here"})), 404);
    env.api.post_json(&copy_url, auth, &json!({"from": "old/notes.md", "to": "notes.txt"})).expect(201);

    env.api.delete(&file_url(project, "", "old"), auth).expect(204);
    error_of(&env.api.delete(&file_url(project, "", "old"), auth), 404);
    env.api.delete(&file_url(project, "", "src/lib/b.py"), auth).expect(204);
    assert_eq!(
        paths(&list(&env, &bob.token, project, "", true)),
        ["empty/", "empty/inner/", "notes.txt", "src/", "src/a.py", "src/lib/"]
    );
    // Nothing of the old folder is left, in any form.
    error_of(&env.api.get(&file_url(project, "/content", "old/src/a.py"), auth), 404);
}

pub fn a_folder_downloads_as_a_zip_with_everything_in_it(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let project = team(&env, &alice, "zips", &[]);
    let auth = Auth::Bearer(&alice.token);
    let png: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let csv = "a,b\n".repeat(5_000);
    put(&env, Some(&alice.token), project, "results/2024/a.csv", csv.as_bytes()).expect(201);
    put(&env, Some(&alice.token), project, "results/2024/plot.png", &png).expect(201);
    put(&env, Some(&alice.token), project, "results/readme.md", b"# Results").expect(201);
    env.api
        .post_json(&format!("/api/projects/{project}/folders"), auth, &json!({"path": "results/empty"}))
        .expect(201);
    put(&env, Some(&alice.token), project, "other.txt", b"not in the folder").expect(201);

    let reply = env.api.get(&file_url(project, "/zip", "results"), auth);
    reply.expect(200);
    assert_eq!(reply.header("content-type").as_deref(), Some("application/zip"));
    assert!(reply.header("content-disposition").is_some_and(|d| d.contains("filename=\"results.zip\"")));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(reply.body().to_vec())).expect("a valid zip");
    let names: Vec<String> = archive.file_names().map(|n| n.expect("name").into_owned()).collect();
    assert_eq!(
        names,
        [
            "results/",
            "results/2024/",
            "results/2024/a.csv",
            "results/2024/plot.png",
            "results/empty/",
            "results/readme.md"
        ]
    );
    let mut read = |name: &str| {
        let mut bytes = Vec::new();
        archive.by_name(name).expect(name).read_to_end(&mut bytes).expect("read");
        bytes
    };
    assert_eq!(read("results/2024/a.csv"), csv.as_bytes());
    assert_eq!(read("results/2024/plot.png"), png);
    assert_eq!(read("results/readme.md"), b"# Results");

    // The whole project, under its name.
    let whole = env.api.get(&format!("/api/projects/{project}/files/zip"), auth);
    whole.expect(200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(whole.body().to_vec())).expect("a valid zip");
    assert_eq!(archive.len(), 8);
    let mut other = String::new();
    archive.by_name("zips/other.txt").expect("other.txt").read_to_string(&mut other).expect("read");
    assert_eq!(other, "not in the folder");

    let (code, _) = error_of(&env.api.get(&file_url(project, "/zip", "other.txt"), auth), 409);
    assert_eq!(code, "not_a_folder");
    error_of(&env.api.get(&file_url(project, "/zip", "nowhere"), auth), 404);
}

pub fn uploads_over_the_limit_are_refused_and_store_nothing(backend: Backend) {
    let env = Env::with_env(backend, &[("TALKBOOK_MAX_FILE_BYTES", "1000")]);
    let alice = env.user("alice");
    let project = team(&env, &alice, "limits", &[]);
    let token = Some(alice.token.as_str());
    let stored = |path: &str| stored_entry(&env, project, path);

    let full = vec![b'f'; 1000];
    put(&env, token, project, "full.bin", &full).expect(201);
    let over = vec![b'o'; 1001];
    let answer = put(&env, token, project, "big/new.bin", &over);
    assert_eq!(answer.error(413), "too_large");
    assert!(answer.json()["error"]["message"].as_str().is_some_and(|m| m.contains("1000")));
    assert_eq!((stored("big/new.bin"), stored("big")), (None, None), "not even the folder was made");
    assert_eq!(put(&env, token, project, "full.bin", &over).error(413), "too_large");
    assert_eq!(download(&env, &alice.token, project, "full.bin"), full, "the old bytes stay");

    // Without a Content-Length the server counts as it reads.
    let answer = put_chunked(&env, &alice.token, project, "chunked/big.bin", &[&[b'c'; 600], &[b'c'; 600]]);
    assert_eq!(answer.error(413), "too_large");
    assert_eq!((stored("chunked/big.bin"), stored("chunked")), (None, None));
    let answer = put_chunked(&env, &alice.token, project, "chunked/small.bin", &[b"first ", b"second"]);
    answer.expect(201);
    assert_eq!(download(&env, &alice.token, project, "chunked/small.bin"), b"first second");
    assert_eq!(
        paths(&list(&env, &alice.token, project, "", true)),
        ["chunked/", "chunked/small.bin", "full.bin"]
    );
}

pub fn path_attacks_are_refused_and_touch_nothing(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let project = team(&env, &alice, "attacks", &[]);
    let auth = Auth::Bearer(&alice.token);
    put(&env, Some(&alice.token), project, "ok.txt", b"safe").expect(201);
    let passwd = std::fs::read("/etc/passwd").ok();
    let long = "n".repeat(300);
    let attacks = [
        "../etc/passwd",
        "/etc/passwd",
        "a/../../b",
        "..",
        "./ok.txt",
        "evil\0name",
        "ctl\u{1}x",
        "line\nbreak",
        "a\\..\\..\\etc\\passwd",
        "a//b",
        long.as_str(),
    ];
    let invalid = |reply: Reply, what: &str| {
        let (code, message) = error_of(&reply, 400);
        assert_eq!(code, "invalid_path", "{what}");
        assert!(message.starts_with("invalid path"), "{what}: {message}");
    };
    for attack in attacks {
        let what = format!("{attack:?}");
        assert_eq!(
            put(&env, Some(&alice.token), project, attack, b"pwned").error(400),
            "invalid_path",
            "{what}"
        );
        for route in ["", "/content", "/zip"] {
            invalid(env.api.get(&file_url(project, route, attack), auth), &format!("GET{route} {what}"));
        }
        invalid(env.api.delete(&file_url(project, "", attack), auth), &format!("DELETE {what}"));
        invalid(env.api.post_empty(&file_url(project, "/block", attack), auth), &format!("block {what}"));
        invalid(env.api.delete(&file_url(project, "/block", attack), auth), &format!("unblock {what}"));
        let folders = format!("/api/projects/{project}/folders");
        invalid(env.api.post_json(&folders, auth, &json!({"path": attack})), &format!("folder {what}"));
        for route in ["/move", "/copy"] {
            let url = format!("/api/projects/{project}/files{route}");
            invalid(
                env.api.post_json(&url, auth, &json!({"from": "ok.txt", "to": attack})),
                &format!("{route} to {what}"),
            );
            invalid(
                env.api.post_json(&url, auth, &json!({"from": attack, "to": "x"})),
                &format!("{route} from {what}"),
            );
        }
    }
    // Nothing was made, moved or deleted in the project…
    assert_eq!(paths(&list(&env, &alice.token, project, "", true)), ["ok.txt"]);
    assert_eq!(download(&env, &alice.token, project, "ok.txt"), b"safe");
    // …and nothing outside it: files live in the database, never at a path a request
    // names. No file of the test's folder (the server's data folder, the SQLite database)
    // has an attack's name or bytes, and /etc/passwd is as it was.
    assert_eq!(std::fs::read("/etc/passwd").ok(), passwd, "/etc/passwd changed");
    let mut stack = vec![env.db.dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list").map(|e| e.expect("entry")) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let bad_names = ["passwd", "etc", "b", "x", "break"];
            assert!(
                !bad_names.contains(&name.as_str())
                    && !["evil", "ctl", "nnnn"].iter().any(|p| name.starts_with(p)),
                "{} appeared on disk",
                entry.path().display()
            );
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                let bytes = std::fs::read(entry.path()).expect("read");
                assert!(
                    !bytes.windows(5).any(|w| w == b"pwned"),
                    "an attack's bytes are in {}",
                    entry.path().display()
                );
            }
        }
    }
}

/// The error object of a refusal because of a file block, checked field by field.
fn file_block_error(body: &Value, code: &str, path: &str, holder: &TestUser, reason: &str) {
    let error = body["error"].as_object().unwrap_or_else(|| panic!("no error object in {body}"));
    let keys: Vec<&String> = error.keys().collect();
    assert_eq!(keys, ["code", "holder", "message", "path", "reason", "since"], "{body}");
    assert_eq!(
        (&error["code"], &error["path"], &error["reason"]),
        (&json!(code), &json!(path), &json!(reason))
    );
    assert_eq!(error["holder"], user_ref(holder));
    assert!(chrono::DateTime::parse_from_rfc3339(error["since"].as_str().expect("since")).is_ok());
    let message = error["message"].as_str().expect("message");
    assert!(message.contains(&holder.user.display_name) && message.contains(path), "{message}");
}

pub fn a_blocked_file_is_left_to_its_holder(backend: Backend) {
    let env = Env::new(backend);
    let (olga, alice, bob, vera) = (env.user("olga"), env.user("alice"), env.user("bob"), env.user("vera"));
    let project =
        team(&env, &olga, "blocks", &[(&alice, Role::Editor), (&bob, Role::Editor), (&vera, Role::Viewer)]);
    put(&env, Some(&alice.token), project, "analysis.py", b"v1").expect(201);
    put(&env, Some(&alice.token), project, "shared/data.csv", b"1,2").expect(201);
    put(&env, Some(&bob.token), project, "bob.py", b"bob").expect(201);
    let (a, b) = (Auth::Bearer(&alice.token), Auth::Bearer(&bob.token));
    let block = |path: &str| file_url(project, "/block", path);

    let blocked = env.api.post_empty(&block("analysis.py"), a);
    blocked.expect(200);
    let shown = blocked.json()["block"].clone();
    assert_eq!((shown["holder"].clone(), shown["reason"].clone()), (user_ref(&alice), json!("manual")));
    let since = shown["since"].clone();
    // Everyone sees it; blocking again keeps the time.
    assert_eq!(list(&env, &vera.token, project, "", false)["files"][0]["block"], shown);
    assert_eq!(env.api.post_empty(&block("analysis.py"), a).json()["block"]["since"], since);

    // Bob's changes of the file, and onto it, are 423 naming alice.
    let answer = put(&env, Some(&bob.token), project, "analysis.py", b"bob's");
    file_block_error(&answer.expect(423), "blocked", "analysis.py", &alice, "manual");
    assert_eq!(answer.json()["error"]["since"], since);
    let move_url = format!("/api/projects/{project}/files/move");
    let copy_url = format!("/api/projects/{project}/files/copy");
    for (url, from, to) in [
        (&move_url, "analysis.py", "renamed.py"),
        (&move_url, "bob.py", "analysis.py"),
        (&copy_url, "bob.py", "analysis.py"),
    ] {
        let reply = env.api.post_json(url, b, &json!({"from": from, "to": to}));
        reply.expect(423);
        file_block_error(&reply.json(), "blocked", "analysis.py", &alice, "manual");
    }
    let reply = env.api.delete(&file_url(project, "", "analysis.py"), b);
    reply.expect(423);
    file_block_error(&reply.json(), "blocked", "analysis.py", &alice, "manual");
    // A folder holding a blocked file is neither moved nor deleted.
    env.api.post_empty(&block("shared/data.csv"), a).expect(200);
    for reply in [
        env.api.delete(&file_url(project, "", "shared"), b),
        env.api.post_json(&move_url, b, &json!({"from": "shared", "to": "elsewhere"})),
    ] {
        reply.expect(423);
        file_block_error(&reply.json(), "blocked", "shared/data.csv", &alice, "manual");
    }
    assert_eq!(
        paths(&list(&env, &bob.token, project, "", true)),
        ["analysis.py", "bob.py", "shared/", "shared/data.csv"]
    );
    assert_eq!(download(&env, &bob.token, project, "analysis.py"), b"v1");

    // Alice writes; bob may neither take nor lift her block; vera may not block at all.
    let written = put(&env, Some(&alice.token), project, "analysis.py", b"v2").expect(200);
    assert_eq!(written["block"], shown, "the holder's write keeps the block");
    let reply = env.api.post_empty(&block("analysis.py"), b);
    reply.expect(409);
    file_block_error(&reply.json(), "already_blocked", "analysis.py", &alice, "manual");
    let (code, message) = error_of(&env.api.delete(&block("analysis.py"), b), 403);
    assert_eq!(code, "forbidden");
    assert!(message.contains(&alice.user.display_name), "{message}");
    error_of(&env.api.post_empty(&block("bob.py"), Auth::Bearer(&vera.token)), 403);
    let (code, _) = error_of(&env.api.post_empty(&block("shared"), a), 409);
    assert_eq!(code, "is_a_folder");
    error_of(&env.api.post_empty(&block("missing.py"), a), 404);

    // The owner breaks the block; then bob's write goes through.
    let broken = env.api.delete(&block("analysis.py"), Auth::Bearer(&olga.token));
    broken.expect(200);
    assert_eq!(broken.json()["block"], Value::Null);
    let bobs = put(&env, Some(&bob.token), project, "analysis.py", b"bob's").expect(200);
    assert_eq!(bobs["updated_by"], user_ref(&bob));
    // Unblocking what nobody blocks changes nothing, for editors.
    assert_eq!(env.api.delete(&block("analysis.py"), b).json()["block"], Value::Null);
    error_of(&env.api.delete(&block("analysis.py"), Auth::Bearer(&vera.token)), 403);

    // A console's block (consoles set it through the store) is lifted by no one by hand.
    let path = FilePath::parse("shared/data.csv").expect("path");
    let at = chrono::Utc::now();
    env.rt
        .block_on(env.store.block_file(ProjectId(project), &path, alice.user.id, BlockReason::Console, at))
        .expect("console block");
    for who in [&alice, &olga] {
        let (code, message) =
            error_of(&env.api.delete(&block("shared/data.csv"), Auth::Bearer(&who.token)), 409);
        assert_eq!(code, "held_by_console", "{}", who.user.name);
        assert!(message.contains("console"), "{message}");
    }
    let answer = put(&env, Some(&bob.token), project, "shared/data.csv", b"bob's");
    file_block_error(&answer.expect(423), "blocked", "shared/data.csv", &alice, "console");
    assert_eq!(download(&env, &bob.token, project, "shared/data.csv"), b"1,2");
}
