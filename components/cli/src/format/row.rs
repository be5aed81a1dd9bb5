//! A listing row for templates: named fields computed up front, like docker's
//! formatter contexts (`*formatter.ContainerContext`), plus `.Label "key"`.

use std::rc::Rc;

use crate::template::{Fields, Val};

pub struct Row {
    type_name: &'static str,
    fields: Vec<(&'static str, Val)>,
    labels: Option<Vec<(String, String)>>,
}

impl Row {
    pub fn new(type_name: &'static str) -> Row {
        Row {
            type_name,
            fields: Vec::new(),
            labels: None,
        }
    }

    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> Row {
        self.fields.push((name, Val::Str(value.into())));
        self
    }

    pub fn set_val(mut self, name: &'static str, value: Val) -> Row {
        self.fields.push((name, value));
        self
    }

    /// Enables `.Label "key"` over these labels.
    pub fn labels(mut self, labels: Vec<(String, String)>) -> Row {
        self.labels = Some(labels);
        self
    }

    pub fn into_val(self) -> Val {
        Val::Object(Rc::new(self))
    }
}

impl Fields for Row {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn field(&self, name: &str, args: &[Val]) -> Option<Result<Val, String>> {
        if name == "Label" {
            let labels = self.labels.as_ref()?;
            return Some(match args {
                [Val::Str(k)] => Ok(Val::Str(
                    labels
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                )),
                _ => Err(format!(
                    "wrong number of args for Label: want 1 got {}",
                    args.len()
                )),
            });
        }
        let v = self.fields.iter().find(|(n, _)| *n == name)?.1.clone();
        if !args.is_empty() {
            return Some(Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )));
        }
        Some(Ok(v))
    }

    fn to_json(&self) -> serde_json::Value {
        let mut fields: Vec<&(&'static str, Val)> = self.fields.iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        serde_json::Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect(),
        )
    }
}
