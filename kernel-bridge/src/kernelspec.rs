//! Kernelspec discovery the way Jupyter does it (`jupyter_core.paths.jupyter_path("kernels")`
//! plus `jupyter_client.kernelspec`), so a kernel installed for Jupyter is found here too.
//!
//! Data directories are searched in Jupyter's order: every entry of `JUPYTER_PATH`, then the
//! user data directory and the environment's `<sys.prefix>/share/jupyter` (the environment
//! first when one is active, as jupyter_core ≥ 5 does in a virtualenv or conda env, or as
//! `JUPYTER_PREFER_ENV_PATH` says), then the system directories `/usr/local/share/jupyter`
//! and `/usr/share/jupyter`. A kernel is `<dir>/kernels/<name>/kernel.json`; the first
//! directory that has a name wins.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DiscoveryError;

/// How a kernel wants to be interrupted (`interrupt_mode` in `kernel.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterruptMode {
    /// SIGINT to the kernel's process group (Jupyter's default).
    #[default]
    Signal,
    /// An `interrupt_request` on the control channel.
    Message,
}

/// One kernelspec: what `kernel.json` says, plus where it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelSpec {
    /// The kernel's name: its directory name, lower-cased as jupyter_client does.
    pub name: String,
    /// The directory holding `kernel.json` (logos and other resources; `{resource_dir}`).
    pub resource_dir: PathBuf,
    /// The command line, with `{connection_file}` and `{resource_dir}` still in it. A bare
    /// `python`/`python3` found in an environment's `share/jupyter` is already replaced by
    /// that environment's interpreter (see [`KernelSpec::from_dir`]).
    pub argv: Vec<String>,
    /// The name shown to people.
    pub display_name: String,
    /// The kernel's language (`python`, `bash`, …).
    pub language: String,
    /// How to interrupt it.
    pub interrupt_mode: InterruptMode,
    /// Extra environment variables for the kernel process. `$NAME`/`${NAME}` in a value is
    /// replaced from the server's environment at launch, as jupyter_client does.
    pub env: BTreeMap<String, String>,
    /// `metadata` from `kernel.json`, kept for callers (e.g. `debugger`).
    pub metadata: serde_json::Map<String, Value>,
}

/// The fields of `kernel.json` that matter here; everything else is ignored, as Jupyter does.
#[derive(Deserialize)]
struct KernelJson {
    #[serde(default)]
    argv: Vec<String>,
    display_name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    interrupt_mode: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
}

impl KernelSpec {
    /// Reads `<dir>/kernel.json` as the kernelspec `name`.
    ///
    /// When `dir` is `<prefix>/share/jupyter/kernels/<name>` and `argv[0]` is a bare
    /// `python`, `python3` or `python3.N` that exists as `<prefix>/bin/<argv[0]>`, it is
    /// replaced by that path: ipykernel's own kernelspec says just `python`, and Jupyter
    /// makes it mean "the Python of this environment" (jupyter_client swaps in
    /// `sys.executable`). Without this, a server whose `PATH` lacks the environment would
    /// start a different Python, without ipykernel.
    pub fn from_dir(name: &str, dir: &Path) -> Result<KernelSpec, DiscoveryError> {
        let path = dir.join("kernel.json");
        let bytes =
            std::fs::read(&path).map_err(|source| DiscoveryError::Read { path: path.clone(), source })?;
        let json: KernelJson = serde_json::from_slice(&bytes)
            .map_err(|source| DiscoveryError::Parse { path: path.clone(), source })?;
        if json.argv.is_empty() {
            return Err(DiscoveryError::Invalid { path, reason: "`argv` is empty".into() });
        }
        let interrupt_mode = match json.interrupt_mode.as_deref() {
            None | Some("signal") => InterruptMode::Signal,
            Some("message") => InterruptMode::Message,
            Some(other) => {
                return Err(DiscoveryError::Invalid {
                    path,
                    reason: format!("`interrupt_mode` must be \"signal\" or \"message\", not {other:?}"),
                });
            }
        };
        let mut argv = json.argv;
        if let Some(python) = environment_python(dir, &argv[0]) {
            argv[0] = python.to_string_lossy().into_owned();
        }
        Ok(KernelSpec {
            name: name.to_lowercase(),
            resource_dir: dir.to_path_buf(),
            argv,
            display_name: json.display_name,
            language: json.language,
            interrupt_mode,
            env: json.env,
            metadata: json.metadata.unwrap_or_default(),
        })
    }
}

/// `<prefix>/bin/<program>` when `kernel_dir` is `<prefix>/share/jupyter/kernels/<name>` and
/// `program` is a bare Python interpreter name that exists there.
fn environment_python(kernel_dir: &Path, program: &str) -> Option<PathBuf> {
    let bare_python = program
        .strip_prefix("python")
        .is_some_and(|version| version.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if !bare_python {
        return None;
    }
    let kernels = kernel_dir.parent()?;
    let jupyter = kernels.parent()?;
    let share = jupyter.parent()?;
    if kernels.file_name()? != "kernels" || jupyter.file_name()? != "jupyter" || share.file_name()? != "share"
    {
        return None;
    }
    let candidate = share.parent()?.join("bin").join(program);
    candidate.is_file().then_some(candidate)
}

/// The inputs of Jupyter's data-directory search, read from the environment by
/// [`JupyterPaths::from_env`] or given explicitly (tests, or a server configured with a
/// project environment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JupyterPaths {
    /// Entries of `JUPYTER_PATH`, searched first.
    pub jupyter_path: Vec<PathBuf>,
    /// The user data directory: `JUPYTER_DATA_DIR`, else `$XDG_DATA_HOME/jupyter`, else
    /// `~/.local/share/jupyter`.
    pub user_data_dir: Option<PathBuf>,
    /// `sys.prefix` of the Python environments whose kernels count (`VIRTUAL_ENV`,
    /// `CONDA_PREFIX`, or given); each contributes `<prefix>/share/jupyter`.
    pub env_prefixes: Vec<PathBuf>,
    /// Search the environments before the user directory (jupyter_core ≥ 5 does this inside
    /// a virtualenv or conda env; `JUPYTER_PREFER_ENV_PATH` overrides it).
    pub prefer_env: bool,
    /// System-wide data directories, searched last.
    pub system_dirs: Vec<PathBuf>,
}

impl JupyterPaths {
    /// The search Jupyter would do in this process's environment.
    pub fn from_env() -> JupyterPaths {
        JupyterPaths::from_lookup(|name| std::env::var_os(name))
    }

    /// The search Jupyter would do with environment variables given by `var` (so tests and
    /// servers can pass their own without touching the process environment).
    pub fn from_lookup(var: impl Fn(&str) -> Option<OsString>) -> JupyterPaths {
        let non_empty = |name: &str| var(name).filter(|value| !value.is_empty());
        let jupyter_path = non_empty("JUPYTER_PATH")
            .map(|value| std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()).collect())
            .unwrap_or_default();
        let user_data_dir = non_empty("JUPYTER_DATA_DIR").map(PathBuf::from).or_else(|| {
            non_empty("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".local/share")))
                .map(|data| data.join("jupyter"))
        });
        let env_prefixes: Vec<PathBuf> =
            ["VIRTUAL_ENV", "CONDA_PREFIX"].into_iter().filter_map(non_empty).map(PathBuf::from).collect();
        let prefer_env = match non_empty("JUPYTER_PREFER_ENV_PATH") {
            Some(flag) => !matches!(
                flag.to_string_lossy().to_lowercase().as_str(),
                "no" | "n" | "off" | "false" | "0" | "0.0"
            ),
            None => !env_prefixes.is_empty(),
        };
        JupyterPaths {
            jupyter_path,
            user_data_dir,
            env_prefixes,
            prefer_env,
            system_dirs: vec![PathBuf::from("/usr/local/share/jupyter"), PathBuf::from("/usr/share/jupyter")],
        }
    }

    /// Adds a Python environment (its `sys.prefix`, e.g. a project's `.venv`) whose
    /// `share/jupyter` is searched like the active environment's, and prefers it over the
    /// user directory unless `JUPYTER_PREFER_ENV_PATH` said otherwise.
    pub fn with_env_prefix(mut self, prefix: impl Into<PathBuf>) -> JupyterPaths {
        if self.env_prefixes.is_empty() {
            self.prefer_env = true;
        }
        self.env_prefixes.push(prefix.into());
        self
    }

    /// The data directories in search order, without duplicates.
    pub fn data_dirs(&self) -> Vec<PathBuf> {
        let user: Vec<PathBuf> = self.user_data_dir.iter().cloned().collect();
        let env: Vec<PathBuf> = self
            .env_prefixes
            .iter()
            .map(|prefix| prefix.join("share/jupyter"))
            .filter(|dir| !self.system_dirs.contains(dir))
            .collect();
        let (first, second) = if self.prefer_env { (env, user) } else { (user, env) };
        let mut seen = BTreeSet::new();
        self.jupyter_path
            .iter()
            .cloned()
            .chain(first)
            .chain(second)
            .chain(self.system_dirs.iter().cloned())
            .filter(|dir| seen.insert(dir.clone()))
            .collect()
    }

    /// Every kernelspec, by name; where two directories have the same name the first in
    /// search order wins. Unreadable or invalid specs are skipped with a warning, as
    /// Jupyter does, so one broken kernel does not hide the others.
    pub fn list(&self) -> BTreeMap<String, KernelSpec> {
        let mut specs = BTreeMap::new();
        for (name, dir) in self.candidates() {
            if specs.contains_key(&name) {
                continue;
            }
            match KernelSpec::from_dir(&name, &dir) {
                Ok(spec) => {
                    specs.insert(name, spec);
                }
                Err(error) => tracing::warn!(%error, "skipping kernelspec"),
            }
        }
        specs
    }

    /// The kernelspec called `name` (case-insensitive, like Jupyter): the first directory
    /// in search order that has it.
    pub fn find(&self, name: &str) -> Result<KernelSpec, DiscoveryError> {
        let wanted = name.to_lowercase();
        let candidates = self.candidates();
        match candidates.iter().find(|(found, _)| *found == wanted) {
            Some((found, dir)) => KernelSpec::from_dir(found, dir),
            None => {
                let available: BTreeSet<String> = candidates.into_iter().map(|(name, _)| name).collect();
                Err(DiscoveryError::NotFound {
                    name: name.to_string(),
                    available: available.into_iter().collect(),
                    searched: self.data_dirs(),
                })
            }
        }
    }

    /// `(name, kernel directory)` for every `kernels/<name>/kernel.json`, in search order.
    fn candidates(&self) -> Vec<(String, PathBuf)> {
        let mut found = Vec::new();
        for data_dir in self.data_dirs() {
            let Ok(entries) = std::fs::read_dir(data_dir.join("kernels")) else { continue };
            let mut here: Vec<(String, PathBuf)> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|dir| dir.join("kernel.json").is_file())
                .filter_map(|dir| {
                    let name = dir.file_name()?.to_str()?.to_lowercase();
                    valid_kernel_name(&name).then_some((name, dir))
                })
                .collect();
            here.sort();
            found.extend(here);
        }
        found
    }
}

/// jupyter_client accepts kernel names of ASCII letters, digits, `.`, `_` and `-` only.
fn valid_kernel_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Replaces `$NAME` and `${NAME}` in `value` with variables from `var`, leaving unknown
/// names as they are and `$$` as `$` (Python's `Template.safe_substitute`, which
/// jupyter_client applies to a kernelspec's `env`).
pub(crate) fn substitute_env(value: &str, var: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], end)
        };
        let is_identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match (is_identifier, is_identifier.then(|| var(name)).flatten()) {
            (true, Some(replacement)) => {
                out.push_str(&replacement);
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn env_values_are_substituted_like_python_templates() {
        let var = vars(&[("HOME", "/home/ann"), ("X", "1")]);
        assert_eq!(substitute_env("${HOME}/lib:$X", &var), "/home/ann/lib:1");
        assert_eq!(substitute_env("$UNKNOWN and ${ALSO}", &var), "$UNKNOWN and ${ALSO}");
        assert_eq!(substitute_env("cost: $$5, $", &var), "cost: $5, $");
        assert_eq!(substitute_env("${unclosed", &var), "${unclosed");
    }

    #[test]
    fn search_order_follows_jupyter() {
        let paths = JupyterPaths::from_lookup(|name| match name {
            "JUPYTER_PATH" => Some("/a:/b".into()),
            "HOME" => Some("/home/ann".into()),
            _ => None,
        });
        assert!(!paths.prefer_env);
        assert_eq!(
            paths.clone().data_dirs(),
            ["/a", "/b", "/home/ann/.local/share/jupyter", "/usr/local/share/jupyter", "/usr/share/jupyter"]
                .map(PathBuf::from)
        );
        // An environment comes before the user directory, as in a virtualenv.
        assert_eq!(
            paths.with_env_prefix("/venv").data_dirs(),
            [
                "/a",
                "/b",
                "/venv/share/jupyter",
                "/home/ann/.local/share/jupyter",
                "/usr/local/share/jupyter",
                "/usr/share/jupyter"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn prefer_env_flag_and_data_dir_variables_are_honoured() {
        let paths = JupyterPaths::from_lookup(|name| match name {
            "VIRTUAL_ENV" => Some("/venv".into()),
            "JUPYTER_PREFER_ENV_PATH" => Some("no".into()),
            "XDG_DATA_HOME" => Some("/xdg".into()),
            "HOME" => Some("/home/ann".into()),
            _ => None,
        });
        assert_eq!(
            paths.data_dirs()[..2],
            [PathBuf::from("/xdg/jupyter"), PathBuf::from("/venv/share/jupyter")]
        );
        let paths = JupyterPaths::from_lookup(|name| (name == "JUPYTER_DATA_DIR").then(|| "/data".into()));
        assert_eq!(paths.data_dirs()[0], PathBuf::from("/data"));
    }

    #[test]
    fn kernel_names_are_checked_like_jupyter_client() {
        assert!(valid_kernel_name("python3"));
        assert!(valid_kernel_name("ir-4.3_x.y"));
        assert!(!valid_kernel_name("has space"));
        assert!(!valid_kernel_name(""));
    }
}
