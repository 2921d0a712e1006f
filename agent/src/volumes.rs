//! A pod's volumes on the node: emptyDir (a directory of the pod), hostPath, and
//! ConfigMap and Secret volumes (their keys written as files, read through the API).
//! Other volume types are refused with a message saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clipper_client::QuicClient;
use clipper_proto::api::core::v1::{KeyToPath, Pod};

use crate::env::read_data;

/// Volume name → (host path, read-only).
pub type Prepared = BTreeMap<String, (PathBuf, bool)>;

fn check_key_path(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return Err(format!(
            "invalid volume item path {p:?}: must be relative, without \"..\""
        ));
    }
    Ok(())
}

/// Writes the keys (or the chosen items) of a ConfigMap or Secret into `dir`.
fn write_keys(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: u32,
    what: &str,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let entries: Vec<(String, String, u32)> = match items {
        Some(items) => {
            let mut out = Vec::new();
            for i in items {
                if !data.contains_key(&i.key) {
                    return Err(format!(
                        "{what}: configmap references non-existent config key: {}",
                        i.key
                    ));
                }
                let mode = i.mode.map_or(default_mode, |m| m as u32);
                out.push((i.key.clone(), i.path.clone(), mode));
            }
            out
        }
        None => data
            .keys()
            .map(|k| (k.clone(), k.clone(), default_mode))
            .collect(),
    };
    for (key, rel, mode) in entries {
        check_key_path(&rel)?;
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let bytes = data.get(&key).map(Vec::as_slice).unwrap_or_default();
        let tmp = path.with_extension("clipper-tmp");
        std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Prepares every volume of the pod under `pod_dir/volumes`.
pub async fn prepare(api: &QuicClient, pod: &Pod, pod_dir: &Path) -> Result<Prepared, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = Prepared::new();
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    for v in volumes.into_iter().flatten() {
        let base = pod_dir.join("volumes");
        if v.empty_dir.is_some() {
            let dir = base.join("empty-dir").join(&v.name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            out.insert(v.name.clone(), (dir, false));
        } else if let Some(h) = &v.host_path {
            let path = PathBuf::from(&h.path);
            let kind = h.type_.as_deref().unwrap_or("");
            match kind {
                "DirectoryOrCreate" => std::fs::create_dir_all(&path)
                    .map_err(|e| format!("hostPath {}: {e}", path.display()))?,
                "FileOrCreate" if !path.exists() => {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("hostPath {}: {e}", parent.display()))?;
                    }
                    std::fs::write(&path, b"")
                        .map_err(|e| format!("hostPath {}: {e}", path.display()))?;
                }
                "Directory" if !path.is_dir() => {
                    return Err(format!(
                        "hostPath type check failed: {} is not a directory",
                        h.path
                    ));
                }
                "File" if !path.is_file() => {
                    return Err(format!(
                        "hostPath type check failed: {} is not a file",
                        h.path
                    ));
                }
                _ => {}
            }
            out.insert(v.name.clone(), (path, false));
        } else if let Some(c) = &v.config_map {
            let name = c.name.clone().unwrap_or_default();
            let dir = base.join("configmap").join(&v.name);
            match read_data(api, ns, "configmaps", &name).await? {
                Some(data) => write_keys(
                    &dir,
                    &data,
                    c.items.as_ref(),
                    c.default_mode.map_or(0o644, |m| m as u32),
                    &format!("volume {}", v.name),
                )?,
                None if c.optional.unwrap_or(false) => {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?
                }
                None => return Err(format!("configmap \"{name}\" not found")),
            }
            out.insert(v.name.clone(), (dir, true));
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let dir = base.join("secret").join(&v.name);
            match read_data(api, ns, "secrets", &name).await? {
                Some(data) => write_keys(
                    &dir,
                    &data,
                    s.items.as_ref(),
                    s.default_mode.map_or(0o644, |m| m as u32),
                    &format!("volume {}", v.name),
                )?,
                None if s.optional.unwrap_or(false) => {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?
                }
                None => return Err(format!("secret \"{name}\" not found")),
            }
            out.insert(v.name.clone(), (dir, true));
        } else {
            return Err(format!(
                "volume {:?}: this volume type is not supported by Clipper's agent yet (emptyDir, hostPath, configMap and secret are)",
                v.name
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_files_with_their_modes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let data: BTreeMap<String, Vec<u8>> = [
            ("a".to_string(), b"one".to_vec()),
            ("b".to_string(), b"two".to_vec()),
        ]
        .into();
        write_keys(dir.path(), &data, None, 0o600, "v").expect("all keys");
        assert_eq!(std::fs::read(dir.path().join("a")).expect("a"), b"one");
        let mode = std::fs::metadata(dir.path().join("b"))
            .expect("b")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let items = vec![KeyToPath {
            key: "b".into(),
            path: "sub/x".into(),
            mode: Some(0o400),
        }];
        let other = dir.path().join("items");
        write_keys(&other, &data, Some(&items), 0o644, "v").expect("items");
        assert_eq!(std::fs::read(other.join("sub/x")).expect("x"), b"two");
        assert!(!other.join("a").exists());

        let bad = vec![KeyToPath {
            key: "a".into(),
            path: "../escape".into(),
            mode: None,
        }];
        let err = write_keys(&other, &data, Some(&bad), 0o644, "v").expect_err("traversal");
        assert!(err.contains("without \"..\""), "{err}");
        let missing = vec![KeyToPath {
            key: "zz".into(),
            path: "zz".into(),
            mode: None,
        }];
        assert!(write_keys(&other, &data, Some(&missing), 0o644, "v").is_err());
    }
}
