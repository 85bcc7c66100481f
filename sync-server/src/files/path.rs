//! The rules for paths of project files: what a path may be, checked once where it enters
//! the server (a request), so the store and everything after it work with [`FilePath`]s
//! that cannot name anything outside the project.
//!
//! A path is relative and `/`-separated (`data/2024/raw.csv`): no leading `/`, no empty,
//! `.` or `..` components, no backslashes (a Windows separator, and a way to smuggle `..`
//! past a check that splits on `/` only), no control characters (NUL included), each
//! component at most [`MAX_COMPONENT_BYTES`] and the whole at most [`MAX_PATH_BYTES`]
//! bytes. Trailing `/`s are trimmed, so `data/` names the folder `data`.

use std::fmt;

/// Longest component (file or folder name), in bytes: the limit of common file systems, so
/// every project file can also exist in a kernel's working directory.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Longest path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// A path that breaks the rules; the message says which rule, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{shown}`: {reason}")]
pub struct PathError {
    /// The path as given, escaped for display (control characters as `\u{..}`), shortened.
    shown: String,
    reason: String,
}

impl PathError {
    fn new(raw: &str, reason: impl Into<String>) -> Self {
        const SHOWN_CHARS: usize = 120;
        let mut shown: String = raw.escape_debug().take(SHOWN_CHARS).collect();
        if raw.escape_debug().nth(SHOWN_CHARS).is_some() {
            shown.push('…');
        }
        PathError { shown, reason: reason.into() }
    }
}

/// A valid path of a file or folder inside a project (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(String);

impl FilePath {
    /// Checks `raw` against the rules and returns it normalized (trailing `/`s trimmed).
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let fail = |reason: &str| Err(PathError::new(raw, reason));
        if raw.starts_with('/') {
            return fail("it must be relative to the project (no leading `/`)");
        }
        let path = raw.trim_end_matches('/');
        if path.is_empty() {
            return fail("it is empty");
        }
        if path.len() > MAX_PATH_BYTES {
            return fail(&format!("it is {} bytes long; the limit is {MAX_PATH_BYTES}", path.len()));
        }
        if path.contains('\\') {
            return fail("it must not contain backslashes; separate folders with `/`");
        }
        if let Some(c) = path.chars().find(|c| c.is_control()) {
            return fail(&format!("it must not contain control characters (found {})", c.escape_unicode()));
        }
        for component in path.split('/') {
            match component {
                "" => return fail("it must not contain empty components (`//`)"),
                "." | ".." => return fail("it must not contain `.` or `..` components"),
                long if long.len() > MAX_COMPONENT_BYTES => {
                    return fail(&format!(
                        "the name `{}…` is {} bytes long; the limit is {MAX_COMPONENT_BYTES}",
                        long.chars().take(20).collect::<String>(),
                        long.len()
                    ));
                }
                _ => {}
            }
        }
        Ok(FilePath(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component: the file or folder name.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, name)| name)
    }

    /// The folder the entry is in; `None` at the top of the project.
    pub fn parent(&self) -> Option<FilePath> {
        self.0.rsplit_once('/').map(|(parent, _)| FilePath(parent.to_owned()))
    }

    /// Every folder above the entry, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> Vec<FilePath> {
        self.0.match_indices('/').map(|(i, _)| FilePath(self.0[..i].to_owned())).collect()
    }

    /// Whether `self` lies inside the folder `folder` (at any depth; not `folder` itself).
    pub fn is_inside(&self, folder: &FilePath) -> bool {
        self.0.len() > folder.0.len()
            && self.0.starts_with(&folder.0)
            && self.0.as_bytes()[folder.0.len()] == b'/'
    }

    /// The path after moving the folder (or file) `from` to `to`: `self` is `from` or lies
    /// inside it. `None` when it does not.
    pub fn moved(&self, from: &FilePath, to: &FilePath) -> Option<FilePath> {
        if self == from {
            Some(to.clone())
        } else if self.is_inside(from) {
            Some(FilePath(format!("{}{}", to.0, &self.0[from.0.len()..])))
        } else {
            None
        }
    }

    /// `self` relative to `folder`, which it lies inside (`None` otherwise); the whole path
    /// when `folder` is `None` (the top of the project).
    pub fn relative_to(&self, folder: Option<&FilePath>) -> Option<&str> {
        match folder {
            None => Some(&self.0),
            Some(folder) if self.is_inside(folder) => Some(&self.0[folder.0.len() + 1..]),
            Some(_) => None,
        }
    }

    /// Sorting key that lists a folder's contents right after it (depth first), which plain
    /// byte order does not (`a b` sorts between `a` and `a/b` there).
    pub fn tree_order(a: &str, b: &str) -> std::cmp::Ordering {
        a.split('/').cmp(b.split('/'))
    }
}

impl fmt::Display for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FilePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The byte range `[start, end)` that holds exactly the paths inside `folder` (at any
/// depth), in byte order: `folder/` up to `folder0`, `0` being the byte after `/`. Both
/// databases compare paths by bytes, so an index on the path serves "everything inside".
pub fn inside_range(folder: &FilePath) -> (String, String) {
    (format!("{}/", folder.0), format!("{}0", folder.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        FilePath::parse(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}")).0
    }

    fn refused(raw: &str, mentions: &str) {
        let err = FilePath::parse(raw).expect_err(raw);
        assert!(err.to_string().contains(mentions), "{raw:?}: `{err}` should mention `{mentions}`");
    }

    #[test]
    fn ordinary_paths_are_kept_and_trailing_slashes_trimmed() {
        assert_eq!(ok("data.csv"), "data.csv");
        assert_eq!(ok("data/2024/raw data.csv"), "data/2024/raw data.csv");
        assert_eq!(ok("results/"), "results");
        assert_eq!(ok("results//"), "results");
        assert_eq!(ok("..hidden/.env"), "..hidden/.env", "dots inside names are fine");
        assert_eq!(ok("naïve/日本語.txt"), "naïve/日本語.txt");
    }

    #[test]
    fn paths_that_could_leave_the_project_are_refused() {
        refused("../etc/passwd", "`..`");
        refused("a/../../b", "`..`");
        refused("a/./b", "`.`");
        refused("..", "`..`");
        refused("/etc/passwd", "relative");
        refused("/", "relative");
        refused("a\\..\\b", "backslash");
        refused("C:\\Windows", "backslash");
    }

    #[test]
    fn empty_components_and_control_characters_are_refused() {
        refused("", "empty");
        refused("a//b", "empty components");
        refused("a\0b", "control characters");
        refused("a\nb", "control characters");
        refused("tab\there", "control characters");
        refused("del\u{7f}", "control characters");
        refused("c1\u{85}", "control characters");
        let err = FilePath::parse("x\0y").expect_err("NUL").to_string();
        assert!(err.contains("x\\0y"), "the NUL is shown escaped: {err}");
    }

    #[test]
    fn names_and_paths_have_byte_limits() {
        let name = "n".repeat(MAX_COMPONENT_BYTES);
        assert_eq!(ok(&name), name);
        refused(&"n".repeat(MAX_COMPONENT_BYTES + 1), "256 bytes long");
        // Multi-byte characters count in bytes: 128 × `é` is 256 bytes.
        refused(&"é".repeat(128), "256 bytes long");
        let deep = vec!["d".repeat(100); 10].join("/");
        assert_eq!(deep.len(), 1009);
        assert_eq!(ok(&deep), deep);
        refused(&format!("{deep}/{}", "x".repeat(20)), "1030 bytes long");
        let shown = FilePath::parse(&"z".repeat(300)).expect_err("long").to_string();
        assert!(shown.len() < 400, "the message shortens the path: {shown}");
    }

    #[test]
    fn names_parents_and_ancestors() {
        let p = FilePath::parse("a/b/c.txt").expect("path");
        assert_eq!(p.name(), "c.txt");
        assert_eq!(p.parent().map(|p| p.0), Some("a/b".to_owned()));
        assert_eq!(p.ancestors().into_iter().map(|p| p.0).collect::<Vec<_>>(), ["a", "a/b"]);
        let top = FilePath::parse("top").expect("path");
        assert_eq!((top.name(), top.parent(), top.ancestors()), ("top", None, vec![]));
    }

    #[test]
    fn inside_moved_and_relative() {
        let path = |s: &str| FilePath::parse(s).expect("path");
        let a = path("a");
        assert!(path("a/b").is_inside(&a));
        assert!(!path("a").is_inside(&a));
        assert!(!path("ab/c").is_inside(&a));
        assert!(!path("a b").is_inside(&a));
        assert_eq!(path("a/b/c").moved(&a, &path("x/y")), Some(path("x/y/b/c")));
        assert_eq!(path("a").moved(&a, &path("z")), Some(path("z")));
        assert_eq!(path("ab").moved(&a, &path("z")), None);
        assert_eq!(path("a/b/c").relative_to(Some(&a)), Some("b/c"));
        assert_eq!(path("a/b/c").relative_to(None), Some("a/b/c"));
        assert_eq!(path("b").relative_to(Some(&a)), None);
    }

    #[test]
    fn the_inside_range_holds_exactly_the_paths_inside() {
        let a = FilePath::parse("a").expect("path");
        let (start, end) = inside_range(&a);
        let within = |p: &str| start.as_str() <= p && p < end.as_str();
        for inside in ["a/", "a/b", "a/b/c", "a/\u{10ffff}", "a/~"] {
            assert!(within(inside), "{inside}");
        }
        for outside in ["a", "a b", "a.txt", "a0", "ab", "b", "a-", "`"] {
            assert!(!within(outside), "{outside}");
        }
    }

    #[test]
    fn tree_order_lists_folders_before_their_neighbours() {
        let mut paths = vec!["a b", "a/b", "a", "a.txt", "a/b/c", "b"];
        paths.sort_by(|x, y| FilePath::tree_order(x, y));
        assert_eq!(paths, ["a", "a/b", "a/b/c", "a b", "a.txt", "b"]);
    }
}
