//! Notebooks as a whole: creating one with its first document state, importing an `.ipynb`
//! into a project, exporting one. Shared by the HTTP API and the `talkbook import`/`export`
//! commands, so a notebook made either way is the same.
//!
//! A notebook's document is written when the notebook is created, as the first update of
//! its log, so every notebook opens with its `meta` (nbformat version, kernelspec) in place
//! and the log alone tells who created what.

use std::collections::HashMap;

use chrono::Utc;
use doc_model::ipynb::{self, ImportError};
use doc_model::{CellId, DocError, JsonObject, Notebook, NotebookDoc, Provenance};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::names::{self, NameError};
use crate::store::{
    DynStore, NewNotebook, NewUpdate, NotebookMode, NotebookRow, ProjectId, StoreError, Timestamp, User,
};

/// The kernelspec of a notebook when none is asked for.
pub const DEFAULT_KERNELSPEC: &str = "python3";

/// The name of an imported notebook whose file has no usable `metadata.title`.
pub const DEFAULT_IMPORT_NAME: &str = "Imported notebook";

/// Why a notebook could not be created, imported or exported.
#[derive(Debug, thiserror::Error)]
pub enum NotebookError {
    /// The `.ipynb` was refused; the message names the problem and its JSON path.
    #[error(transparent)]
    Invalid(#[from] ImportError),
    #[error("{0}")]
    Name(NameError),
    #[error("{0}")]
    Kernelspec(NameError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The import task panicked (a bug; the details are logged, not sent).
    #[error("the import failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The stored document could not be read back (a damaged log).
    #[error("the notebook's document cannot be read: {0}")]
    Document(#[from] DocError),
}

impl From<NotebookError> for ApiError {
    fn from(err: NotebookError) -> Self {
        match err {
            NotebookError::Invalid(e) => {
                ApiError::Invalid { code: "invalid_notebook", message: e.to_string() }
            }
            NotebookError::Name(e) => ApiError::Invalid { code: "invalid_name", message: e.0 },
            NotebookError::Kernelspec(e) => ApiError::Invalid { code: "invalid_kernelspec", message: e.0 },
            NotebookError::Store(e) => e.into(),
            NotebookError::Task(e) => ApiError::internal(e),
            NotebookError::Document(e) => ApiError::internal(e),
        }
    }
}

/// A new empty notebook.
#[derive(Debug, Clone)]
pub struct NewEmpty<'a> {
    pub project: ProjectId,
    pub name: &'a str,
    pub mode: NotebookMode,
    /// Kernelspec name; [`DEFAULT_KERNELSPEC`] when `None`.
    pub kernelspec: Option<&'a str>,
    pub creator: &'a User,
    /// When it is created: the time of its first logged update.
    pub at: Timestamp,
}

/// Creates an empty notebook (409 when the name is taken in the project).
pub async fn create_empty(store: &DynStore, new: NewEmpty<'_>) -> Result<NotebookRow, NotebookError> {
    let name = names::name("notebook name", new.name).map_err(NotebookError::Name)?;
    let kernelspec =
        names::kernelspec(new.kernelspec.unwrap_or(DEFAULT_KERNELSPEC)).map_err(NotebookError::Kernelspec)?;
    let doc = NotebookDoc::from_notebook(&empty_notebook(&kernelspec), &HashMap::new())?;
    let first = FirstState { state: doc.encode_state(), client_id: doc.doc().client_id().get() };
    let row =
        NewNotebook { project_id: new.project, name, mode: new.mode, kernelspec, created_by: new.creator.id };
    store_new(store, &row, first, new.creator, new.at).await
}

/// The notebook a new document starts from: no cells, and the metadata Jupyter writes for
/// the kernel (`kernelspec`; `language_info` when the language is known).
pub fn empty_notebook(kernelspec: &str) -> Notebook {
    let mut metadata = JsonObject::new();
    let (display_name, language) = match kernelspec {
        DEFAULT_KERNELSPEC => ("Python 3 (ipykernel)", Some("python")),
        other => (other, None),
    };
    let mut spec = json!({"name": kernelspec, "display_name": display_name});
    if let Some(language) = language {
        spec["language"] = json!(language);
        metadata.insert("language_info".into(), json!({"name": language}));
    }
    metadata.insert("kernelspec".into(), spec);
    Notebook { metadata, cells: Vec::new() }
}

/// An `.ipynb` to import.
#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    pub project: ProjectId,
    /// The notebook's name; else the file's `metadata.title`, else [`DEFAULT_IMPORT_NAME`].
    pub name: Option<&'a str>,
    pub mode: NotebookMode,
    pub importer: &'a User,
    /// When it is imported: the time of its first logged update and of its cells' authorship.
    pub at: Timestamp,
}

/// What an import made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Imported {
    pub notebook: NotebookRow,
    /// Repairs made on the way in (e.g. missing or duplicate cell ids), for the user.
    pub warnings: Vec<String>,
}

/// Imports `.ipynb` bytes as a new notebook of the project. Parsing and building the
/// document run on the blocking pool: a large notebook takes a while and must not stall
/// the server's other requests.
pub async fn import(
    store: &DynStore,
    request: ImportRequest<'_>,
    bytes: Vec<u8>,
) -> Result<Imported, NotebookError> {
    let name =
        request.name.map(|n| names::name("notebook name", n)).transpose().map_err(NotebookError::Name)?;
    let importer = request.importer.clone();
    let at = request.at;
    let prepared = tokio::task::spawn_blocking(move || prepare_import(&bytes, &importer, name, at))
        .await
        .map_err(NotebookError::Task)??;
    let row = NewNotebook {
        project_id: request.project,
        name: prepared.name,
        mode: request.mode,
        kernelspec: prepared.kernelspec,
        created_by: request.importer.id,
    };
    let notebook = store_new(store, &row, prepared.first, request.importer, request.at).await?;
    Ok(Imported { notebook, warnings: prepared.warnings })
}

/// An import turned into a document, ready to store.
#[derive(Debug)]
struct Prepared {
    first: FirstState,
    name: String,
    kernelspec: String,
    warnings: Vec<String>,
}

fn prepare_import(
    bytes: &[u8],
    importer: &User,
    name: Option<String>,
    at: Timestamp,
) -> Result<Prepared, NotebookError> {
    let imported = ipynb::import(bytes)?;
    let mut warnings = imported.warnings.clone();
    let name = match name {
        Some(name) => name,
        None => title_name(&imported.notebook, &mut warnings),
    };
    let kernelspec = imported
        .notebook
        .metadata
        .get("kernelspec")
        .and_then(|k| k.get("name"))
        .and_then(Value::as_str)
        .and_then(|k| names::kernelspec(k).ok())
        .unwrap_or_else(|| DEFAULT_KERNELSPEC.to_owned());
    let provenance = authorship(&imported, importer, at);
    let doc = NotebookDoc::from_notebook(&imported.notebook, &provenance)?;
    let first = FirstState { state: doc.encode_state(), client_id: doc.doc().client_id().get() };
    Ok(Prepared { first, name, kernelspec, warnings })
}

/// The file's `metadata.title` when it makes a valid name, else the default.
fn title_name(notebook: &Notebook, warnings: &mut Vec<String>) -> String {
    match notebook.metadata.get("title").and_then(Value::as_str) {
        Some(title) => names::name("notebook name", title).unwrap_or_else(|e| {
            warnings.push(format!(
                "the notebook's title is not usable as its name ({e}); named it `{DEFAULT_IMPORT_NAME}`"
            ));
            DEFAULT_IMPORT_NAME.to_owned()
        }),
        None => DEFAULT_IMPORT_NAME.to_owned(),
    }
}

/// The authorship to record for an imported notebook: the importer authors every cell,
/// now. Only a cell whose `metadata.talkbook` names the importer themself (same user id
/// and user name) keeps its recorded creation time; a claim naming anyone else is not
/// taken on trust, since anyone can write any name into a file.
pub fn authorship(
    imported: &ipynb::Imported,
    importer: &User,
    now: chrono::DateTime<Utc>,
) -> HashMap<CellId, Provenance> {
    imported
        .notebook
        .cells
        .iter()
        .map(|cell| {
            let created_at = imported
                .authorship
                .get(&cell.id)
                .filter(|claim| claim.author == importer.id && claim.author_name == importer.name)
                .map_or(now, |claim| claim.created_at);
            let provenance =
                Provenance { author: importer.id, author_name: importer.name.clone(), created_at };
            (cell.id.clone(), provenance)
        })
        .collect()
}

/// A document's first state and the Yjs client id its items carry.
#[derive(Debug)]
struct FirstState {
    state: Vec<u8>,
    client_id: u64,
}

/// Creates the notebook's row, then appends its first state to the log. Should the append
/// fail, the row is removed again: a notebook whose log lacks its first state would open
/// as a document without `meta`.
///
/// Known gap: between the two writes a WebSocket client that guesses the new id could open
/// the notebook before its first state is in the log. Closing it needs one store call that
/// writes both in a transaction.
async fn store_new(
    store: &DynStore,
    row: &NewNotebook,
    first: FirstState,
    creator: &User,
    at: Timestamp,
) -> Result<NotebookRow, NotebookError> {
    let notebook = store.create_notebook(row).await?;
    let update = NewUpdate {
        notebook_id: notebook.id,
        user_id: Some(creator.id),
        client_ids: vec![first.client_id],
        actor_id: None,
        at,
        data: first.state,
    };
    if let Err(err) = store.append_updates(&[update]).await {
        if let Err(undo) = store.delete_notebook(notebook.id, creator.id).await {
            tracing::error!(notebook = %notebook.id, error = %undo, "cannot remove a notebook whose first state was not stored");
        }
        return Err(err.into());
    }
    Ok(notebook)
}

/// A notebook's full Yjs state as `.ipynb` text (nbformat 4.5, authorship included).
pub fn export_state(state: &[u8]) -> Result<String, NotebookError> {
    let doc = NotebookDoc::from_update(state)?;
    Ok(ipynb::export_text(&doc.read(), &doc.provenance()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserId;

    fn user(id: i64, name: &str) -> User {
        User {
            id: UserId(id),
            name: name.into(),
            display_name: name.into(),
            color: "#000000".into(),
            is_admin: false,
            created_at: Utc::now(),
        }
    }

    fn claimed(cells: &[(&str, i64, &str)]) -> ipynb::Imported {
        let cells: Vec<Value> = cells
            .iter()
            .map(|(id, author, name)| {
                json!({"id": id, "cell_type": "markdown", "source": "x", "metadata": {
                    "talkbook": {"author": author, "author_name": name, "created_at": "2020-01-02T03:04:05.000Z"}}})
            })
            .collect();
        let text = json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).to_string();
        ipynb::import(text.as_bytes()).expect("valid notebook")
    }

    #[test]
    fn the_importer_authors_every_cell_but_keeps_the_time_of_their_own_claims() {
        let alice = user(1, "alice");
        let imported = claimed(&[("own", 1, "alice"), ("bobs", 2, "bob"), ("spoof", 1, "mallory")]);
        let now = Utc::now();
        let provenance = authorship(&imported, &alice, now);
        assert_eq!(provenance.len(), 3);
        for record in provenance.values() {
            assert_eq!((record.author, record.author_name.as_str()), (alice.id, "alice"));
        }
        let at = |id: &str| provenance[&CellId::new(id)].created_at;
        assert_eq!(at("own").to_rfc3339(), "2020-01-02T03:04:05+00:00");
        assert_eq!(at("bobs"), now, "another user's claim is not kept");
        assert_eq!(at("spoof"), now, "a claim must match both id and name");
    }

    #[test]
    fn an_empty_python_notebook_has_jupyters_kernel_metadata() {
        let notebook = empty_notebook(DEFAULT_KERNELSPEC);
        assert_eq!(
            notebook.metadata["kernelspec"],
            json!({"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"})
        );
        assert_eq!(notebook.metadata["language_info"], json!({"name": "python"}));
        let other = empty_notebook("ir");
        assert_eq!(other.metadata["kernelspec"], json!({"name": "ir", "display_name": "ir"}));
        assert!(!other.metadata.contains_key("language_info"));
    }

    #[test]
    fn export_reads_back_what_a_document_holds() {
        let doc =
            NotebookDoc::from_notebook(&empty_notebook(DEFAULT_KERNELSPEC), &HashMap::new()).expect("doc");
        let text = export_state(&doc.encode_state()).expect("export");
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["nbformat_minor"], json!(5));
        assert_eq!(value["metadata"]["kernelspec"]["display_name"], json!("Python 3 (ipykernel)"));
        assert_eq!(value["cells"], json!([]));
    }
}
