//! `--format`: `json`, or a Go-template-like string (`{{.Names}}`, `{{.State.Status}}`,
//! `table {{.ID}}\t{{.Image}}`), as podman and docker accept it for listings and inspect.

use serde_json::Value;

/// How a listing is printed.
pub enum Format {
    /// The default table.
    Table,
    /// JSON.
    Json,
    /// A template; `header` when it began with `table`.
    Template { template: String, header: bool },
}

impl Format {
    /// Parses `--format` (none: the table).
    pub fn parse(f: Option<&str>) -> Format {
        match f {
            None | Some("") | Some("table") => Format::Table,
            Some("json") | Some("{{json .}}") => Format::Json,
            Some(t) => match t.strip_prefix("table ") {
                Some(rest) => Format::Template {
                    template: rest.to_string(),
                    header: true,
                },
                None => Format::Template {
                    template: t.to_string(),
                    header: false,
                },
            },
        }
    }
}

/// Looks up `.A.B` in `v` (keys matched exactly, then case-insensitively).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        let obj = cur.as_object()?;
        cur = obj.get(key).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })?;
    }
    Some(cur)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Renders one template against `v`: `{{.Path}}`, `{{json .Path}}`, `{{.}}`; `\t` and `\n`
/// escapes as the docker CLI takes them.
pub fn render(template: &str, v: &Value) -> String {
    let t = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = t.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 2..start + end].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let val = if path == "." {
            Some(v)
        } else {
            path.strip_prefix('.').and_then(|p| lookup(v, p))
        };
        match (json, val) {
            (true, Some(x)) => out.push_str(&x.to_string()),
            (false, Some(x)) => out.push_str(&show(x)),
            (_, None) => out.push_str("<no value>"),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Header of a `table` template: the field names.
pub fn header(template: &str) -> String {
    render(template, &Value::Null)
        .split('\t')
        .zip(template.replace("\\t", "\t").split('\t'))
        .map(|(_, part)| {
            let inner = part
                .split("{{")
                .nth(1)
                .and_then(|x| x.split("}}").next())
                .unwrap_or("")
                .trim();
            inner
                .trim_start_matches("json ")
                .trim_start_matches('.')
                .to_ascii_uppercase()
        })
        .collect::<Vec<_>>()
        .join("\t")
}

/// Prints rows as a table with aligned columns (two spaces between columns).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 < n {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            } else {
                s.push_str(&c);
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// Prints `items` in the requested format (`table` gives `headers`/`row`).
pub fn print_list(
    f: &Format,
    items: &[Value],
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) {
    match f {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(items).unwrap_or_default()
        ),
        Format::Template {
            template,
            header: h,
        } => {
            if *h {
                println!("{}", header(template));
            }
            for i in items {
                println!("{}", render(template, i));
            }
        }
        Format::Table => print_table(headers, &items.iter().map(row).collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates() {
        let v = json!({"Names": ["web"], "State": {"Status": "running"}, "ID": "abc"});
        assert_eq!(render("{{.Names}}", &v), "web");
        assert_eq!(render("{{.State.Status}} {{.id}}", &v), "running abc");
        assert_eq!(render("{{json .State}}", &v), r#"{"Status":"running"}"#);
        assert_eq!(render("{{.Nope}}", &v), "<no value>");
        assert_eq!(render("{{.ID}}\\t{{.Names}}", &v), "abc\tweb");
        assert_eq!(header("{{.ID}}\\t{{.Names}}"), "ID\tNAMES");
        assert!(matches!(
            Format::parse(Some("table {{.ID}}")),
            Format::Template { header: true, .. }
        ));
    }
}
