//! `clipper-protogen`: regenerates `proto/src/api/` from `proto/schema/v1.33-definitions.json`
//! and `proto/schema/v1.33-protobuf-fields.json`.
//!
//! Run from the workspace root: `cargo run -p clipper-protogen`.

use std::path::PathBuf;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let schema_path = proto.join("schema/v1.33-definitions.json");
    let schema = std::fs::read_to_string(&schema_path)
        .with_context(|| format!("reading {}", schema_path.display()))?;
    let fields_path = proto.join("schema/v1.33-protobuf-fields.json");
    let fields = std::fs::read_to_string(&fields_path)
        .with_context(|| format!("reading {}", fields_path.display()))?;
    let out_dir = proto.join("src/api");
    std::fs::create_dir_all(&out_dir)?;
    for file in clipper_protogen::generate(&schema, &fields)? {
        let formatted = clipper_protogen::rustfmt(&file.contents)
            .with_context(|| format!("formatting {}", file.name))?;
        let path = out_dir.join(&file.name);
        std::fs::write(&path, formatted).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
