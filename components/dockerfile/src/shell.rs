//! Variable substitution and word splitting as the builder does it for ADD, COPY,
//! ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR: quotes are removed,
//! the escape character quotes the next one, and `$VAR`, `${VAR}`, `${VAR:-word}`,
//! `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}` expand
//! from the build's environment. RUN, CMD and ENTRYPOINT are left to the shell.

use std::collections::HashMap;

/// A substitution error; displays as the builder's (`failed to process "...": ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {reason}")]
pub struct ShellError {
    pub word: String,
    pub reason: String,
}

/// The variables visible to a substitution. Later entries do not exist: a key has one value.
pub type Env = HashMap<String, String>;

/// The lexer for one escape character (`\` or the `# escape=` directive's).
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer { escape }
    }

    /// Expand `word` into one string (quotes removed, whitespace kept).
    pub fn process_word(&self, word: &str, env: &Env) -> Result<String, ShellError> {
        self.run(word, env).map(|(s, _)| s)
    }

    /// Expand `word` and split it into words on unquoted whitespace (whitespace that
    /// came from a variable's value splits too, as docker does).
    pub fn process_words(&self, word: &str, env: &Env) -> Result<Vec<String>, ShellError> {
        self.run(word, env).map(|(_, w)| w)
    }

    fn run(&self, word: &str, env: &Env) -> Result<(String, Vec<String>), ShellError> {
        let mut s = Scan {
            chars: word.chars().collect(),
            pos: 0,
            escape: self.escape,
            env,
        };
        s.stop_on(None).map_err(|reason| ShellError {
            word: word.into(),
            reason,
        })
    }
}

struct Scan<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a Env,
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Process up to `stop` (consumed) or the end; quotes are only special at the top.
    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                    words.add_str(&v);
                }
                '\'' => {
                    let v = self.single_quote()?;
                    result.push_str(&v);
                    words.add_raw_str(&v);
                }
                '"' => {
                    let v = self.double_quote()?;
                    result.push_str(&v);
                    words.add_raw_str(&v);
                }
                _ => {
                    self.next();
                    if c == self.escape {
                        let Some(n) = self.next() else { break };
                        words.add_raw_char(n);
                        result.push(n);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().expect("peeked");
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                c = self.next().expect("peeked");
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.get(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let Some(mut op) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut modifier = op.to_string();
        let mut null_is_unset = false;
        match op {
            '}' => return Ok(self.get(&name).unwrap_or_default()),
            ':' => {
                null_is_unset = true;
                op = self.next().unwrap_or('}');
                modifier.push(op);
            }
            _ => {}
        }
        if !matches!(op, '-' | '+' | '?') {
            return Err(format!("unsupported modifier ({modifier}) in substitution"));
        }
        let word = match self.stop_on(Some('}')) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.get(&name);
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        Ok(match op {
            '-' if unset => word,
            '-' => value.unwrap_or_default(),
            '+' if unset => String::new(),
            '+' => word,
            _ => {
                if value.is_none() || unset {
                    let default = if value.is_none() {
                        "is not allowed to be unset"
                    } else {
                        "is not allowed to be empty"
                    };
                    let msg = if word.is_empty() { default } else { &word };
                    return Err(format!("{name}: {msg}"));
                }
                value.unwrap_or_default()
            }
        })
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn get(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("KOREAN", "한국어"),
            ("EMPTY", ""),
            ("SPACED", "a  b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn words_as_the_builder_expands_them() {
        let cases: &[(&str, &str)] = &[
            ("hello", "hello"),
            ("he'll'o", "hello"),
            ("he'llo", "error"),
            ("he\\'llo", "he'llo"),
            ("he\\\\'llo", "error"),
            ("abc\\'def", "abc'def"),
            ("\"abc\\\"def\"", "abc\"def"),
            ("\"abc\\$def\"", "abc$def"),
            ("\"abc\\x\"", "abc\\x"),
            ("'abc\\$def'", "abc\\$def"),
            ("\\'", "'"),
            ("he\"llo\"", "hello"),
            ("'$PWD'", "$PWD"),
            ("\"$PWD\"", "/home"),
            ("$PWD", "/home"),
            ("\\$PWD", "$PWD"),
            ("${PWD}", "/home"),
            ("${PWD}x", "/homex"),
            ("$PWDx", ""),
            ("${PWD:-x}", "/home"),
            ("${NOPE:-x}", "x"),
            ("${EMPTY:-x}", "x"),
            ("${EMPTY-x}", ""),
            ("${NOPE-x}", "x"),
            ("${PWD:+x}", "x"),
            ("${EMPTY:+x}", ""),
            ("${EMPTY+x}", "x"),
            ("${NOPE:+x}", ""),
            ("${NOPE:-$PWD}", "/home"),
            ("${NOPE:-${SHELL:+y}z}", "yz"),
            ("${NOPE:-a\\}b}", "a}b"),
            ("$", "$"),
            ("a$", "a$"),
            ("$ x", "$ x"),
            ("${KOREAN}", "한국어"),
            ("${PWD:?}", "/home"),
            ("${NOPE:?}", "error"),
            ("${", "error"),
            ("${}", "error"),
            ("${:x}", "error"),
            ("${PWD", "error"),
            ("${PWD:=x}", "error"),
            ("${NOPE:-x", "error"),
            ("x\\", "x"),
        ];
        let lex = Lexer::new('\\');
        for (input, want) in cases {
            match lex.process_word(input, &env()) {
                Ok(got) => assert_eq!(&got, want, "{input}"),
                Err(e) => assert_eq!(*want, "error", "{input}: {e}"),
            }
        }
    }

    #[test]
    fn error_wording() {
        let lex = Lexer::new('\\');
        let e = |w: &str| lex.process_word(w, &env()).unwrap_err().to_string();
        assert_eq!(
            e("${PWD"),
            "failed to process \"${PWD\": syntax error: missing '}'"
        );
        assert_eq!(
            e("${}"),
            "failed to process \"${}\": syntax error: bad substitution"
        );
        assert_eq!(
            e("${PWD:=x}"),
            "failed to process \"${PWD:=x}\": unsupported modifier (:=) in substitution"
        );
        assert_eq!(
            e("${NOPE:?must set}"),
            "failed to process \"${NOPE:?must set}\": NOPE: must set"
        );
        assert_eq!(
            e("${NOPE?}"),
            "failed to process \"${NOPE?}\": NOPE: is not allowed to be unset"
        );
        assert_eq!(
            e("${EMPTY:?}"),
            "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty"
        );
        assert_eq!(
            e("\"abc"),
            "failed to process \"\\\"abc\": unexpected end of statement while looking for matching double-quote"
        );
    }

    #[test]
    fn word_splitting_and_escape_directive() {
        let lex = Lexer::new('\\');
        let w = |s: &str| lex.process_words(s, &env()).unwrap();
        assert_eq!(w("a b  c"), ["a", "b", "c"]);
        assert_eq!(w("'a b' c"), ["a b", "c"]);
        assert_eq!(w("a\\ b"), ["a b"]);
        assert_eq!(w("$SPACED x"), ["a", "b", "x"]);
        assert_eq!(w("\"$SPACED\" x"), ["a  b", "x"]);
        assert_eq!(w("  "), Vec::<String>::new());
        let tick = Lexer::new('`');
        assert_eq!(
            tick.process_word("c:\\dir`$PWD", &env()).unwrap(),
            "c:\\dir$PWD"
        );
        assert_eq!(tick.process_word("\"a`\"b\"", &env()).unwrap(), "a\"b");
    }
}
