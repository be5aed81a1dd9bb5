//! `debian/control` files (deb822) and the binary `control` a package carries.
//!
//! The source control files in `debian/` are written as docker-ce-packaging and
//! containerd-packaging write theirs; this module reads them and renders the binary
//! paragraph of one package the way `dpkg-gencontrol` would: field order, substitution
//! variables, `Source`, `Version`, `Architecture`, `Installed-Size`.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("no `Source:` paragraph first")]
    NoSource,
    #[error("no paragraph for package {0:?}")]
    NoPackage(String),
    #[error("package {package:?}: field {field} uses unknown substitution {var}")]
    UnknownSubstitution {
        package: String,
        field: String,
        var: String,
    },
}

/// One deb822 paragraph: field names as written, values with continuation lines kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: String) {
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_owned(), value)),
        }
    }
}

/// Parse deb822 text: paragraphs separated by blank lines, `Field: value` lines,
/// continuation lines starting with a space or tab, `#` comments.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, ControlError> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, value)) = current.fields.last_mut() else {
                return Err(ControlError::Syntax {
                    line: line_no,
                    reason: "continuation line without a field",
                });
            };
            value.push('\n');
            value.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ControlError::Syntax {
                line: line_no,
                reason: "expected `Field: value`",
            });
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ControlError::Syntax {
                line: line_no,
                reason: "bad field name",
            });
        }
        current
            .fields
            .push((name.to_owned(), value.trim().to_owned()));
    }
    if !current.fields.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

/// A source control file: the `Source` paragraph and one paragraph per binary package.
#[derive(Debug, Clone)]
pub struct SourceControl {
    source: Paragraph,
    packages: Vec<Paragraph>,
}

/// What `dpkg-gencontrol` fills in for one build of one package.
pub struct BinaryFacts<'a> {
    pub version: &'a str,
    pub architecture: &'a str,
    pub installed_size_kib: u64,
    /// `${shlibs:Depends}`: the shared-library dependencies (empty for static binaries).
    pub shlibs_depends: &'a str,
}

/// Fields of a binary package's control, in the order dpkg writes them.
const BINARY_FIELD_ORDER: &[&str] = &[
    "Package",
    "Source",
    "Version",
    "Architecture",
    "Essential",
    "Maintainer",
    "Installed-Size",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Provides",
    "Replaces",
    "Enhances",
    "Section",
    "Priority",
    "Homepage",
    "Description",
];

/// Relationship fields: rendered on one line, substitution variables expanded.
const RELATION_FIELDS: &[&str] = &[
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Provides",
    "Replaces",
    "Enhances",
];

impl SourceControl {
    pub fn parse(text: &str) -> Result<SourceControl, ControlError> {
        let mut paragraphs = parse(text)?.into_iter();
        let source = paragraphs
            .next()
            .filter(|p| p.get("Source").is_some())
            .ok_or(ControlError::NoSource)?;
        Ok(SourceControl {
            source,
            packages: paragraphs.collect(),
        })
    }

    /// The binary `control` of `package`, as `dpkg-gencontrol` writes it.
    pub fn binary_control(
        &self,
        package: &str,
        facts: &BinaryFacts,
    ) -> Result<String, ControlError> {
        let stanza = self
            .packages
            .iter()
            .find(|p| p.get("Package") == Some(package))
            .ok_or_else(|| ControlError::NoPackage(package.to_owned()))?;
        let mut out = Paragraph::default();
        // Source-paragraph defaults that binary packages inherit.
        for name in ["Maintainer", "Section", "Priority", "Homepage"] {
            if let Some(v) = self.source.get(name) {
                out.set(name, v.to_owned());
            }
        }
        for (name, value) in &stanza.fields {
            if name.eq_ignore_ascii_case("Architecture") {
                continue;
            }
            out.set(name, value.clone());
        }
        let source_name = self.source.get("Source").unwrap_or(package);
        if source_name != package {
            out.set("Source", source_name.to_owned());
        }
        out.set("Version", facts.version.to_owned());
        out.set("Architecture", facts.architecture.to_owned());
        out.set("Installed-Size", facts.installed_size_kib.to_string());
        let mut vars = BTreeMap::new();
        vars.insert("shlibs:Depends", facts.shlibs_depends);
        vars.insert("misc:Depends", "");
        for field in RELATION_FIELDS {
            if let Some(value) = out.get(field) {
                let rendered = render_relation(package, field, value, &vars)?;
                if rendered.is_empty() {
                    out.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(field));
                } else {
                    out.set(field, rendered);
                }
            }
        }
        let mut text = String::new();
        for name in BINARY_FIELD_ORDER {
            if let Some(value) = out.get(name) {
                text.push_str(&format!("{name}: {value}\n"));
            }
        }
        Ok(text)
    }
}

/// One relationship field on one line: items split at commas, substitution variables
/// expanded, empty items (an empty `${shlibs:Depends}`, a trailing comma) dropped.
fn render_relation(
    package: &str,
    field: &str,
    value: &str,
    vars: &BTreeMap<&str, &str>,
) -> Result<String, ControlError> {
    let mut items = Vec::new();
    for item in value.split(',') {
        let item = item.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(var) = item.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
            let expanded = vars
                .get(var)
                .ok_or_else(|| ControlError::UnknownSubstitution {
                    package: package.to_owned(),
                    field: field.to_owned(),
                    var: item.clone(),
                })?;
            items.extend(
                expanded
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        } else if !item.is_empty() {
            items.push(item);
        }
    }
    Ok(items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Source: docker-ce
Section: admin
Priority: optional
Maintainer: Docker <support@docker.com>
Homepage: https://www.docker.com

Package: docker-ce
Architecture: linux-any
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: containerd.io (>= 1.7.27),
         docker-ce-cli,
         ${shlibs:Depends}
Suggests: cgroupfs-mount | cgroup-lite,
            kmod,
Description: Docker: the engine
 Long text.
 .
 More.

Package: docker-ce-cli
Architecture: linux-any
Depends: ${shlibs:Depends}
Description: Docker CLI
 The client.
";

    #[test]
    fn renders_binary_control_as_dpkg_gencontrol_does() {
        let control = SourceControl::parse(SAMPLE).unwrap();
        let text = control
            .binary_control(
                "docker-ce",
                &BinaryFacts {
                    version: "5:26.11.0-1~debian.12~bookworm",
                    architecture: "amd64",
                    installed_size_kib: 1234,
                    shlibs_depends: "libc6 (>= 2.34)",
                },
            )
            .unwrap();
        assert_eq!(
            text,
            "\
Package: docker-ce
Version: 5:26.11.0-1~debian.12~bookworm
Architecture: amd64
Maintainer: Docker <support@docker.com>
Installed-Size: 1234
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: containerd.io (>= 1.7.27), docker-ce-cli, libc6 (>= 2.34)
Suggests: cgroupfs-mount | cgroup-lite, kmod
Section: admin
Priority: optional
Homepage: https://www.docker.com
Description: Docker: the engine
 Long text.
 .
 More.
"
        );
    }

    #[test]
    fn empty_substitutions_drop_the_field_and_source_is_named() {
        let control = SourceControl::parse(SAMPLE).unwrap();
        let text = control
            .binary_control(
                "docker-ce-cli",
                &BinaryFacts {
                    version: "1",
                    architecture: "amd64",
                    installed_size_kib: 1,
                    shlibs_depends: "",
                },
            )
            .unwrap();
        assert!(!text.contains("Depends"), "{text}");
        assert!(text.contains("Source: docker-ce\n"), "{text}");
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse(" leading continuation").unwrap_err().to_string(),
            "line 1: continuation line without a field"
        );
        assert_eq!(
            parse("Source docker-ce").unwrap_err().to_string(),
            "line 1: expected `Field: value`"
        );
        assert!(matches!(
            SourceControl::parse("Package: x\n"),
            Err(ControlError::NoSource)
        ));
        let control = SourceControl::parse(SAMPLE).unwrap();
        let facts = BinaryFacts {
            version: "1",
            architecture: "amd64",
            installed_size_kib: 1,
            shlibs_depends: "",
        };
        assert_eq!(
            control.binary_control("nope", &facts).unwrap_err(),
            ControlError::NoPackage("nope".into())
        );
        let bad =
            SourceControl::parse("Source: s\n\nPackage: p\nDepends: ${foo:Depends}\n").unwrap();
        assert!(bad
            .binary_control("p", &facts)
            .unwrap_err()
            .to_string()
            .contains("unknown substitution ${foo:Depends}"));
    }
}
