//! Reading files a person hands us (policy files, samples, traces): every failure becomes one line
//! naming the file and, where known, the line and column. Never a panic.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem with an input file, rendered as `path:line:column: message` on one line.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not valid YAML or JSON, or does not match the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: u64, column: u64, message: String },
    /// A problem in the content that is not tied to a position.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl InputError {
    /// An error about a file's content with no position.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        InputError::Invalid { path: path.into(), message: message.into() }
    }
}

/// Read a whole file, naming it in the error.
pub fn read_to_string(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|source| InputError::Read { path: path.to_path_buf(), source })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn yaml_error(path: &Path, err: serde_saphyr::Error) -> InputError {
    let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
    // serde-saphyr's Display may render a snippet over several lines; keep the first line's message.
    let text = err.to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid YAML");
    InputError::Parse { path: path.to_path_buf(), line, column, message: one_line(first) }
}

/// Parse every YAML document in `text` (named `path` in errors) as `T`.
pub fn parse_yaml_documents<T: DeserializeOwned>(path: &Path, text: &str) -> Result<Vec<T>, InputError> {
    serde_saphyr::from_multiple(text).map_err(|e| yaml_error(path, e))
}

/// Parse a single YAML document.
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, InputError> {
    serde_saphyr::from_str(text).map_err(|e| yaml_error(path, e))
}

/// Read and parse every YAML document of a file as `T`.
pub fn load_yaml_documents<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, InputError> {
    let text = read_to_string(path)?;
    parse_yaml_documents(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let err = parse_yaml_documents::<serde_json::Value>(Path::new("p.yaml"), "a: 1\nb: [1, 2\nc: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.yaml:"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn missing_file_names_it() {
        let err = load_yaml_documents::<serde_json::Value>(Path::new("/nonexistent/x.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/x.yaml: "), "{err}");
    }
}
