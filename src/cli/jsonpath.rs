//! kubectl's `-o jsonpath=TEMPLATE`: text, `{PATH}` actions, `{"literal"}` strings and
//! `{range PATH}...{end}` loops. Paths are evaluated by the API server's JSONPath
//! (client-go's dialect, missing keys allowed); several results print space-separated,
//! strings as they are, objects and arrays as compact JSON.

use clipper_apiserver::printers::jsonpath::{JsonPath, value_text};
use serde_json::Value;

use super::Result;

#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Path(JsonPath),
    Range(JsonPath, Vec<Node>),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template> {
        let mut stack: Vec<(Option<JsonPath>, Vec<Node>)> = vec![(None, Vec::new())];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                push(&mut stack, Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                push(&mut stack, Node::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = action_end(after)
                .ok_or_else(|| anyhow::anyhow!("error parsing jsonpath {text}, unclosed action"))?;
            let action = after[..close].trim();
            rest = &after[close + 1..];
            if action == "end" {
                if stack.len() < 2 {
                    anyhow::bail!("error parsing jsonpath {text}, not in range, nothing to end");
                }
                let (path, nodes) = stack.pop().expect("checked");
                push(&mut stack, Node::Range(path.expect("a range"), nodes));
            } else if let Some(path) = action.strip_prefix("range ") {
                stack.push((Some(parse_path(path.trim(), text)?), Vec::new()));
            } else if let Some(lit) = literal(action) {
                push(&mut stack, Node::Text(lit));
            } else {
                push(&mut stack, Node::Path(parse_path(action, text)?));
            }
        }
        if stack.len() != 1 {
            anyhow::bail!("error parsing jsonpath {text}, unclosed range");
        }
        Ok(Template {
            nodes: stack.pop().expect("one").1,
        })
    }

    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        render(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// The values of one path (as `--sort-by` and custom columns use it).
pub fn values(path: &str, data: &Value) -> Result<Vec<Value>> {
    let inner = path
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path.trim());
    // kubectl's relaxed form: `.a.b`, `a.b` and `{.a.b}` are the same path.
    let inner = if inner.starts_with('.') || inner.starts_with('@') || inner.starts_with('$') {
        inner.to_string()
    } else {
        format!(".{inner}")
    };
    let p = parse_path(&inner, path)?;
    Ok(p.find(data)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .map(|v| v.into_owned())
        .collect())
}

fn push(stack: &mut [(Option<JsonPath>, Vec<Node>)], node: Node) {
    stack.last_mut().expect("a root").1.push(node);
}

fn parse_path(path: &str, template: &str) -> Result<JsonPath> {
    JsonPath::parse(path).map_err(|e| anyhow::anyhow!("error parsing jsonpath {template}, {e}"))
}

/// Where the action that starts at `s` ends (its `}`), skipping quoted strings.
fn action_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '}' => return Some(i),
                _ => {}
            },
        }
    }
    None
}

/// `"..."` with Go's escapes, as text.
fn literal(action: &str) -> Option<String> {
    let inner = action.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            other => out.push(other),
        }
    }
    Some(out)
}

fn render(nodes: &[Node], data: &Value, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let found = p.find(data).map_err(|e| anyhow::anyhow!("{e}"))?;
                let texts: Vec<String> = found
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| value_text(v))
                    .collect();
                out.push_str(&texts.join(" "));
            }
            Node::Range(p, body) => {
                let found = p.find(data).map_err(|e| anyhow::anyhow!("{e}"))?;
                for item in found {
                    render(body, &item, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges_paths_and_literals() {
        let list = json!({"items": [
            {"metadata": {"name": "a", "labels": {"x": "1"}}},
            {"metadata": {"name": "b"}},
        ]});
        let t = Template::parse(
            r#"{range .items[*]}{.metadata.name}{"\t"}{.metadata.labels.x}{"\n"}{end}"#,
        )
        .unwrap();
        assert_eq!(t.render(&list).unwrap(), "a\t1\nb\t\n");
        let t = Template::parse("names: {.items[*].metadata.name}").unwrap();
        assert_eq!(t.render(&list).unwrap(), "names: a b");
        assert!(Template::parse("{range .items[*]}").is_err());
        assert_eq!(
            values(".metadata.name", &list["items"][0]).unwrap(),
            vec![json!("a")]
        );
        assert_eq!(
            values("{.metadata.name}", &list["items"][1]).unwrap(),
            vec![json!("b")]
        );
    }
}
