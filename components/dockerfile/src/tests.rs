//! Table-driven parser cases: errors as docker words them (checked against Debian's
//! dockerd 20.10 by hand and by the golden suite; the line prefix is the current
//! `on line N` form) and the typed result of each instruction form.

use super::*;

#[test]
fn parse_errors_worded_as_docker() {
    let cases: &[(&str, &str)] = &[
        ("FROM scratch\n\nFORM x\n", "dockerfile parse error on line 3: unknown instruction: FORM"),
        ("from scratch\nform x\n", "dockerfile parse error on line 2: unknown instruction: FORM"),
        ("FROM scratch\nCOPY a\n", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM scratch\nADD a\n", "dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM scratch\nCOPY --from=x --chown=1 a\n", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM a b\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM scratch AS 1bad\n", "dockerfile parse error on line 1: invalid name for build stage: \"1bad\", name can't start with a number or contain symbols"),
        ("FROM scratch\nENV A\n", "dockerfile parse error on line 2: ENV must have two arguments"),
        ("FROM scratch\nLABEL a\n", "dockerfile parse error on line 2: LABEL must have two arguments"),
        ("FROM scratch\nENV\n", "dockerfile parse error on line 2: ENV requires at least one argument"),
        ("FROM scratch\nENV =x\n", "dockerfile parse error on line 2: ENV names can not be blank"),
        ("FROM scratch\nENV A=1 B\n", "dockerfile parse error on line 2: Syntax error - can't find = in \"B\". Must be of the form: name=value"),
        ("FROM scratch\nUSER\n", "dockerfile parse error on line 2: USER requires exactly one argument"),
        ("FROM scratch\nWORKDIR\n", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
        ("FROM scratch\nSTOPSIGNAL\n", "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument"),
        ("FROM scratch\nMAINTAINER\n", "dockerfile parse error on line 2: MAINTAINER requires exactly one argument"),
        ("FROM scratch\nEXPOSE\n", "dockerfile parse error on line 2: EXPOSE requires at least one argument"),
        ("FROM scratch\nARG\n", "dockerfile parse error on line 2: ARG requires at least one argument"),
        ("FROM scratch\nVOLUME\n", "dockerfile parse error on line 2: VOLUME requires at least one argument"),
        ("FROM scratch\nSHELL /bin/sh\n", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM scratch\nHEALTHCHECK NONE x\n", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM scratch\nHEALTHCHECK FOO x\n", "dockerfile parse error on line 2: Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("FROM scratch\nHEALTHCHECK --interval=1ns CMD x\n", "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms"),
        ("FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n", "dockerfile parse error on line 2: --retries cannot be negative (-1)"),
        ("FROM scratch\nHEALTHCHECK --bogus=1 CMD x\n", "dockerfile parse error on line 2: Unknown flag: bogus"),
        ("FROM scratch\nONBUILD ONBUILD RUN x\n", "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM scratch\nONBUILD FROM x\n", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM scratch\nONBUILD MAINTAINER x\n", "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM scratch\nCOPY --bogus=1 a b\n", "dockerfile parse error on line 2: Unknown flag: bogus"),
        ("FROM scratch\nCOPY --chown a b\n", "dockerfile parse error on line 2: Missing a value on flag: chown"),
        ("FROM scratch\nADD --from=x a b\n", "dockerfile parse error on line 2: Unknown flag: from"),
        ("FROM scratch\nRUN --mount=type=cache,target=/x true\n", "dockerfile parse error on line 2: the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"),
        ("FROM scratch\nRUN <<EOF\necho hi\nEOF\n", "dockerfile parse error on line 2: RUN: heredocs are not supported by the classic builder, use BuildKit"),
        ("FROM scratch\nCOPY <<-\"EOT\" /dst\n", "dockerfile parse error on line 2: COPY: heredocs are not supported by the classic builder, use BuildKit"),
        ("FROM scratch\nRUN a \\\n  b \\\n\nFORM x\nBAD\n", "dockerfile parse error on line 6: unknown instruction: BAD"),
        ("# escape=x\nFROM scratch\n", "invalid escape token 'x' does not match ` or \\"),
        ("ENV A=b\nFROM scratch\n", "no build stage in current context"),
        ("ARG A=b\n", "no build stage in current context"),
        ("\n", "file with no instructions"),
        ("# only comment\n", "file with no instructions"),
        ("FROM scratch\nVOLUME [\"\"]\n", "dockerfile parse error on line 2: VOLUME specified can not be an empty string"),
    ];
    for (text, want) in cases {
        let got = parse(text).map(|_| ()).unwrap_err().to_string();
        assert_eq!(&got, want, "{text:?}");
    }
}

fn only(text: &str) -> Command {
    let df = parse(&format!("FROM scratch\n{text}\n")).unwrap();
    assert_eq!(df.stages[0].instructions.len(), 1, "{text}");
    df.stages[0].instructions[0].command.clone()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn instruction_forms() {
    assert_eq!(
        only("RUN echo hi"),
        Command::Run(CommandLine::Shell("echo hi".into()))
    );
    assert_eq!(
        only("run [\"echo\", \"hi\"]"),
        Command::Run(CommandLine::Exec(s(&["echo", "hi"])))
    );
    // Not valid JSON: shell form, as docker treats it.
    assert_eq!(
        only("CMD [\"echo\", hi]"),
        Command::Cmd(CommandLine::Shell("[\"echo\", hi]".into()))
    );
    assert_eq!(only("CMD"), Command::Cmd(CommandLine::Shell(String::new())));
    assert_eq!(
        only("ENTRYPOINT []"),
        Command::Entrypoint(CommandLine::Exec(vec![]))
    );
    assert_eq!(only("USER a b"), Command::User("a b".into()));
    assert_eq!(
        only("EXPOSE 80 443/tcp"),
        Command::Expose(s(&["80", "443/tcp"]))
    );
    assert_eq!(
        only("ENV A=1 B=\"two words\" C=three\\ words"),
        Command::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into()),
            ("C".into(), "three\\ words".into())
        ])
    );
    assert_eq!(
        only("ENV NAME  value with  spaces"),
        Command::Env(vec![("NAME".into(), "value with  spaces".into())])
    );
    assert_eq!(
        only("LABEL \"a b\"=c d=e"),
        Command::Label(vec![
            ("\"a b\"".into(), "c".into()),
            ("d".into(), "e".into())
        ])
    );
    assert_eq!(
        only("ARG A B=2"),
        Command::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))])
    );
    assert_eq!(
        only("COPY --from=build --chown=1:2 --chmod=644 a b /dst/"),
        Command::Copy(CopyArgs {
            sources: s(&["a", "b"]),
            dest: "/dst/".into(),
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("644".into()),
            link: false,
            json: false
        })
    );
    assert_eq!(
        only("ADD [\"a b\", \"/d\"]"),
        Command::Add(CopyArgs {
            sources: s(&["a b"]),
            dest: "/d".into(),
            json: true,
            ..Default::default()
        })
    );
    assert_eq!(
        only("VOLUME [\"/a\", \"/b\"]"),
        Command::Volume(s(&["/a", "/b"]))
    );
    assert_eq!(only("VOLUME /a /b"), Command::Volume(s(&["/a", "/b"])));
    assert_eq!(only("WORKDIR /a b"), Command::Workdir("/a b".into()));
    assert_eq!(
        only("MAINTAINER Jane <j@x>"),
        Command::Maintainer("Jane <j@x>".into())
    );
    assert_eq!(
        only("STOPSIGNAL SIGTERM"),
        Command::StopSignal("SIGTERM".into())
    );
    assert_eq!(
        only("SHELL [\"powershell\", \"-c\"]"),
        Command::Shell(s(&["powershell", "-c"]))
    );
    assert_eq!(
        only("HEALTHCHECK NONE"),
        Command::Healthcheck(HealthcheckArgs {
            test: s(&["NONE"]),
            ..Default::default()
        })
    );
    assert_eq!(
        only("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=3 CMD [\"curl\", \"-f\", \"x\"]"),
        Command::Healthcheck(HealthcheckArgs {
            test: s(&["CMD", "curl", "-f", "x"]),
            interval: Some(std::time::Duration::from_secs(90)),
            timeout: Some(std::time::Duration::from_millis(500)),
            start_period: Some(std::time::Duration::from_secs(2)),
            start_interval: None,
            retries: Some(3),
        })
    );
    assert_eq!(
        only("HEALTHCHECK CMD curl -f x || exit 1"),
        Command::Healthcheck(HealthcheckArgs {
            test: s(&["CMD-SHELL", "curl -f x || exit 1"]),
            ..Default::default()
        })
    );
    let Command::Onbuild(inner) = only("ONBUILD  run   echo  x") else {
        panic!()
    };
    assert_eq!(inner.original, "run   echo  x");
    assert_eq!(
        inner.command,
        Command::Run(CommandLine::Shell("echo  x".into()))
    );
    // Flags exist only where docker defines them.
    assert_eq!(only("USER --x"), Command::User("--x".into()));
}

#[test]
fn stages_and_directives() {
    let df = parse(
        "# syntax=docker/dockerfile:1\n# escape=`\nARG BASE=busybox\nFROM --platform=linux/amd64 ${BASE} AS Build\nRUN make `\n  all\nFROM scratch\nCOPY --from=build /out /\n",
    )
    .unwrap();
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.meta_args.len(), 1);
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stages[0].base, "${BASE}");
    assert_eq!(df.stages[0].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(
        df.stages[0].instructions[0].command,
        Command::Run(CommandLine::Shell("make   all".into()))
    );
    assert_eq!(
        (
            df.stages[0].instructions[0].line,
            df.stages[0].instructions[0].end_line
        ),
        (5, 6)
    );
    assert_eq!(df.stages[1].line, 7);
    assert_eq!(df.stage_index("BUILD"), Some(0));
    assert_eq!(df.stage_index("1"), Some(1));
    assert_eq!(df.stage_index("nope"), None);
}
