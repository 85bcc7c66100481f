//! `.ipynb` import and export through the API: the shared corpus round trip judged by the
//! real nbformat, authorship of imported cells, and refused files.

use serde_json::{Value, json};

use super::*;
use crate::support::{assert_equivalent, notebooks, notebooks_dir, stem};

/// `test4plus.ipynb` is a "future" nbformat 4.99 notebook with parts 4.5 cannot hold.
const FUTURE_NOTEBOOK: &str = "test4plus";

pub fn every_valid_notebook_survives_import_and_export(backend: Backend) {
    let env = Env::new(backend);
    let bob = env.user("bob");
    let project = env.project(&bob.token, "corpus");
    let out_dir = env.db.dir().join("exports");
    std::fs::create_dir_all(&out_dir).expect("exports folder");
    for path in notebooks("valid") {
        let name = stem(&path);
        let imported =
            env.import(&bob.token, project, &format!("?name={name}"), &std::fs::read(&path).expect("read"));
        imported.expect(201);
        let notebook = imported.json()["notebook"].clone();
        assert_eq!(notebook["name"], json!(name));
        assert_eq!(notebook["created_by"], json!(bob.user.id.0));
        let id = notebook["id"].as_i64().expect("id");

        let export = env.api.get(&format!("/api/notebooks/{id}/ipynb"), Auth::Bearer(&bob.token));
        export.expect(200);
        assert_eq!(export.header("content-type").as_deref(), Some("application/x-ipynb+json"));
        assert_eq!(
            export.header("content-disposition"),
            Some(format!("attachment; filename=\"{name}.ipynb\""))
        );
        let exported = out_dir.join(format!("{name}.ipynb"));
        std::fs::write(&exported, export.body()).expect("write export");
        let warnings = imported.json()["warnings"].clone();
        if name == FUTURE_NOTEBOOK {
            // Parts 4.5 cannot hold are dropped, and the reply says so; the rest must be a
            // valid 4.5 notebook.
            assert!(
                warnings.to_string().contains("$.cells[9]: dropped a cell of type `future cell`"),
                "{warnings}"
            );
            assert_equivalent(&exported, &exported);
        } else {
            assert_equivalent(&path, &exported);
        }
        for (i, cell) in export.json()["cells"].as_array().expect("cells").iter().enumerate() {
            let authorship = &cell["metadata"]["talkbook"];
            assert_eq!(authorship["author"], json!(bob.user.id.0), "{name} cell {i}: {authorship}");
            assert_eq!(authorship["author_name"], json!("bob"), "{name} cell {i}");
        }
    }
}

/// A notebook with one cell claimed by `claims[i]` (`None`: no claim), titled `title`.
fn claimed_notebook(title: Option<&str>, claims: &[Option<(i64, &str)>]) -> Vec<u8> {
    let cells: Vec<Value> = claims
        .iter()
        .enumerate()
        .map(|(i, claim)| {
            let mut metadata = json!({"tags": ["t"]});
            if let Some((author, name)) = claim {
                metadata["talkbook"] =
                    json!({"author": author, "author_name": name, "created_at": "2021-02-03T04:05:06.000Z"});
            }
            json!({"id": format!("cell{i}"), "cell_type": "code", "source": format!("x = {i}"), "metadata": metadata,
                   "execution_count": null, "outputs": []})
        })
        .collect();
    let mut metadata = json!({"kernelspec": {"name": "python3", "display_name": "Python 3"}});
    if let Some(title) = title {
        metadata["title"] = json!(title);
    }
    serde_json::to_vec(&json!({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}))
        .expect("json")
}

pub fn the_importer_authors_every_cell_unless_the_claim_is_their_own(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let project = env.project(&bob.token, "imports");
    // Alice reads what bob imports.
    env.member(project, &alice, sync_server::store::Role::Viewer);
    let claims = [
        Some((bob.user.id.0, "bob")),
        Some((alice.user.id.0, "alice")),
        None,
        Some((bob.user.id.0, "mallory")),
    ];
    let imported = env.import(&bob.token, project, "", &claimed_notebook(Some("Quarterly report"), &claims));
    imported.expect(201);
    let body = imported.json();
    assert_eq!(body["notebook"]["name"], json!("Quarterly report"), "named after metadata.title");
    assert_eq!(body["warnings"], json!([]));
    let id = body["notebook"]["id"].as_i64().expect("id");
    let export = env.api.get(&format!("/api/notebooks/{id}/ipynb"), Auth::Bearer(&alice.token)).json();
    let cells = export["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 4);
    for cell in cells {
        let record = &cell["metadata"]["talkbook"];
        assert_eq!(
            (record["author"].clone(), record["author_name"].clone()),
            (json!(bob.user.id.0), json!("bob")),
            "{cell}"
        );
        assert_eq!(cell["metadata"]["tags"], json!(["t"]), "other metadata is kept");
    }
    let created =
        |i: usize| cells[i]["metadata"]["talkbook"]["created_at"].as_str().expect("created_at").to_owned();
    assert_eq!(created(0), "2021-02-03T04:05:06.000Z", "bob's own claim keeps its time");
    for i in 1..4 {
        assert_ne!(created(i), "2021-02-03T04:05:06.000Z", "cell {i}: a claim for someone else is not kept");
    }

    // The same title again is taken; without a title the default name is used.
    let (code, _) = error_of(
        &env.import(&bob.token, project, "", &claimed_notebook(Some("Quarterly report"), &[None])),
        409,
    );
    assert_eq!(code, "conflict");
    let untitled = env.import(&bob.token, project, "", &claimed_notebook(None, &[None]));
    untitled.expect(201);
    assert_eq!(untitled.json()["notebook"]["name"], json!("Imported notebook"));
    let (code, _) =
        error_of(&env.import(&bob.token, project, "?name=%20", &claimed_notebook(None, &[None])), 422);
    assert_eq!(code, "invalid_name");
    error_of(&env.import(&bob.token, 999_999, "", &claimed_notebook(None, &[None])), 404);
    error_of(&env.import("tb_nobody", project, "", &claimed_notebook(None, &[None])), 401);
}

pub fn invalid_notebooks_are_refused_naming_the_problem_and_path(backend: Backend) {
    let env = Env::new(backend);
    let bob = env.user("bob");
    let project = env.project(&bob.token, "refusals");

    let invalid = std::fs::read(notebooks_dir("invalid").join("invalid.ipynb")).expect("read");
    let (code, message) = error_of(&env.import(&bob.token, project, "", &invalid), 422);
    assert_eq!(code, "invalid_notebook");
    assert!(
        message.contains("$.cells[0]") && message.contains("source"),
        "names the path and the problem: {message}"
    );

    let (code, message) = error_of(&env.import(&bob.token, project, "", b"{\"cells\": ["), 422);
    assert_eq!(code, "invalid_notebook");
    assert!(message.contains("line 1"), "{message}");

    let v2 = std::fs::read(notebooks_dir("legacy").join("test2.ipynb")).expect("read");
    let (code, message) = error_of(&env.import(&bob.token, project, "", &v2), 422);
    assert_eq!(code, "invalid_notebook");
    assert!(message.contains("nbformat 2"), "names the version: {message}");

    let listed = env.api.get(&format!("/api/projects/{project}/notebooks"), Auth::Bearer(&bob.token)).json();
    assert_eq!(listed, json!([]), "nothing was created by refused imports");
}

pub fn notebooks_over_the_import_limit_are_refused(backend: Backend) {
    let env = Env::with_env(backend, &[("TALKBOOK_MAX_IMPORT_BYTES", "4096")]);
    let bob = env.user("bob");
    let project = env.project(&bob.token, "limits");
    let mut notebook: Value = serde_json::from_slice(&claimed_notebook(Some("big"), &[None])).expect("json");
    notebook["cells"][0]["source"] = json!("y".repeat(5000));
    let big = serde_json::to_vec(&notebook).expect("json");
    let (code, message) = error_of(&env.import(&bob.token, project, "", &big), 413);
    assert_eq!(code, "too_large");
    assert!(message.contains("4096"), "{message}");
    let listed = env.api.get(&format!("/api/projects/{project}/notebooks"), Auth::Bearer(&bob.token)).json();
    assert_eq!(listed, json!([]), "nothing was created");
    // Just under the limit is fine.
    notebook["cells"][0]["source"] = json!("y".repeat(3000));
    let fits = serde_json::to_vec(&notebook).expect("json");
    assert!(fits.len() <= 4096);
    env.import(&bob.token, project, "", &fits).expect(201);
}
