//! From text to raw instructions: parser directives (`# escape=`, `# syntax=`),
//! comments, line continuations (empty and comment lines inside them are skipped, as
//! docker does), and the split of each instruction into keyword, `--flags` and the
//! rest. What the rest means is [`crate::instruction`]'s business.

use crate::error::ParseError;

/// Directives read from the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
        }
    }
}

/// One logical line: `KEYWORD [--flag[=v]...] rest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawInstruction {
    /// First and last physical line (1-based).
    pub line: usize,
    pub end_line: usize,
    /// Keyword as written.
    pub keyword: String,
    /// Everything after the keyword, continuations joined, leading blanks trimmed.
    pub rest: String,
    /// The logical line as the builder echoes it (`Step 2/5 : ...`).
    pub original: String,
}

/// Parse directives and split the file into logical instructions.
pub(crate) fn split(text: &str) -> Result<(Directives, Vec<RawInstruction>), ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut directives = Directives::default();
    let mut seen_escape = false;
    let mut seen_syntax = false;
    let mut i = 0;
    // Directives: only in the leading run of `# key=value` comment lines.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else {
            break;
        };
        match key.as_str() {
            "escape" => {
                if seen_escape {
                    return Err(ParseError::global(
                        "only one escape parser directive can be used",
                    ));
                }
                seen_escape = true;
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError::global(format!(
                            "invalid escape token '{other}' does not match ` or \\"
                        )))
                    }
                };
            }
            "syntax" => {
                if seen_syntax {
                    return Err(ParseError::global(
                        "only one syntax parser directive can be used",
                    ));
                }
                seen_syntax = true;
                directives.syntax = Some(value);
            }
            // Unknown directives (e.g. `check=`) are comments to this builder.
            _ => {}
        }
        i += 1;
    }
    let escape = directives.escape;
    let mut out = Vec::new();
    while i < lines.len() {
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let start = i;
        let mut logical = String::new();
        let mut current = line.to_string();
        let mut end = start;
        loop {
            match strip_continuation(&current, escape) {
                Some(body) => {
                    logical.push_str(body);
                    // Find the next line that is neither empty nor a comment.
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i];
                        i += 1;
                        let t = l.trim_start();
                        if t.is_empty() || t.starts_with('#') {
                            continue;
                        }
                        next = Some(l.to_string());
                        break;
                    }
                    match next {
                        Some(n) => {
                            end = i;
                            current = n;
                        }
                        None => break,
                    }
                }
                None => {
                    logical.push_str(&current);
                    break;
                }
            }
        }
        let trimmed = logical.trim();
        let (keyword, rest) = match trimmed.find(char::is_whitespace) {
            Some(p) => (&trimmed[..p], trimmed[p..].trim_start()),
            None => (trimmed, ""),
        };
        out.push(RawInstruction {
            line: start,
            end_line: end,
            keyword: keyword.to_string(),
            rest: rest.to_string(),
            original: trimmed.to_string(),
        });
    }
    Ok((directives, out))
}

/// `# key = value` with a letter-led key; the key lower-cased.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim_start().strip_prefix('#')?.trim();
    let (key, value) = body.split_once('=')?;
    let key = key.trim();
    let first = key.chars().next()?;
    if !first.is_ascii_alphabetic() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

/// The line without its trailing escape (and the blanks after it), if it continues.
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end();
    t.strip_suffix(escape)
}

/// Flags at the start of `rest` (`--name=value`, `--name`), up to the first other
/// word or a lone `--`. Quotes inside a flag word are kept as written.
pub(crate) fn take_flags(rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut r = rest.trim_start();
    while let Some(after) = r.strip_prefix("--") {
        let end = word_end(after);
        let word = &after[..end];
        r = after[end..].trim_start();
        if word.is_empty() {
            break;
        }
        match word.split_once('=') {
            Some((k, v)) => flags.push((k.to_string(), Some(v.to_string()))),
            None => flags.push((word.to_string(), None)),
        }
    }
    (flags, r)
}

/// End of the first word (whitespace outside quotes).
fn word_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => return i,
            None => {}
        }
    }
    s.len()
}

/// The builder's split of `ENV`/`LABEL`/`ARG` arguments: words on unquoted
/// whitespace, quotes and escapes kept for the later substitution.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            if c == escape && q != '\'' {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                word.push(c);
                i += 1;
                word.push(chars[i]);
                i += 1;
                continue;
            }
            word.push(c);
            i += 1;
            continue;
        }
        if !in_word {
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            in_word = true;
        }
        if c.is_whitespace() {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            blank_ok = false;
            in_word = false;
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            blank_ok = true;
        }
        if c == escape {
            if i + 1 == chars.len() {
                i += 1;
                continue;
            }
            word.push(c);
            i += 1;
            word.push(chars[i]);
            i += 1;
            continue;
        }
        word.push(c);
        i += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_only_at_the_top() {
        let (d, ins) =
            split("# syntax=docker/dockerfile:1\n#escape=`\nFROM x\n# escape=\\\nRUN a `\n  b\n")
                .unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(ins.len(), 2);
        assert_eq!(ins[1].rest, "a   b");
        let (d, _) = split("# comment\n# escape=`\nFROM x\n").unwrap();
        assert_eq!(d.escape, '\\', "a plain comment ends the directives");
        let e = split("# escape=x\nFROM a\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid escape token 'x' does not match ` or \\"
        );
        assert!(split("# escape=`\n# escape=\\\nFROM a").is_err());
    }

    #[test]
    fn continuations_comments_and_lines() {
        let text = "FROM a\n\nRUN echo \\\n  # a comment inside\n\n  hello \\\n  world\n  # trailing\nCMD [\"x\"]\r\n";
        let (_, ins) = split(text).unwrap();
        assert_eq!(ins.len(), 3);
        assert_eq!((ins[1].line, ins[1].end_line), (3, 7));
        assert_eq!(ins[1].rest, "echo   hello   world");
        assert_eq!((ins[2].line, ins[2].keyword.as_str()), (9, "CMD"));
        let (_, ins) = split("RUN a \\").unwrap();
        assert_eq!(ins[0].rest, "a");
    }

    #[test]
    fn flags_and_words() {
        let (f, r) = take_flags("--from=build --chown=1:1 --link a b");
        assert_eq!(
            f,
            vec![
                ("from".to_string(), Some("build".to_string())),
                ("chown".to_string(), Some("1:1".to_string())),
                ("link".to_string(), None)
            ]
        );
        assert_eq!(r, "a b");
        assert_eq!(take_flags("-- --x a").1, "--x a");
        assert_eq!(
            parse_words(r#"a=b c="d e" f='g h' i\ j "" k"#, '\\'),
            ["a=b", "c=\"d e\"", "f='g h'", "i\\ j", "\"\"", "k"]
        );
    }
}
