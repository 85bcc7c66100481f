//! The rules for names people choose: user names, and the names of projects, notebooks,
//! tokens and display names. Shared by the HTTP API and the command line so both refuse
//! the same things with the same words.

/// Longest project, notebook, token or display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Longest user name, in bytes (user names are ASCII).
pub const MAX_USER_NAME: usize = 64;

/// Longest project description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// A name that breaks the rules; the message says which rule, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A free-form name (`what` is e.g. "notebook name"): surrounding whitespace is trimmed,
/// and what remains must be non-empty, at most [`MAX_NAME_CHARS`] characters and free of
/// control characters (which would break file names, headers and terminals).
pub fn name(what: &str, value: &str) -> Result<String, NameError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(NameError(format!("the {what} must not be empty")));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError(format!(
            "the {what} is {chars} characters long; the limit is {MAX_NAME_CHARS}"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(NameError(format!("the {what} must not contain control characters")));
    }
    Ok(trimmed.to_owned())
}

/// A login name: 1–64 characters from `a-z`, `0-9`, `_`, `.` and `-`, so it is safe in
/// URLs, file names and shell commands, and two accounts cannot differ only by case.
pub fn user_name(value: &str) -> Result<String, NameError> {
    let ok_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-');
    if value.is_empty() || value.len() > MAX_USER_NAME || !value.bytes().all(ok_char) {
        return Err(NameError(format!(
            "`{}` is not a valid user name: use 1-{MAX_USER_NAME} characters from a-z, 0-9, `_`, `.` and `-`",
            value.escape_debug()
        )));
    }
    Ok(value.to_owned())
}

/// A project description: may be empty and span lines, but is bounded and carries no
/// control characters other than newlines and tabs.
pub fn description(value: &str) -> Result<String, NameError> {
    let chars = value.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(NameError(format!(
            "the description is {chars} characters long; the limit is {MAX_DESCRIPTION_CHARS}"
        )));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(NameError(
            "the description must not contain control characters other than line breaks and tabs".into(),
        ));
    }
    Ok(value.to_owned())
}

/// A kernelspec name as Jupyter allows them: ASCII letters, digits, `.`, `_` and `-`.
pub fn kernelspec(value: &str) -> Result<String, NameError> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if value.is_empty() || value.len() > 64 || !value.bytes().all(ok_char) {
        return Err(NameError(format!(
            "`{}` is not a kernelspec name: use 1-64 characters from a-z, A-Z, 0-9, `.`, `_` and `-`",
            value.escape_debug()
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("notebook name", "  Analysis ").as_deref(), Ok("Analysis"));
        assert!(name("notebook name", "   ").is_err());
        assert!(
            name("notebook name", &"é".repeat(MAX_NAME_CHARS)).is_ok(),
            "the limit counts characters, not bytes"
        );
        assert!(name("notebook name", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        let err = name("notebook name", "a\u{7}b").expect_err("bell is a control character");
        assert!(err.0.contains("control characters"), "{err}");
    }

    #[test]
    fn user_names_are_lowercase_ascii() {
        assert!(user_name("alice.b-c_9").is_ok());
        for bad in ["", "Alice", "al ice", "al/ice", "ä", &"a".repeat(65)] {
            assert!(user_name(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(user_name(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn descriptions_may_span_lines_but_not_hold_other_controls() {
        assert!(description("").is_ok());
        assert!(description("line one\nline two\ttabbed").is_ok());
        assert!(description("escape \u{1b}[31m").is_err());
    }

    #[test]
    fn kernelspec_names_follow_jupyter() {
        assert!(kernelspec("python3").is_ok());
        assert!(kernelspec("ir-4.3_x").is_ok());
        assert!(kernelspec("py 3").is_err());
        assert!(kernelspec("").is_err());
    }
}
