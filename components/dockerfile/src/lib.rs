//! The Dockerfile front end of the classic builder, for the engine's `POST /build`:
//!
//! - [`parse`]: text → [`Dockerfile`] (directives, global ARGs, stages of checked
//!   [`Instruction`]s), or a [`ParseError`] worded as docker's
//!   (`dockerfile parse error on line 3: unknown instruction: FORM`);
//! - [`evaluate`]: stages → the image config each produces and the expanded steps
//!   the builder must carry out, with docker's ARG/ENV scoping;
//! - [`Lexer`]: the builder's variable substitution and word splitting;
//! - [`DockerIgnore`]: `.dockerignore` matching as moby's patternmatcher does it.
//!
//! Heredocs and other BuildKit-only syntax are refused with a clear error.

mod error;
mod eval;
mod ignore;
mod instruction;
mod parser;
mod shell;

pub use error::ParseError;
pub use eval::{
    evaluate, unused_build_args, EvalError, ImageConfig, StageResult, Step, DEFAULT_PATH,
    PREDEFINED_ARGS,
};
pub use ignore::{DockerIgnore, IgnoreError};
pub use instruction::{Command, CommandLine, CopyArgs, HealthcheckArgs, Instruction};
pub use parser::Directives;
pub use shell::{Env, Lexer, ShellError};

/// One build stage: its FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    /// The base as written (global ARGs not yet substituted).
    pub base: String,
    pub platform: Option<String>,
    /// Line of the FROM.
    pub line: usize,
    pub instructions: Vec<Instruction>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// ARG instructions before the first FROM.
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The index of the stage `target` names (`--target`), by name or position.
    pub fn stage_index(&self, target: &str) -> Option<usize> {
        let t = target.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.as_str()))
            .or_else(|| t.parse::<usize>().ok().filter(|i| *i < self.stages.len()))
    }
}

/// Parse a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let (directives, raws) = parser::split(text)?;
    if raws.is_empty() {
        return Err(ParseError::global("file with no instructions"));
    }
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for raw in &raws {
        let ins = instruction::parse(raw, directives.escape)?;
        match (&ins.command, stages.last_mut()) {
            (
                Command::From {
                    image,
                    name,
                    platform,
                },
                _,
            ) => stages.push(Stage {
                name: name.clone(),
                base: image.clone(),
                platform: platform.clone(),
                line: ins.line,
                instructions: Vec::new(),
            }),
            (Command::Arg(_), None) => meta_args.push(ins),
            (_, None) => return Err(ParseError::global("no build stage in current context")),
            (_, Some(stage)) => stage.instructions.push(ins),
        }
    }
    if stages.is_empty() {
        return Err(ParseError::global("no build stage in current context"));
    }
    Ok(Dockerfile {
        directives,
        meta_args,
        stages,
    })
}

#[cfg(test)]
mod tests;
