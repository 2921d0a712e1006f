//! Secrets encrypted at rest: AES-256-GCM under a key created on first start, applied at
//! the store boundary (a [`ValueTransformer`]) so that every path to the store — writes,
//! reads, lists, the watch cache's feed — sees plaintext while the store, its files and
//! etcd only ever hold ciphertext.
//!
//! Stored form, as Kubernetes' `aesgcm` provider writes it:
//! `k8s:enc:aesgcm:v1:<key name>:` + 12-byte random nonce + ciphertext + 16-byte tag, with
//! the object's store key as additional authenticated data (a value moved to another key
//! does not decrypt). Values without the prefix were written before encryption was on and
//! are read as they are; they are encrypted the next time they are written.
//!
//! Nonces are random; one key is good for about 2^32 writes of Secrets before the
//! collision risk of random 96-bit nonces matters (NIST SP 800-38D). Key rotation is not
//! built yet.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use clipper_store::{StoreError, ValueTransformer};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::auth::pki::{PkiError, write_private_file};

/// The file, under the PKI directory, holding the 32-byte key.
pub const KEY_FILE: &str = "secrets-encryption.key";
/// The name recorded in every value, so a later rotation can tell keys apart.
pub const KEY_NAME: &str = "key1";
/// Keys of the resources encrypted: Secrets.
pub const ENCRYPTED_PREFIXES: &[&[u8]] = &[b"/registry/core/secrets/"];

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

pub struct SecretsEncryption {
    key: LessSafeKey,
    prefix: Vec<u8>,
    rng: SystemRandom,
}

impl SecretsEncryption {
    pub fn from_key(bytes: &[u8]) -> Result<SecretsEncryption, PkiError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| PkiError::Invalid("the encryption key must be 32 bytes".into()))?;
        Ok(SecretsEncryption {
            key: LessSafeKey::new(unbound),
            prefix: format!("k8s:enc:aesgcm:v1:{KEY_NAME}:").into_bytes(),
            rng: SystemRandom::new(),
        })
    }

    /// Reads `dir/secrets-encryption.key`, creating it (mode 0600) on first start.
    pub fn load_or_create(dir: &Path) -> Result<SecretsEncryption, PkiError> {
        let path: PathBuf = dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == KEY_LEN => SecretsEncryption::from_key(&bytes),
            Ok(bytes) => Err(PkiError::Invalid(format!(
                "{} holds {} bytes; an AES-256 key is {KEY_LEN}",
                path.display(),
                bytes.len()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                SystemRandom::new().fill(&mut key).map_err(|_| {
                    PkiError::Invalid("no randomness for the encryption key".into())
                })?;
                std::fs::create_dir_all(dir)
                    .map_err(|e| PkiError::Invalid(format!("creating {}: {e}", dir.display())))?;
                write_private_file(&path, &key)?;
                SecretsEncryption::from_key(&key)
            }
            Err(e) => Err(PkiError::Invalid(format!(
                "reading {}: {e}",
                path.display()
            ))),
        }
    }
}

impl ValueTransformer for SecretsEncryption {
    fn applies(&self, key: &[u8]) -> bool {
        ENCRYPTED_PREFIXES.iter().any(|p| key.starts_with(p))
    }

    fn seal(&self, key: &[u8], value: &[u8]) -> Result<Bytes, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Io("no randomness for a nonce".into()))?;
        let mut out = Vec::with_capacity(self.prefix.len() + NONCE_LEN + value.len() + TAG_LEN);
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(value);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key),
                &mut out[start..],
            )
            .map_err(|_| StoreError::Io("encrypting a secret failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(Bytes::from(out))
    }

    fn open(&self, key: &[u8], value: &[u8]) -> Result<Bytes, StoreError> {
        let Some(rest) = value.strip_prefix(self.prefix.as_slice()) else {
            if value.starts_with(b"k8s:enc:") {
                return Err(StoreError::Corrupted(format!(
                    "{} is encrypted with a key or provider this server does not have",
                    String::from_utf8_lossy(key)
                )));
            }
            // Written before encryption was on.
            return Ok(Bytes::copy_from_slice(value));
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(StoreError::Corrupted(format!(
                "{}: the encrypted value is truncated",
                String::from_utf8_lossy(key)
            )));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| StoreError::Corrupted("bad nonce".into()))?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key), &mut buf)
            .map_err(|_| {
                StoreError::Corrupted(format!(
                    "{}: the encrypted value does not authenticate (wrong key, or altered)",
                    String::from_utf8_lossy(key)
                ))
            })?;
        Ok(Bytes::copy_from_slice(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"/registry/core/secrets/default/db";

    fn enc() -> SecretsEncryption {
        SecretsEncryption::from_key(&[7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_and_no_plaintext_at_rest() {
        let e = enc();
        let stored = e.seal(KEY, b"password=hunter2").unwrap();
        assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
        assert!(!stored.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(&e.open(KEY, &stored).unwrap()[..], b"password=hunter2");
        // Random nonces: the same value encrypts differently each time.
        assert_ne!(stored, e.seal(KEY, b"password=hunter2").unwrap());
    }

    #[test]
    fn only_secrets_are_encrypted() {
        let e = enc();
        assert!(e.applies(KEY));
        assert!(!e.applies(b"/registry/core/configmaps/default/x"));
        assert!(!e.applies(b"/registry/core/secretsx/y"));
    }

    #[test]
    fn moved_altered_or_foreign_values_are_refused() {
        let e = enc();
        let stored = e.seal(KEY, b"v").unwrap();
        let moved = e.open(b"/registry/core/secrets/default/other", &stored);
        assert!(
            matches!(moved, Err(StoreError::Corrupted(m)) if m.contains("does not authenticate"))
        );
        let mut altered = stored.to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(e.open(KEY, &altered).is_err());
        let other = SecretsEncryption::from_key(&[8u8; 32]).unwrap();
        assert!(other.open(KEY, &stored).is_err());
        assert!(matches!(
            e.open(KEY, b"k8s:enc:kms:v2:x:abc"),
            Err(StoreError::Corrupted(_))
        ));
        assert!(e.open(KEY, b"k8s:enc:aesgcm:v1:key1:short").is_err());
    }

    #[test]
    fn plaintext_from_before_encryption_reads_as_is() {
        assert_eq!(&enc().open(KEY, b"CLPR...").unwrap()[..], b"CLPR...");
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretsEncryption::load_or_create(dir.path()).unwrap();
        let stored = a.seal(KEY, b"v").unwrap();
        let b = SecretsEncryption::load_or_create(dir.path()).unwrap();
        assert_eq!(&b.open(KEY, &stored).unwrap()[..], b"v");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(SecretsEncryption::load_or_create(dir.path()).is_err());
    }
}
