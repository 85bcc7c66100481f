//! `talkbook convert`: `.ipynb` ⇄ Yjs update files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use doc_model::{NotebookDoc, ipynb};

/// A notebook file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Jupyter notebook JSON (nbformat 4.5 on output).
    Ipynb,
    /// The binary state of the Yjs document (a v1 update), as Yjs' `encodeStateAsUpdate`.
    Yjs,
}

impl Format {
    /// The format an extension names: `.ipynb`, or `.yjs`/`.ybin`/`.bin` for Yjs updates.
    fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "ipynb" | "json" => Some(Format::Ipynb),
            "yjs" | "ybin" | "bin" => Some(Format::Yjs),
            _ => None,
        }
    }
}

/// What to convert, from the command line.
#[derive(Debug)]
pub struct Request {
    pub input: PathBuf,
    pub output: PathBuf,
    pub from: Option<Format>,
    pub to: Option<Format>,
}

/// Converts one file, printing repairs made on import as warnings.
pub fn run(req: &Request) -> anyhow::Result<()> {
    let from = resolve(req.from, &req.input, "input", "--from")?;
    let to = resolve(req.to, &req.output, "output", "--to")?;
    let input = read_input(&req.input)?;
    let doc = match from {
        Format::Ipynb => {
            let imported =
                ipynb::import(&input).with_context(|| format!("cannot import {}", req.input.display()))?;
            for warning in &imported.warnings {
                tracing::warn!("{}: {warning}", req.input.display());
            }
            NotebookDoc::from_notebook(&imported.notebook, &imported.authorship)?
        }
        Format::Yjs => NotebookDoc::from_update(&input)
            .with_context(|| format!("cannot read {} as a Yjs update", req.input.display()))?,
    };
    let bytes = match to {
        Format::Yjs => doc.encode_state(),
        Format::Ipynb => ipynb::export_text(&doc.read(), &doc.provenance()).into_bytes(),
    };
    write_output(&req.output, &bytes)
}

fn resolve(flag: Option<Format>, path: &Path, what: &str, flag_name: &str) -> anyhow::Result<Format> {
    if let Some(format) = flag.or_else(|| Format::from_path(path)) {
        return Ok(format);
    }
    bail!(
        "cannot tell the {what} format of `{}` from its extension; use {flag_name} ipynb|yjs",
        path.display()
    )
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("cannot read standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes through a temporary file and a rename, so a failed conversion never leaves a
/// half-written output behind.
fn write_output(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path == Path::new("-") {
        return std::io::stdout().write_all(bytes).context("cannot write standard output");
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.talkbook-tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
