//! The node's image store: OCI content (`blobs/sha256/<hex>`) with an index of references,
//! filled by importing OCI image layouts (a directory, or a tar of one, plain or gzip).
//!
//! The store is one directory (`<agent root>/images`): `blobs/sha256/<hex>`, `index.json`,
//! and `layers/<hex>/`, each layer unpacked once per layer digest for **overlayfs**:
//! a container's root is an overlay mount whose lower directories are its image's layers
//! (top layer first) with a per-container upper and work directory. OCI whiteouts are
//! converted to overlayfs' form while unpacking: `.wh.<name>` becomes a character device
//! 0/0 named `<name>`, `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.
//!
//! Every blob's sha256 (and size) is checked on import; each layer's uncompressed digest
//! is checked against the config's `rootfs.diff_ids` while unpacking. Tar entries cannot
//! write outside the directory they are unpacked into: `..` components are refused,
//! absolute paths are taken relative to it, and no entry is written through a symlink.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{cpath, temp_path, write_atomic};

const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The annotation containerd and `docker save` put the full image name in.
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI layout's reference annotation (a full name or, per the spec, just a tag).
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The largest manifest, index or config read into memory: real ones are a few KiB.
const MAX_JSON_BLOB: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image by that reference in the store.
    #[error("image {0:?} is not in the node's image store")]
    NotFound(String),
    /// A malformed reference, layout, manifest or layer.
    #[error("{0}")]
    Invalid(String),
    /// The filesystem failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

/// One image as `clipper image ls` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// The normalized reference.
    pub reference: String,
    /// `sha256:<hex>` of the config: the image id.
    pub id: String,
    /// The digest the reference resolves to (an index's when the layout held one).
    pub digest: String,
    /// The compressed size of the layers.
    pub size: u64,
}

/// The parts of an image's config a container is built from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// A resolved image: what a container needs from the store.
#[derive(Clone, Debug)]
pub struct Image {
    pub reference: String,
    /// `sha256:<hex>` of the config.
    pub id: String,
    pub config: ImageConfig,
    /// The unpacked layer directories, bottom layer first.
    pub layers: Vec<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Debug, Deserialize)]
struct IndexJson {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct ManifestJson {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    #[serde(default)]
    config: Option<ConfigInner>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigInner {
    #[serde(rename = "Entrypoint", default)]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default)]
    env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    working_dir: Option<String>,
    #[serde(rename = "User", default)]
    user: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The store's index file: reference → the digest it names and the platform manifest.
#[derive(Debug, Default, Deserialize, Serialize)]
struct StoreIndex {
    images: BTreeMap<String, IndexEntry>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct IndexEntry {
    /// What the reference names: a manifest, or an index of them.
    digest: String,
    /// The manifest for this host's platform.
    manifest: String,
}

/// The image store: one directory holding `blobs/`, `index.json` and `layers/`.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating the directories of) the store in `dir` — the runtime keeps it in
    /// `<root>/images`, e.g. `/var/lib/clipper/agent/images`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ImageStore, ImageError> {
        let store = ImageStore { root: dir.into() };
        for dir in [store.blobs_dir(), store.layers_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        Ok(store)
    }

    fn images_dir(&self) -> PathBuf {
        self.root.clone()
    }
    fn blobs_dir(&self) -> PathBuf {
        self.images_dir().join("blobs").join("sha256")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.images_dir().join("tmp")
    }
    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }
    fn index_path(&self) -> PathBuf {
        self.images_dir().join("index.json")
    }
    fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        Ok(self.blobs_dir().join(digest_hex(digest)?))
    }

    /// Imports the images of an OCI image layout — a directory, or a tar of one (plain or
    /// gzip). With `name`, the layout must hold one image, stored under that reference;
    /// without, each image's name comes from its `io.containerd.image.name` or
    /// `org.opencontainers.image.ref.name` annotation. An image index is resolved to
    /// this host's platform. Returns what was imported.
    pub fn import(&self, path: &Path, name: Option<&str>) -> Result<Vec<ImageSummary>, ImageError> {
        self.import_oci_layout(path, name)
    }

    /// [`ImageStore::import`].
    pub fn import_oci_layout(
        &self,
        path: &Path,
        name: Option<&str>,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let meta = fs::metadata(path).map_err(io_err(format!("reading {}", path.display())))?;
        if meta.is_dir() {
            return self.import_dir(path, name);
        }
        // A tar of a layout: unpack it into a scratch directory first.
        let scratch = temp_path(&self.tmp_dir(), "import");
        fs::create_dir_all(&scratch).map_err(io_err(format!("creating {}", scratch.display())))?;
        let result = (|| {
            let file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
            extract_tar(
                decompressed(BufReader::new(file))?,
                &scratch,
                Whiteouts::Keep,
            )
            .map_err(|e| ImageError::Invalid(format!("{}: {e}", path.display())))?;
            self.import_dir(&scratch, name)
        })();
        let _ = fs::remove_dir_all(&scratch);
        result
    }

    fn import_dir(
        &self,
        layout: &Path,
        name: Option<&str>,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let marker = layout.join("oci-layout");
        let marker_text = fs::read_to_string(&marker).map_err(|e| {
            ImageError::Invalid(format!(
                "{} is not an OCI image layout (no oci-layout file: {e})",
                layout.display()
            ))
        })?;
        let marker_json: serde_json::Value = serde_json::from_str(&marker_text)
            .map_err(|e| ImageError::Invalid(format!("{}: {e}", marker.display())))?;
        if marker_json.get("imageLayoutVersion").is_none() {
            return Err(ImageError::Invalid(format!(
                "{}: no imageLayoutVersion",
                marker.display()
            )));
        }
        let index_path = layout.join("index.json");
        let index_bytes =
            fs::read(&index_path).map_err(io_err(format!("reading {}", index_path.display())))?;
        let index: IndexJson = serde_json::from_slice(&index_bytes)
            .map_err(|e| ImageError::Invalid(format!("{}: {e}", index_path.display())))?;
        if index.manifests.is_empty() {
            return Err(ImageError::Invalid(format!(
                "{}: no manifests",
                index_path.display()
            )));
        }
        let name = name.map(normalize_reference).transpose()?;
        if name.is_some() && index.manifests.len() != 1 {
            return Err(ImageError::Invalid(format!(
                "{} holds {} images; a name can only be given to one",
                layout.display(),
                index.manifests.len()
            )));
        }
        let mut named = Vec::new();
        for desc in &index.manifests {
            let reference = match &name {
                Some(n) => n.clone(),
                None => {
                    let annotated = desc
                        .annotations
                        .get(ANNOTATION_CONTAINERD_NAME)
                        .or_else(|| desc.annotations.get(ANNOTATION_REF_NAME))
                        .ok_or_else(|| {
                            ImageError::Invalid(format!(
                                "image {} of {} has no name annotation; give it a name",
                                desc.digest,
                                layout.display()
                            ))
                        })?;
                    normalize_reference(annotated)?
                }
            };
            let manifest = self.import_target(layout, desc)?;
            named.push((reference, desc.digest.clone(), manifest));
        }
        let _lock = self.lock()?;
        let mut store_index = self.read_index()?;
        let mut out = Vec::new();
        for (reference, digest, manifest) in named {
            store_index.images.insert(
                reference.clone(),
                IndexEntry {
                    digest: digest.clone(),
                    manifest: manifest.clone(),
                },
            );
            out.push(self.summary(&reference, &digest, &manifest)?);
        }
        self.write_index(&store_index)?;
        Ok(out)
    }

    /// Copies what `desc` names (an index or a manifest) and everything it needs into the
    /// store, unpacks the layers; returns the digest of the host platform's manifest.
    fn import_target(&self, layout: &Path, desc: &Descriptor) -> Result<String, ImageError> {
        let bytes = self.copy_json_blob(layout, desc)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Invalid(format!("{}: {e}", desc.digest)))?;
        let media_type = if desc.media_type.is_empty() {
            value
                .get("mediaType")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_string()
        } else {
            desc.media_type.clone()
        };
        let is_index = media_type == MEDIA_OCI_INDEX
            || media_type == MEDIA_DOCKER_LIST
            || (media_type.is_empty() && value.get("manifests").is_some());
        if is_index {
            let index: IndexJson = serde_json::from_value(value)
                .map_err(|e| ImageError::Invalid(format!("index {}: {e}", desc.digest)))?;
            let chosen = choose_platform(&index.manifests).ok_or_else(|| {
                ImageError::Invalid(format!(
                    "index {} has no manifest for linux/{}",
                    desc.digest,
                    host_arch()
                ))
            })?;
            let _ = index.media_type;
            return self.import_target(layout, chosen);
        }
        if !(media_type == MEDIA_OCI_MANIFEST
            || media_type == MEDIA_DOCKER_MANIFEST
            || media_type.is_empty())
        {
            return Err(ImageError::Invalid(format!(
                "{}: unsupported media type {media_type:?}",
                desc.digest
            )));
        }
        let manifest: ManifestJson = serde_json::from_value(value)
            .map_err(|e| ImageError::Invalid(format!("manifest {}: {e}", desc.digest)))?;
        let _ = manifest.media_type;
        let config_bytes = self.copy_json_blob(layout, &manifest.config)?;
        let config = parse_config(&config_bytes, &manifest.config.digest)?;
        for layer in &manifest.layers {
            layer_compression(&layer.media_type)?;
            self.copy_blob(layout, layer)?;
        }
        self.unpack_layers(&manifest, &config)?;
        Ok(desc.digest.clone())
    }

    fn copy_json_blob(&self, layout: &Path, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        if desc.size > MAX_JSON_BLOB {
            return Err(ImageError::Invalid(format!(
                "{}: {} bytes is too large for a manifest or config",
                desc.digest, desc.size
            )));
        }
        let path = self.copy_blob(layout, desc)?;
        fs::read(&path).map_err(io_err(format!("reading {}", path.display())))
    }

    /// Copies a blob from the layout into the store, checking its size and sha256.
    fn copy_blob(&self, layout: &Path, desc: &Descriptor) -> Result<PathBuf, ImageError> {
        let hex = digest_hex(&desc.digest)?;
        let dest = self.blobs_dir().join(hex);
        if dest.exists() {
            return Ok(dest);
        }
        let src = layout.join("blobs").join("sha256").join(hex);
        let mut input = File::open(&src).map_err(|e| {
            ImageError::Invalid(format!("blob {} missing from the layout: {e}", desc.digest))
        })?;
        let tmp = temp_path(&self.blobs_dir(), hex);
        let result = (|| {
            let mut out =
                File::create(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
            let mut hasher = HashingReader::new(&mut input);
            let n = io::copy(&mut hasher, &mut out)
                .map_err(io_err(format!("copying {}", src.display())))?;
            if n != desc.size {
                return Err(ImageError::Invalid(format!(
                    "blob {}: {n} bytes, the descriptor says {}",
                    desc.digest, desc.size
                )));
            }
            let actual = hasher.digest();
            if actual != desc.digest {
                return Err(ImageError::Invalid(format!(
                    "blob {} has digest {actual}: corrupt or tampered",
                    desc.digest
                )));
            }
            out.sync_all().map_err(io_err("syncing a blob"))?;
            fs::rename(&tmp, &dest).map_err(io_err(format!("publishing {}", dest.display())))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| dest)
    }

    fn unpack_layers(
        &self,
        manifest: &ManifestJson,
        config: &ConfigFile,
    ) -> Result<Vec<PathBuf>, ImageError> {
        if !config.diff_ids.is_empty() && config.diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::Invalid(format!(
                "config {} lists {} diff_ids for {} layers",
                manifest.config.digest,
                config.diff_ids.len(),
                manifest.layers.len()
            )));
        }
        manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| self.ensure_layer(layer, config.diff_ids.get(i).map(String::as_str)))
            .collect()
    }

    /// Unpacks a layer blob into `layers/<hex>/` unless already there.
    fn ensure_layer(
        &self,
        layer: &Descriptor,
        diff_id: Option<&str>,
    ) -> Result<PathBuf, ImageError> {
        let hex = digest_hex(&layer.digest)?;
        let dest = self.layers_dir().join(hex);
        if dest.is_dir() {
            return Ok(dest);
        }
        let blob = self.blob_path(&layer.digest)?;
        let file = File::open(&blob).map_err(io_err(format!("opening {}", blob.display())))?;
        let tmp = temp_path(&self.layers_dir(), hex);
        fs::create_dir(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
        let result = (|| {
            let mut hashing = HashingReader::new(decompressed(BufReader::new(file))?);
            extract_tar(&mut hashing, &tmp, Whiteouts::Overlay)
                .map_err(|e| ImageError::Invalid(format!("layer {}: {e}", layer.digest)))?;
            // The tar's end-of-archive blocks and any padding count towards the digest.
            io::copy(&mut hashing, &mut io::sink())
                .map_err(io_err(format!("reading layer {}", layer.digest)))?;
            if let Some(expected) = diff_id {
                let actual = hashing.digest();
                if actual != expected {
                    return Err(ImageError::Invalid(format!(
                        "layer {} unpacks to {actual}, the config says {expected}",
                        layer.digest
                    )));
                }
            }
            match fs::rename(&tmp, &dest) {
                Ok(()) => Ok(()),
                // Unpacked concurrently by someone else: theirs is as good.
                Err(_) if dest.is_dir() => {
                    let _ = fs::remove_dir_all(&tmp);
                    Ok(())
                }
                Err(e) => Err(io_err(format!("publishing {}", dest.display()))(e)),
            }
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result.map(|()| dest)
    }

    /// Looks an image up by reference (normalized first; `name@sha256:...` matches the
    /// stored digest, a bare `sha256:<hex>` the image id), unpacking any layer missing.
    pub fn resolve(&self, reference: &str) -> Result<Image, ImageError> {
        let index = self.read_index()?;
        let (reference, entry) = self.lookup(&index, reference)?;
        let manifest = self.read_manifest(&entry.manifest)?;
        let config_bytes = self.read_blob(&manifest.config.digest)?;
        let config = parse_config(&config_bytes, &manifest.config.digest)?;
        let layers = self.unpack_layers(&manifest, &config)?;
        Ok(Image {
            reference,
            id: manifest.config.digest.clone(),
            config: config.config,
            layers,
        })
    }

    /// Whether the store holds the reference (without unpacking anything).
    pub fn contains(&self, reference: &str) -> Result<Option<ImageSummary>, ImageError> {
        let index = self.read_index()?;
        match self.lookup(&index, reference) {
            Ok((reference, entry)) => Ok(Some(self.summary(
                &reference,
                &entry.digest,
                &entry.manifest,
            )?)),
            Err(ImageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn lookup(
        &self,
        index: &StoreIndex,
        reference: &str,
    ) -> Result<(String, IndexEntry), ImageError> {
        if let Some(hex) = reference.strip_prefix("sha256:") {
            let id = format!("sha256:{hex}");
            for (name, entry) in &index.images {
                let manifest = self.read_manifest(&entry.manifest)?;
                if manifest.config.digest == id {
                    return Ok((name.clone(), entry.clone()));
                }
            }
            return Err(ImageError::NotFound(reference.to_string()));
        }
        let normalized = normalize_reference(reference)?;
        if let Some(entry) = index.images.get(&normalized) {
            return Ok((normalized, entry.clone()));
        }
        if let Some((name, digest)) = normalized.split_once('@') {
            let repo = repository(name);
            for (stored, entry) in &index.images {
                if repository(stored.split('@').next().unwrap_or(stored)) == repo
                    && (entry.digest == digest || entry.manifest == digest)
                {
                    return Ok((normalized.clone(), entry.clone()));
                }
            }
        }
        Err(ImageError::NotFound(normalized))
    }

    /// Every reference the store holds.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let index = self.read_index()?;
        index
            .images
            .iter()
            .map(|(reference, entry)| self.summary(reference, &entry.digest, &entry.manifest))
            .collect()
    }

    fn summary(
        &self,
        reference: &str,
        digest: &str,
        manifest: &str,
    ) -> Result<ImageSummary, ImageError> {
        let manifest = self.read_manifest(manifest)?;
        Ok(ImageSummary {
            reference: reference.to_string(),
            id: manifest.config.digest.clone(),
            digest: digest.to_string(),
            size: manifest.layers.iter().map(|l| l.size).sum(),
        })
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(io_err(format!("reading blob {digest}")))
    }

    fn read_manifest(&self, digest: &str) -> Result<ManifestJson, ImageError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Invalid(format!("manifest {digest}: {e}")))
    }

    fn read_index(&self) -> Result<StoreIndex, ImageError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(StoreIndex::default()),
            Err(e) => Err(io_err(format!("reading {}", path.display()))(e)),
        }
    }

    fn write_index(&self, index: &StoreIndex) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(index)
            .map_err(|e| ImageError::Invalid(format!("encoding the image index: {e}")))?;
        let path = self.index_path();
        write_atomic(&path, &bytes).map_err(io_err(format!("writing {}", path.display())))
    }

    /// An exclusive lock on the index across processes (the agent and `clipper image
    /// import` may write it at once); released when the file closes.
    fn lock(&self) -> Result<File, ImageError> {
        let path = self.images_dir().join("lock");
        let file = File::create(&path).map_err(io_err(format!("opening {}", path.display())))?;
        use std::os::fd::AsRawFd as _;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io_err("locking the image index")(io::Error::last_os_error()));
        }
        Ok(file)
    }
}

struct ConfigFile {
    config: ImageConfig,
    diff_ids: Vec<String>,
}

fn parse_config(bytes: &[u8], digest: &str) -> Result<ConfigFile, ImageError> {
    let parsed: ConfigJson = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::Invalid(format!("image config {digest}: {e}")))?;
    let inner = parsed.config.unwrap_or_default();
    Ok(ConfigFile {
        config: ImageConfig {
            entrypoint: inner.entrypoint.unwrap_or_default(),
            cmd: inner.cmd.unwrap_or_default(),
            env: inner.env.unwrap_or_default(),
            working_dir: inner.working_dir.filter(|w| !w.is_empty()),
            user: inner.user.filter(|u| !u.is_empty()),
        },
        diff_ids: parsed.rootfs.unwrap_or_default().diff_ids,
    })
}

/// The host's architecture in OCI's (Go's) words.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn choose_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == host_arch())
    })
}

/// `docker.io/library/busybox:latest` → `docker.io/library/busybox`.
fn repository(name: &str) -> &str {
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// The 64 hex digits of a `sha256:` digest (the only algorithm supported).
fn digest_hex(digest: &str) -> Result<&str, ImageError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(ImageError::Invalid(format!(
            "unsupported or malformed digest {digest:?} (sha256:<64 hex digits> expected)"
        ))),
    }
}

/// Normalizes an image reference the way Docker and containerd do: `busybox` →
/// `docker.io/library/busybox:latest`, `repo/x:tag` → `docker.io/repo/x:tag`,
/// `host:5000/x` → `host:5000/x:latest`; a digest (`@sha256:...`) is kept, and the
/// `latest` tag is only added when there is neither tag nor digest.
pub fn normalize_reference(reference: &str) -> Result<String, ImageError> {
    let invalid =
        |why: &str| ImageError::Invalid(format!("invalid image reference {reference:?}: {why}"));
    if reference.is_empty() {
        return Err(invalid("empty"));
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => {
            digest_hex(d).map_err(|_| invalid("malformed digest"))?;
            (n, Some(d))
        }
        None => (reference, None),
    };
    let last_slash = name_tag.rfind('/');
    let (name, tag) = match name_tag.rfind(':') {
        Some(colon) if last_slash.is_none_or(|s| colon > s) => {
            (&name_tag[..colon], Some(&name_tag[colon + 1..]))
        }
        _ => (name_tag, None),
    };
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return Err(invalid("malformed tag"));
        }
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest.to_string())
        }
        _ => ("docker.io", name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if domain.is_empty()
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        return Err(invalid("malformed registry host"));
    }
    for component in path.split('/') {
        let valid = !component.is_empty()
            && component
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && component
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && component
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(invalid(
                "repository names are lowercase letters, digits and separators",
            ));
        }
    }
    let mut out = format!("{domain}/{path}");
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

fn layer_compression(media_type: &str) -> Result<(), ImageError> {
    if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
        return Err(ImageError::Invalid(format!(
            "layer media type {media_type:?}: zstd layers are not supported"
        )));
    }
    Ok(())
}

/// The stream, gunzipped if it starts with gzip's magic (layer media types are not
/// trusted for this: Docker and OCI spell them differently, and some tools lie).
fn decompressed<R: io::BufRead + 'static>(mut reader: R) -> Result<Box<dyn Read>, ImageError> {
    let head = reader.fill_buf().map_err(io_err("reading an archive"))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(ImageError::Invalid(
            "zstd-compressed archives are not supported".into(),
        ))
    } else {
        Ok(Box::new(reader))
    }
}

/// A reader that computes the sha256 of what passes through it.
struct HashingReader<R> {
    inner: R,
    ctx: ring::digest::Context,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }
    fn digest(&self) -> String {
        let digest = self.ctx.clone().finish();
        let mut out = String::from("sha256:");
        for b in digest.as_ref() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(&buf[..n]);
        Ok(n)
    }
}

/// What to do with `.wh.` entries when unpacking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Whiteouts {
    /// Image layers: convert to overlayfs whiteouts.
    Overlay,
    /// Anything else (a layout's tar): ordinary files.
    Keep,
}

/// The relative path inside the destination a tar entry names: leading `/` and `.`
/// components dropped, `..` refused.
pub(crate) fn safe_relative(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                return Err(format!("entry {} has a '..' component", path.display()));
            }
        }
    }
    Ok(out)
}

/// Creates the parent directories of `rel` under `dest`, refusing to go through a
/// symlink or a non-directory (a tar could otherwise plant `x -> /etc` and then write
/// `x/passwd`).
fn prepare_parents(dest: &Path, rel: &Path) -> Result<(), String> {
    let mut current = dest.to_path_buf();
    let mut components: Vec<_> = rel.components().collect();
    components.pop();
    for component in components {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "entry {} would be written through the symlink {}",
                    rel.display(),
                    current.display()
                ));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "entry {}: {} is not a directory",
                    rel.display(),
                    current.display()
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current)
                    .map_err(|e| format!("creating {}: {e}", current.display()))?;
            }
            Err(e) => return Err(format!("{}: {e}", current.display())),
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (not following symlinks), so an entry replaces it.
fn remove_existing(path: &Path) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|e| format!("replacing {}: {e}", path.display()))
}

fn mknod(path: &Path, mode: libc::mode_t, major: u32, minor: u32) -> Result<(), String> {
    let c = cpath(path).map_err(|e| e.to_string())?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, libc::makedev(major, minor)) };
    if rc != 0 {
        return Err(format!(
            "mknod {}: {}",
            path.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn lsetxattr(path: &Path, name: &str, value: &[u8]) -> Result<(), String> {
    let c = cpath(path).map_err(|e| e.to_string())?;
    let n =
        std::ffi::CString::new(name).map_err(|_| format!("xattr name {name:?} has a NUL byte"))?;
    // SAFETY: both strings are valid and NUL-terminated, `value` is a live slice of the
    // length passed; the call does not keep any pointer.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(format!(
            "setting {name} on {}: {}",
            path.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Sets a path's modification (and access) time without following a symlink.
fn set_mtime(path: &Path, mtime: u64) -> Result<(), String> {
    let c = cpath(path).map_err(|e| e.to_string())?;
    let secs = libc::time_t::try_from(mtime).unwrap_or(libc::time_t::MAX);
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    ];
    // SAFETY: `c` is a valid path, `times` two initialized timespecs, as utimensat reads.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(format!(
            "setting the time of {}: {}",
            path.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Unpacks a tar stream into `dest` (which exists), safely: see the module docs.
/// Ownership, modes, times and `SCHILY.xattr.*` attributes (except `trusted.*`) are kept.
pub(crate) fn extract_tar<R: Read>(
    reader: R,
    dest: &Path,
    whiteouts: Whiteouts,
) -> Result<(), String> {
    use tar::EntryType;
    let mut archive = tar::Archive::new(reader);
    let mut dir_times = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("reading the archive: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
        let raw_path = entry
            .path()
            .map_err(|e| format!("entry path: {e}"))?
            .into_owned();
        let rel = safe_relative(&raw_path)?;
        if rel.as_os_str().is_empty() {
            continue; // The root itself ("./"): dest's own metadata stays.
        }
        prepare_parents(dest, &rel)?;
        let target = dest.join(&rel);
        let file_name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if whiteouts == Whiteouts::Overlay {
            if file_name == ".wh..wh..opq" {
                let dir = target.parent().unwrap_or(dest);
                lsetxattr(dir, "trusted.overlay.opaque", b"y")?;
                continue;
            }
            if let Some(hidden) = file_name.strip_prefix(".wh.") {
                if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                    return Err(format!("malformed whiteout {}", rel.display()));
                }
                let victim = target.with_file_name(hidden);
                remove_existing(&victim)?;
                mknod(&victim, libc::S_IFCHR, 0, 0)?;
                continue;
            }
        }
        let header = entry.header().clone();
        let mode = header
            .mode()
            .map_err(|e| format!("{}: mode: {e}", rel.display()))?
            & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0);
        let kind = header.entry_type();
        let mut is_symlink = false;
        match kind {
            EntryType::Directory => match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                _ => {
                    remove_existing(&target)?;
                    fs::create_dir(&target)
                        .map_err(|e| format!("creating {}: {e}", target.display()))?;
                }
            },
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                remove_existing(&target)?;
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| format!("creating {}: {e}", target.display()))?;
                io::copy(&mut entry, &mut out)
                    .map_err(|e| format!("writing {}: {e}", target.display()))?;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|e| format!("{}: link name: {e}", rel.display()))?
                    .ok_or_else(|| format!("symlink {} has no target", rel.display()))?
                    .into_owned();
                remove_existing(&target)?;
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| format!("creating the symlink {}: {e}", target.display()))?;
                is_symlink = true;
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(|e| format!("{}: link name: {e}", rel.display()))?
                    .ok_or_else(|| format!("hard link {} has no target", rel.display()))?
                    .into_owned();
                let link_rel = safe_relative(&link)?;
                prepare_parents(dest, &link_rel)?;
                let source = dest.join(&link_rel);
                if fs::symlink_metadata(&source).is_err() {
                    return Err(format!(
                        "hard link {} to {}, which the archive did not create",
                        rel.display(),
                        link_rel.display()
                    ));
                }
                remove_existing(&target)?;
                fs::hard_link(&source, &target)
                    .map_err(|e| format!("linking {}: {e}", target.display()))?;
                continue; // Shares the source's inode and metadata.
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let kind_bits = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                remove_existing(&target)?;
                mknod(&target, kind_bits | 0o600, major, minor)?;
            }
            // PAX and GNU long-name headers are consumed by the tar crate; anything else
            // (e.g. Solaris ACLs) carries nothing a container needs.
            _ => continue,
        }
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.")
                    && !name.starts_with("trusted.")
                {
                    lsetxattr(&target, name, ext.value_bytes())?;
                }
            }
        }
        std::os::unix::fs::lchown(&target, u32::try_from(uid).ok(), u32::try_from(gid).ok())
            .map_err(|e| format!("chown {}: {e}", target.display()))?;
        if !is_symlink {
            // After chown, which clears the set-id bits.
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(|e| format!("chmod {}: {e}", target.display()))?;
        }
        if kind == EntryType::Directory {
            dir_times.push((target, mtime));
        } else {
            set_mtime(&target, mtime)?;
        }
    }
    // Directories last: creating their entries changed their times.
    for (dir, mtime) in dir_times.into_iter().rev() {
        set_mtime(&dir, mtime)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_normalize(input: &str, expected: &str) {
        match normalize_reference(input) {
            Ok(out) => assert_eq!(out, expected, "normalizing {input:?}"),
            Err(e) => panic!("normalizing {input:?}: {e}"),
        }
    }

    #[test]
    fn references_normalize_as_docker_does() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (input, expected) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("repo/x:tag", "docker.io/repo/x:tag"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("host:5000/x", "host:5000/x:latest"),
            ("host:5000/x:v1", "host:5000/x:v1"),
            ("localhost/x", "localhost/x:latest"),
            ("quay.io/a/b/c:1.0", "quay.io/a/b/c:1.0"),
        ] {
            check_normalize(input, expected);
        }
        check_normalize(
            &format!("busybox@{digest}"),
            &format!("docker.io/library/busybox@{digest}"),
        );
        check_normalize(
            &format!("host:5000/x:v1@{digest}"),
            &format!("host:5000/x:v1@{digest}"),
        );
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox@sha256:abc",
            "a//b",
            "x:-tag",
            "-x",
        ] {
            assert!(
                normalize_reference(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(0);
            // set_path refuses '..'; write the name bytes raw, as a hostile archive would.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if !link.is_empty() {
                header.set_link_name_literal(link).expect("link name");
            }
            header.set_cksum();
            builder.append(&header, io::empty()).expect("append");
        }
        builder.into_inner().expect("tar")
    }

    #[test]
    fn tar_entries_cannot_escape_the_destination() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).expect("mkdir");
        let escape = tar_with(&[("../escaped", tar::EntryType::Regular, "")]);
        let err =
            extract_tar(&escape[..], &dest, Whiteouts::Keep).expect_err("'..' must be refused");
        assert!(err.contains(".."), "{err}");
        assert!(!dir.path().join("escaped").exists());

        let outside = dir.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        let through_symlink = tar_with(&[
            (
                "link",
                tar::EntryType::Symlink,
                outside.to_str().expect("utf-8"),
            ),
            ("link/planted", tar::EntryType::Regular, ""),
        ]);
        let err =
            extract_tar(&through_symlink[..], &dest, Whiteouts::Keep).expect_err("symlink escape");
        assert!(err.contains("symlink"), "{err}");
        assert!(!outside.join("planted").exists());

        let absolute = tar_with(&[("/etc/abs", tar::EntryType::Regular, "")]);
        extract_tar(&absolute[..], &dest, Whiteouts::Keep).expect("absolute paths land inside");
        assert!(dest.join("etc/abs").is_file());

        let hardlink_out = tar_with(&[("hl", tar::EntryType::Link, "../outside/x")]);
        assert!(extract_tar(&hardlink_out[..], &dest, Whiteouts::Keep).is_err());
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layer = tar_with(&[
            ("etc/", tar::EntryType::Directory, ""),
            ("etc/.wh.gone", tar::EntryType::Regular, ""),
            ("var/", tar::EntryType::Directory, ""),
            ("var/.wh..wh..opq", tar::EntryType::Regular, ""),
        ]);
        extract_tar(&layer[..], dir.path(), Whiteouts::Overlay).expect("extract");
        use std::os::unix::fs::FileTypeExt as _;
        let meta = fs::symlink_metadata(dir.path().join("etc/gone")).expect("whiteout");
        assert!(meta.file_type().is_char_device());
        assert!(!dir.path().join("var/.wh..wh..opq").exists());
    }
}
