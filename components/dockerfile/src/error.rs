//! Parse errors worded as docker's: `dockerfile parse error on line 3: unknown
//! instruction: FORM`, or without a line for file-level problems.

/// A Dockerfile the builder refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line where the offending instruction starts, if it is about one.
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: Some(line),
            message: message.into(),
        }
    }
    pub(crate) fn global(message: impl Into<String>) -> ParseError {
        ParseError {
            line: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "dockerfile parse error on line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
