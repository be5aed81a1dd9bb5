//! Go templates, as `--format` and `inspect -f` take them.
//!
//! A small engine of our own rather than a crate: docker's output depends on Go's
//! exact printing rules (`[a b]`, `map[k:v]` sorted, `<no value>`, `<nil>`) and
//! error texts, which the available crates do not reproduce.

mod exec;
mod parse;
mod value;

pub use value::{go_json_escaped, Fields, Val};

/// A parsed template.
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `src`; the error is Go's text (`template: :1: unclosed action`).
    pub fn parse(src: &str) -> Result<Template, String> {
        Ok(Template {
            src: src.to_string(),
            nodes: parse::parse(src)?,
        })
    }

    /// Executes against `data`; the error is Go's text
    /// (`template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type ...`).
    pub fn execute(&self, data: &Val) -> Result<String, String> {
        self.run(data, false, false)
    }

    /// Executes with Go's `missingkey=error`, as `inspect -f` does on raw JSON.
    pub fn execute_strict(&self, data: &Val) -> Result<String, String> {
        self.run(data, false, true)
    }

    /// Executes with docker's header functions (a `table` format's first line).
    pub fn execute_header(&self, data: &Val) -> Result<String, String> {
        self.run(data, true, false)
    }

    fn run(&self, data: &Val, header: bool, strict: bool) -> Result<String, String> {
        let mut e = exec::Exec::new(&self.src, data.clone(), header, strict);
        e.run(&self.nodes, data)?;
        Ok(e.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, data: serde_json::Value) -> Result<String, String> {
        Template::parse(src)?.execute(&Val::from_json(&data))
    }

    #[test]
    fn fields_and_chains() {
        let d = serde_json::json!({"State": {"Running": true, "Pid": 42}, "Name": "/x"});
        assert_eq!(
            render("{{.State.Pid}} {{.Name}}", d.clone()).unwrap(),
            "42 /x"
        );
        assert_eq!(render("{{.Nope}}", d.clone()).unwrap(), "<no value>");
        assert_eq!(render("{{ .State.Running -}}  \n x", d).unwrap(), "truex");
    }

    #[test]
    fn control_structures_and_variables() {
        let d = serde_json::json!({"L": {"b": "2", "a": "1"}, "E": ["x", "y"]});
        assert_eq!(
            render("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", d.clone()).unwrap(),
            "a=1;b=2;"
        );
        assert_eq!(
            render("{{range .E}}[{{.}}]{{else}}none{{end}}", d.clone()).unwrap(),
            "[x][y]"
        );
        assert_eq!(
            render(
                "{{if eq (len .E) 3}}3{{else if eq (len .E) 2}}2{{else}}?{{end}}",
                d.clone()
            )
            .unwrap(),
            "2"
        );
        assert_eq!(
            render("{{$x := index .E 1}}{{$x | upper}}", d.clone()).unwrap(),
            "Y"
        );
        assert_eq!(
            render("{{with .Missing}}yes{{else}}no{{end}}", d).unwrap(),
            "no"
        );
    }

    #[test]
    fn docker_functions() {
        let d = serde_json::json!({"S": "a,b,c", "E": ["x", "y"], "M": {"k": "<v>"}});
        assert_eq!(
            render("{{join (split .S \",\") \"|\"}}", d.clone()).unwrap(),
            "a|b|c"
        );
        assert_eq!(render("{{json .M}}", d.clone()).unwrap(), r#"{"k":"<v>"}"#);
        assert_eq!(
            render("{{title \"hello world\"}}", d.clone()).unwrap(),
            "Hello World"
        );
        assert_eq!(
            render("{{truncate .S 3}}|{{pad .S 1 2}}|", d.clone()).unwrap(),
            "a,b| a,b,c  |"
        );
        assert_eq!(
            render("{{printf \"%-4s|%d\" \"a\" 7}}", d).unwrap(),
            "a   |7"
        );
    }

    #[test]
    fn errors_use_go_wording() {
        assert_eq!(
            Template::parse("{{.Foo").err().unwrap(),
            "template: :1: unclosed action"
        );
        assert_eq!(
            Template::parse("{{nosuch .}}").err().unwrap(),
            "template: :1: function \"nosuch\" not defined"
        );
        let e = render("{{.A.B}}", serde_json::json!({"A": "s"})).unwrap_err();
        assert_eq!(
            e,
            "template: :1:4: executing \"\" at <.A.B>: can't evaluate field B in type string"
        );
    }
}
