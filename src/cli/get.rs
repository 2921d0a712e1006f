//! `clipper get`: lists and objects as the server's Table (kubectl's default and `-o wide`
//! output) or as JSON, YAML, names or a JSONPath template; `-w` prints rows as watch events
//! arrive.

use std::cmp::Ordering;

use clipper_client::rest;
use serde_json::Value;

use super::discovery::{Resource, targets};
use super::output::{self, Format};
use super::{Global, Outcome, Result, Session, client_error, is_not_found, print_error, query};

#[derive(clap::Args)]
pub struct GetArgs {
    /// TYPE[.GROUP] [NAME...], or TYPE/NAME..., or TYPE1,TYPE2.
    pub resources: Vec<String>,
    #[command(flatten)]
    pub global: Global,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector (e.g. -l key1=value1,key2!=value2).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector (e.g. --field-selector status.phase=Running).
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Output format: wide, json, yaml, name, jsonpath=TEMPLATE.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Add a LABELS column.
    #[arg(long)]
    pub show_labels: bool,
    /// After listing, watch for changes and print them.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Sort by a JSONPath expression's value (e.g. '{.metadata.name}').
    #[arg(long)]
    pub sort_by: Option<String>,
    /// No header row.
    #[arg(long)]
    pub no_headers: bool,
    /// Succeed silently when a named object does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Keep metadata.managedFields in JSON and YAML output.
    #[arg(long)]
    pub show_managed_fields: bool,
}

/// One printed section: a listed type or a run of named objects of one type.
enum Fetch<'a> {
    List(&'a Resource),
    Named(&'a Resource, Vec<String>),
}

pub async fn run(args: GetArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    if args.resources.is_empty() {
        anyhow::bail!(
            "You must specify the type of resource to get. Use \"clipper api-resources\" for a complete list of supported resources."
        );
    }
    let format = Format::parse(args.output.as_deref())?;
    let discovery = session.discovery().await?;
    let t = targets(discovery, &args.resources)?;
    let mut fetches: Vec<Fetch> = t.types.iter().map(|r| Fetch::List(r)).collect();
    for (r, name) in t.named {
        match fetches.last_mut() {
            Some(Fetch::Named(last, names)) if last.name == r.name && last.group == r.group => {
                names.push(name)
            }
            _ => fetches.push(Fetch::Named(r, vec![name])),
        }
    }
    if args.watch && fetches.len() != 1 {
        anyhow::bail!("you may only specify a single resource type");
    }
    let ns = (!args.all_namespaces).then_some(session.namespace.as_str());
    let selectors = [
        ("labelSelector", args.selector.as_deref().unwrap_or("")),
        (
            "fieldSelector",
            args.field_selector.as_deref().unwrap_or(""),
        ),
    ];
    let several_types = {
        let mut kinds: Vec<String> = fetches
            .iter()
            .map(|f| match f {
                Fetch::List(r) | Fetch::Named(r, _) => r.kind_ref(),
            })
            .collect();
        kinds.dedup();
        kinds.len() > 1
    };
    let mut ok = true;
    let mut printed_rows = 0usize;
    let mut tables = Vec::new();
    let mut objects: Vec<(&Resource, Value)> = Vec::new();
    // Where a watch resumes.
    let mut resource_version = String::new();
    for fetch in &fetches {
        let (resource, gets): (&Resource, Vec<String>) = match fetch {
            Fetch::List(r) => {
                let mut q = selectors.to_vec();
                if args.sort_by.is_some() && format.is_table() {
                    q.push(("includeObject", "Object"));
                }
                (r, vec![format!("{}{}", r.collection(ns), query(&q))])
            }
            Fetch::Named(r, names) => (
                r,
                names
                    .iter()
                    .map(|n| r.object(&session.namespace, n))
                    .collect(),
            ),
        };
        let mut rows: Vec<Value> = Vec::new();
        let mut columns = Value::Null;
        for path in gets {
            let got = if format.is_table() {
                session.get_table(&path).await
            } else {
                session.get(&path).await
            };
            let got = match got {
                Ok(v) => v,
                Err(e) if args.ignore_not_found && is_not_found(&e) => continue,
                Err(e) => {
                    print_error(&e);
                    ok = false;
                    continue;
                }
            };
            if let Some(rv) = got["metadata"]["resourceVersion"].as_str() {
                resource_version = rv.to_string();
            }
            if format.is_table() {
                if got["kind"] == "Table" {
                    if columns.is_null() {
                        columns = got["columnDefinitions"].clone();
                    }
                    rows.extend(got["rows"].as_array().cloned().unwrap_or_default());
                } else {
                    anyhow::bail!("the server did not answer a Table for {path}");
                }
            } else if let Some(items) = got["items"].as_array() {
                objects.extend(items.iter().map(|o| {
                    let o = output::with_type(resource, o.clone());
                    (resource, strip(o, args.show_managed_fields))
                }));
            } else {
                objects.push((resource, strip(got, args.show_managed_fields)));
            }
        }
        if format.is_table() {
            if let Some(path) = &args.sort_by {
                sort_by(&mut rows, path, |row| &row["object"])?;
            }
            printed_rows += rows.len();
            tables.push((resource, columns, rows));
        }
    }
    let stdout = &mut String::new();
    if format.is_table() {
        let table_opts = TableOptions {
            wide: matches!(format, Format::Wide),
            all_namespaces: args.all_namespaces,
            show_labels: args.show_labels,
            several_types,
        };
        let mut first = true;
        for (resource, columns, rows) in &tables {
            if rows.is_empty() {
                continue;
            }
            if !first {
                stdout.push('\n');
            }
            first = false;
            let mut lines = Vec::new();
            if !args.no_headers {
                lines.push(header(resource, columns, &table_opts));
            }
            for row in rows {
                lines.push(row_cells(resource, columns, row, &table_opts));
            }
            stdout.push_str(&output::align(&lines));
        }
        print!("{stdout}");
        if printed_rows == 0 && ok && !args.watch {
            no_resources(&fetches, &session, args.all_namespaces);
        }
        if args.watch {
            let (resource, name) = match &fetches[0] {
                Fetch::List(r) => (*r, None),
                Fetch::Named(r, names) => (*r, names.first().cloned()),
            };
            let columns = tables.first().map(|t| t.1.clone()).unwrap_or(Value::Null);
            let header_printed = printed_rows > 0 && !args.no_headers;
            return watch(
                &session,
                resource,
                ns,
                name,
                &selectors,
                resource_version,
                WatchPrint::Table {
                    columns,
                    opts: table_opts,
                    header_printed: header_printed || args.no_headers,
                },
            )
            .await;
        }
        return Ok(Outcome::from_ok(ok));
    }
    if let Some(path) = &args.sort_by {
        sort_by(&mut objects, path, |(_, o)| o)?;
    }
    let single = fetches.len() == 1 && matches!(&fetches[0], Fetch::Named(_, n) if n.len() == 1);
    // kubectl's generic printers print an empty List, never "No resources found".
    if !(single && objects.is_empty()) {
        print!("{}", output::print_objects(&format, &objects, single)?);
    }
    if args.watch {
        let (resource, name) = match &fetches[0] {
            Fetch::List(r) => (*r, None),
            Fetch::Named(r, names) => (*r, names.first().cloned()),
        };
        return watch(
            &session,
            resource,
            ns,
            name,
            &selectors,
            resource_version,
            WatchPrint::Objects(format, args.show_managed_fields),
        )
        .await;
    }
    Ok(Outcome::from_ok(ok))
}

/// kubectl hides managedFields unless `--show-managed-fields`.
fn strip(mut obj: Value, keep_managed_fields: bool) -> Value {
    if !keep_managed_fields && let Some(meta) = obj["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    obj
}

fn no_resources(fetches: &[Fetch], session: &Session, all_namespaces: bool) {
    let namespaced = fetches.iter().any(|f| match f {
        Fetch::List(r) | Fetch::Named(r, _) => r.namespaced,
    });
    if namespaced && !all_namespaces {
        eprintln!("No resources found in {} namespace.", session.namespace);
    } else {
        eprintln!("No resources found");
    }
}

/// Sorts by the value of a JSONPath in each element, as kubectl's `--sort-by`: numbers
/// numerically, strings lexically, missing values first.
fn sort_by<T>(items: &mut [T], path: &str, obj: impl Fn(&T) -> &Value) -> Result<()> {
    let mut keyed: Vec<(Option<Value>, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let v = super::jsonpath::values(path, obj(item))?;
        keyed.push((v.into_iter().next(), i));
    }
    let cmp = |a: &Option<Value>, b: &Option<Value>| -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, _) => Ordering::Less,
            (_, None) => Ordering::Greater,
            (Some(Value::Number(x)), Some(Value::Number(y))) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Some(x), Some(y)) => output::cell_text(x).cmp(&output::cell_text(y)),
        }
    };
    keyed.sort_by(|a, b| cmp(&a.0, &b.0));
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    // Apply the permutation.
    let mut position: Vec<usize> = vec![0; order.len()];
    for (to, from) in order.iter().enumerate() {
        position[*from] = to;
    }
    for i in 0..items.len() {
        while position[i] != i {
            let j = position[i];
            items.swap(i, j);
            position.swap(i, j);
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
pub struct TableOptions {
    pub wide: bool,
    pub all_namespaces: bool,
    pub show_labels: bool,
    /// Names print as `kind.group/name` when a command prints several types.
    pub several_types: bool,
}

fn shown_columns(columns: &Value, wide: bool) -> impl Iterator<Item = (usize, &Value)> {
    columns
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(move |(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
}

fn header(resource: &Resource, columns: &Value, o: &TableOptions) -> Vec<String> {
    let mut h = Vec::new();
    if o.all_namespaces && resource.namespaced {
        h.push("NAMESPACE".to_string());
    }
    h.extend(
        shown_columns(columns, o.wide)
            .map(|(_, c)| c["name"].as_str().unwrap_or("").to_uppercase()),
    );
    if o.show_labels {
        h.push("LABELS".to_string());
    }
    h
}

fn row_cells(resource: &Resource, columns: &Value, row: &Value, o: &TableOptions) -> Vec<String> {
    let meta = &row["object"]["metadata"];
    let mut cells = Vec::new();
    if o.all_namespaces && resource.namespaced {
        cells.push(meta["namespace"].as_str().unwrap_or("").to_string());
    }
    for (i, c) in shown_columns(columns, o.wide) {
        let mut text = output::cell_text(&row["cells"][i]);
        if o.several_types && c["format"] == "name" {
            text = output::name_ref(resource, &text);
        }
        cells.push(text);
    }
    if o.show_labels {
        cells.push(output::labels_text(&meta["labels"]));
    }
    cells
}

enum WatchPrint {
    Table {
        columns: Value,
        opts: TableOptions,
        header_printed: bool,
    },
    /// The format, and whether managedFields stay.
    Objects(Format, bool),
}

/// Watches from `resource_version`, printing each event's object; resumes when the server
/// ends the response, stops on an error event.
async fn watch(
    session: &Session,
    resource: &Resource,
    ns: Option<&str>,
    name: Option<String>,
    selectors: &[(&str, &str)],
    mut resource_version: String,
    mut print: WatchPrint,
) -> Result<Outcome> {
    use std::io::Write as _;
    let field = match (&name, selectors[1].1) {
        (Some(n), "") => format!("metadata.name={n}"),
        (Some(n), f) => format!("{f},metadata.name={n}"),
        (None, f) => f.to_string(),
    };
    loop {
        let q = query(&[
            ("watch", "1"),
            ("resourceVersion", &resource_version),
            ("allowWatchBookmarks", "true"),
            ("labelSelector", selectors[0].1),
            ("fieldSelector", &field),
        ]);
        let path = format!("{}{q}", resource.collection(ns));
        let accept = match &print {
            WatchPrint::Table { .. } => rest::TABLE,
            WatchPrint::Objects(..) => rest::JSON,
        };
        let mut stream = session
            .client
            .stream(&path, accept)
            .await
            .map_err(client_error)?;
        while let Some(event) = stream.next().await.map_err(client_error)? {
            let obj = &event["object"];
            match event["type"].as_str().unwrap_or("") {
                "ERROR" => {
                    let status: clipper_client::StatusSummary =
                        serde_json::from_value(obj.clone()).unwrap_or_default();
                    if status.code == 410 {
                        // Expired: start over from now.
                        resource_version.clear();
                        break;
                    }
                    return Err(client_error(clipper_client::ClientError::Status(status)));
                }
                "BOOKMARK" => {
                    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
                        resource_version = rv.to_string();
                    }
                    continue;
                }
                _ => {}
            }
            let mut out = String::new();
            match &mut print {
                WatchPrint::Table {
                    columns,
                    opts,
                    header_printed,
                } => {
                    if columns.as_array().is_none_or(|c| c.is_empty()) {
                        *columns = obj["columnDefinitions"].clone();
                    }
                    let mut lines = Vec::new();
                    if !*header_printed {
                        lines.push(header(resource, columns, opts));
                        *header_printed = true;
                    }
                    for row in obj["rows"].as_array().into_iter().flatten() {
                        if let Some(rv) = row["object"]["metadata"]["resourceVersion"].as_str() {
                            resource_version = rv.to_string();
                        }
                        lines.push(row_cells(resource, columns, row, opts));
                    }
                    out.push_str(&output::align(&lines));
                }
                WatchPrint::Objects(format, managed) => {
                    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
                        resource_version = rv.to_string();
                    }
                    let o = strip(output::with_type(resource, obj.clone()), *managed);
                    out.push_str(&output::print_objects(format, &[(resource, o)], true)?);
                    if matches!(format, Format::Yaml) {
                        out.insert_str(0, "---\n");
                    }
                }
            }
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
    }
}
