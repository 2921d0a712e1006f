//! Corruption tests: bytes flipped in the files of a closed embedded store. Opening must
//! fail (with `Corrupted` when the damage is in data), never panic, and never succeed with
//! fewer or different keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use clipper_store::embedded::EmbeddedStore;
use clipper_store::{KeyValue, RangeRequest, Revision, Store, StoreError};

const KEYS: usize = 300;
/// Flip positions tried in every file besides those found inside values.
const POSITIONS_PER_FILE: usize = 8;

fn value_of(i: usize) -> Vec<u8> {
    let mut v = format!("VALUE-{i:04}-").into_bytes();
    // Deterministic, poorly compressible filler.
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n != "LOCK") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A store's files in memory: path relative to the store, the bytes up to the last
/// non-zero one, and the full length (journals are preallocated and zero-filled; a copy
/// writes only the used part and leaves the rest as a hole, which reads back as zeros).
struct Image(Vec<(PathBuf, Vec<u8>, u64)>);

impl Image {
    fn of(dir: &Path) -> Image {
        Image(
            files_under(dir)
                .into_iter()
                .map(|f| {
                    let mut bytes = std::fs::read(&f).expect("read");
                    let len = bytes.len() as u64;
                    let used = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                    bytes.truncate(used);
                    (
                        f.strip_prefix(dir).expect("prefix").to_path_buf(),
                        bytes,
                        len,
                    )
                })
                .collect(),
        )
    }

    fn write_to(&self, to: &Path) {
        for (rel, bytes, len) in &self.0 {
            let dst = to.join(rel);
            std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
            std::fs::write(&dst, bytes).expect("write");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&dst)
                .expect("open");
            f.set_len(*len).expect("set_len");
        }
    }
}

fn copy_dir(from: &Image, to: &Path) {
    from.write_to(to);
}

/// Build a closed store with known contents; returns the contents and revision.
async fn pristine(dir: &Path) -> (BTreeMap<Bytes, KeyValue>, Revision) {
    let s = EmbeddedStore::open(dir).expect("open");
    let lease = s.lease_grant(3600).await.expect("grant");
    for i in 0..KEYS {
        let lease = if i % 10 == 0 { lease } else { 0 };
        s.create(
            Bytes::from(format!("/registry/k/{i:04}")),
            Bytes::from(value_of(i)),
            lease,
        )
        .await
        .expect("create");
    }
    for i in (0..KEYS).step_by(7) {
        s.delete(Bytes::from(format!("/registry/k/{i:04}")), None)
            .await
            .expect("delete");
    }
    let all = s.range(RangeRequest::range("", "\0")).await.expect("range");
    let rev = s.current_revision().await.expect("rev");
    s.close().expect("close");
    (
        all.kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect(),
        rev,
    )
}

enum Outcome {
    Refused(StoreError),
    Intact,
}

/// Open a damaged copy: either refused, or everything exactly as written.
async fn open_damaged(
    dir: &Path,
    want: &BTreeMap<Bytes, KeyValue>,
    rev: Revision,
    what: &str,
) -> Outcome {
    let opened = std::panic::catch_unwind(|| EmbeddedStore::open(dir));
    let s = match opened {
        Err(_) => panic!("{what}: open panicked"),
        Ok(Err(e)) => return Outcome::Refused(e),
        Ok(Ok(s)) => s,
    };
    let all = s.range(RangeRequest::range("", "\0")).await.expect("range");
    let got: BTreeMap<Bytes, KeyValue> =
        all.kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: opened with a different number of keys"
    );
    assert!(got == *want, "{what}: opened with different contents");
    assert_eq!(
        s.current_revision().await.expect("rev"),
        rev,
        "{what}: different revision"
    );
    Outcome::Intact
}

fn flip(path: &Path, pos: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[pos] ^= 0x5a;
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test]
async fn flipped_bytes_are_refused_never_served() {
    let base = tempfile::tempdir().expect("tempdir");
    let (want, rev) = pristine(base.path()).await;
    let image = Image::of(base.path());
    let files = files_under(base.path());
    assert!(!files.is_empty());

    // Bytes inside stored values: the damage must be reported as corruption.
    let mut value_hits = 0;
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let hits: Vec<usize> = bytes
            .windows(8)
            .enumerate()
            .filter(|(_, w)| w.starts_with(b"VALUE-0"))
            .map(|(i, _)| i)
            .collect();
        for &at in hits.iter().step_by((hits.len() / 4).max(1)) {
            for offset in [8, 40, 150] {
                let Some(pos) = (at + offset < bytes.len()).then_some(at + offset) else {
                    continue;
                };
                let trial = tempfile::tempdir().expect("tempdir");
                copy_dir(&image, trial.path());
                let rel = f.strip_prefix(base.path()).expect("prefix");
                flip(&trial.path().join(rel), pos);
                let what = format!("value byte {pos} of {}", rel.display());
                match open_damaged(trial.path(), &want, rev, &what).await {
                    Outcome::Refused(StoreError::Corrupted(msg)) => assert!(!msg.is_empty()),
                    Outcome::Refused(e) => panic!("{what}: want Corrupted, got {e}"),
                    Outcome::Intact => panic!("{what}: a damaged value was not detected"),
                }
                value_hits += 1;
            }
        }
    }
    assert!(
        value_hits > 0,
        "no stored value was found in the store's files"
    );

    // Bytes anywhere in every file: refused, or (for bytes the store never reads back)
    // everything intact.
    let (mut refused, mut tried) = (0, 0);
    for f in &files {
        // Only the used part: journals are preallocated and zero-filled past their end.
        let bytes = std::fs::read(f).expect("read");
        let Some(last) = bytes.iter().rposition(|b| *b != 0) else {
            continue;
        };
        let len = last + 1;
        let mut positions: Vec<usize> = vec![0, len / 2, len - 1];
        let mut x = len as u64 | 1;
        while positions.len() < POSITIONS_PER_FILE {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            positions.push((x >> 33) as usize % len);
        }
        for pos in positions {
            let trial = tempfile::tempdir().expect("tempdir");
            copy_dir(&image, trial.path());
            let rel = f.strip_prefix(base.path()).expect("prefix");
            flip(&trial.path().join(rel), pos);
            let what = format!("byte {pos} of {}", rel.display());
            tried += 1;
            match open_damaged(trial.path(), &want, rev, &what).await {
                Outcome::Refused(_) => refused += 1,
                Outcome::Intact => {}
            }
        }
    }
    // Some bytes are never read back (superseded manifest versions, padding); damage there
    // leaves the contents intact, which `open_damaged` verified. The rest must be refused.
    assert!(refused > 0, "none of {tried} damaged copies was refused");
}

#[tokio::test]
async fn a_truncated_journal_after_a_clean_close_is_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let (want, rev) = pristine(base.path()).await;
    let image = Image::of(base.path());
    let mut truncated = 0;
    for f in files_under(base.path()) {
        // fjall's journals: `<n>.jnl`, preallocated and zero-filled past their end.
        if f.extension().is_none_or(|e| e != "jnl") {
            continue;
        }
        let bytes = std::fs::read(&f).expect("read");
        let Some(end) = bytes.iter().rposition(|b| *b != 0) else {
            continue;
        };
        if end < 1000 {
            continue;
        }
        let trial = tempfile::tempdir().expect("tempdir");
        copy_dir(&image, trial.path());
        let rel = f.strip_prefix(base.path()).expect("prefix");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(trial.path().join(rel))
            .expect("open");
        file.set_len(end as u64 - 300).expect("truncate");
        drop(file);
        match open_damaged(
            trial.path(),
            &want,
            rev,
            &format!("truncated {}", rel.display()),
        )
        .await
        {
            Outcome::Refused(StoreError::Corrupted(_)) => truncated += 1,
            Outcome::Refused(e) => panic!("want Corrupted, got {e}"),
            Outcome::Intact => panic!("a truncated journal went unnoticed"),
        }
    }
    let listing: Vec<String> = files_under(base.path())
        .iter()
        .map(|f| {
            format!(
                "{} ({} bytes)",
                f.display(),
                std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)
            )
        })
        .collect();
    assert!(
        truncated > 0,
        "no journal file found to truncate among {listing:#?}"
    );
}
