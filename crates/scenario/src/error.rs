//! `ScenarioError`: why a scenario file was rejected, located as
//! `file:line:column: field.path: message` on one line.

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of mistake a [`ScenarioError`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not valid TOML.
    Syntax,
    /// A key the format does not know (often a typo).
    UnknownField,
    /// A required key is absent.
    MissingField,
    /// A value of the wrong type, or not one of the allowed names.
    Type,
    /// Well-formed, but the value is not allowed (range, consistency, ...).
    Invalid,
}

/// A scenario file that cannot be used, with as much location as is known.
///
/// `Display` renders one line: `{file}:{line}:{column}: {field}: {message}`,
/// leaving out the parts that are unknown (the file is always named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    path: PathBuf,
    /// 1-based line and column, known together (one option keeps the error small).
    position: Option<(usize, usize)>,
    field: Option<String>,
    kind: ErrorKind,
    message: String,
    /// How to fix it, when a guess can be made (`did you mean ...?`); not
    /// part of the one-line rendering, which stays as it was.
    /// A boxed str: the error stays under clippy's size for `Err` variants.
    hint: Option<Box<str>>,
}

impl ScenarioError {
    pub(crate) fn new(path: &Path, kind: ErrorKind, message: impl Into<String>) -> Self {
        ScenarioError {
            path: path.to_path_buf(),
            position: None,
            field: None,
            kind,
            // The rendering is one line whatever the underlying message says.
            message: one_line(&message.into()),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint.map(String::into_boxed_str);
        self
    }

    pub(crate) fn with_field(mut self, field: Option<String>) -> Self {
        self.field = field.filter(|f| !f.is_empty());
        self
    }

    /// Sets line and column from a byte offset into `source`.
    pub(crate) fn at_offset(mut self, source: &str, offset: Option<usize>) -> Self {
        if let Some(offset) = offset {
            let (line, column) = line_column(source, offset);
            self.position = Some((line, column));
        }
        self
    }

    /// The file, as given to [`crate::load`] or [`crate::parse`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line of the offending text, when known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    /// 1-based column (in characters) of the offending text, when known.
    pub fn column(&self) -> Option<usize> {
        self.position.map(|(_, column)| column)
    }

    /// The field path in the file's terms, e.g. `policies[2].retries`.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone, without file, line or field.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A suggested fix (`did you mean `bad_mean_s`?`, the names allowed),
    /// when one is known: [`crate::check_source`] gives them.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and character column of byte `offset` in `source`
/// (clamped to the text, and to a character boundary).
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Joins the lines of a message with "; " (toml's syntax errors span lines).
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_is_known() {
        let path = Path::new("sim-scenarios/x.toml");
        let bare = ScenarioError::new(path, ErrorKind::Io, "cannot read: gone");
        assert_eq!(bare.to_string(), "sim-scenarios/x.toml: cannot read: gone");
        let field = bare.clone().with_field(Some("workload".into()));
        assert_eq!(field.to_string(), "sim-scenarios/x.toml: workload: cannot read: gone");
        let located = field.at_offset("a\nbc = 1\n", Some(5));
        assert_eq!(located.to_string(), "sim-scenarios/x.toml:2:4: workload: cannot read: gone");
        assert_eq!((located.line(), located.column()), (Some(2), Some(4)));
    }

    #[test]
    fn messages_become_one_line() {
        let err = ScenarioError::new(Path::new("f"), ErrorKind::Syntax, "invalid key\nexpected `=`\n");
        assert_eq!(err.message(), "invalid key; expected `=`");
    }

    #[test]
    fn offsets_are_clamped_and_counted_in_characters() {
        assert_eq!(line_column("é=1", 2), (1, 2));
        assert_eq!(line_column("é=1", 1), (1, 1));
        assert_eq!(line_column("ab", 99), (1, 3));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
