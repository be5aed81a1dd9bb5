//! Checks of the hosted CI workflows in `ci/workflows/`: they parse, and every
//! `cargo xtask ...` they run is a command line this xtask accepts.

#[cfg(test)]
mod tests {
    use clap::Parser;
    use yaml_rust2::{Yaml, YamlLoader};

    use crate::{project, Cli};

    fn workflows() -> Vec<(String, Yaml)> {
        let dir = project::root().join("ci/workflows");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let docs = YamlLoader::load_from_str(&text)
                    .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
                out.push((path.display().to_string(), docs.into_iter().next().unwrap()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Replace `${{ ... }}` expressions by a value that stands for them, so that the
    /// command line can be parsed.
    fn substitute(line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed ${{") + start + 2;
            let expr = &rest[start..end];
            out.push_str(if expr.contains("distro") {
                "debian-bookworm"
            } else {
                "x"
            });
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// Every `cargo xtask ...` invocation in the run steps of every job.
    fn xtask_invocations(doc: &Yaml) -> Vec<String> {
        let Yaml::Hash(jobs) = &doc["jobs"] else {
            panic!("workflow without jobs")
        };
        jobs.values().flat_map(job_invocations).collect()
    }

    fn job_invocations(job: &Yaml) -> Vec<String> {
        let Yaml::Array(steps) = &job["steps"] else {
            panic!("job without steps")
        };
        let runs = steps.iter().filter_map(|step| step["run"].as_str());
        runs.flat_map(str::lines)
            .filter_map(|line| {
                let tail = &line[line.find("cargo xtask")? + "cargo xtask".len()..];
                // up to the end of the command (a `)` of `$(...)`, a pipe, a redirect)
                let end = tail.find([')', '|', '>', ';', '&']).unwrap_or(tail.len());
                Some(substitute(tail[..end].trim()))
            })
            .collect()
    }

    #[test]
    fn workflows_run_xtask_commands_that_exist() {
        let all = workflows();
        assert!(
            all.len() >= 2,
            "expected ci.yml and release.yml in ci/workflows"
        );
        let mut commands = Vec::new();
        for (path, doc) in &all {
            for invocation in xtask_invocations(doc) {
                let argv = std::iter::once("cargo-xtask").chain(invocation.split_whitespace());
                if let Err(e) = Cli::try_parse_from(argv) {
                    panic!("{path}: `cargo xtask {invocation}` is not a valid command: {e}");
                }
                commands.push(invocation);
            }
        }
        let first_words: Vec<&str> = commands
            .iter()
            .filter_map(|c| c.split_whitespace().next())
            .collect();
        for needed in ["ci", "deb", "verify", "static"] {
            assert!(
                first_words.contains(&needed),
                "no workflow runs `cargo xtask {needed}`"
            );
        }
    }

    #[test]
    fn release_matrix_comes_from_the_distro_table() {
        let (_, release) = workflows()
            .into_iter()
            .find(|(p, _)| p.ends_with("release.yml"))
            .unwrap();
        let matrix = &release["jobs"]["deb"]["strategy"]["matrix"];
        assert_eq!(
            matrix["distro"].as_str(),
            Some("${{ fromJSON(needs.plan.outputs.distros) }}")
        );
        assert_eq!(
            job_invocations(&release["jobs"]["plan"]),
            ["deb --list --format json"]
        );
    }
}
