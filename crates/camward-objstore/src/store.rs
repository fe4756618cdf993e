//! The S3 side (paper §3.8 "stolen from the card or the cloud", §3.7 TLS with a pinned CA): one
//! bucket reached through the object_store crate (SigV4, multipart), behind the four operations
//! camward needs — upload a file with its SHA-256, check that the store holds it (by the store's
//! own digest of what it received, or by reading it back), fetch an object into a file, delete
//! one — and an error that says what to do next.

use aws_lc_rs::digest;
use bytes::{Bytes, BytesMut};
use camward_config::ObjectStorageConfig;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Files up to this size go in one PUT, read whole into memory: one request, and no
/// CompleteMultipartUpload for the store to assemble (on s3s-fs a 64 MiB file took ~0.6× the
/// time of 8 MiB parts). It bounds the upload's memory (see docs/design/object-storage.md).
pub const SINGLE_PUT_BYTES: u64 = 64 * 1024 * 1024;
/// Larger files go as a multipart upload in parts of this size (S3 parts are 5 MiB at least):
/// 16 MiB halves the requests of 8 MiB parts; [`PARTS_IN_FLIGHT`] parts sent plus the one being
/// filled are 48 MiB at most, below [`SINGLE_PUT_BYTES`].
pub const PART_BYTES: usize = 16 * 1024 * 1024;
/// Parts in flight at once during a multipart upload.
const PARTS_IN_FLIGHT: usize = 2;
/// Read size from the card while hashing and uploading (a divisor of [`PART_BYTES`], so each
/// part's MD5 ends where the part does).
const READ_BYTES: usize = 1024 * 1024;
/// Slice both hashes take in turn, so that the second reads it from the CPU's cache: a divisor
/// of [`READ_BYTES`].
const HASH_SLICE_BYTES: usize = 64 * 1024;

/// Why an operation failed, by what should happen next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store refused the credentials or the bucket (403/401, no such bucket): retrying with
    /// the same settings cannot succeed; the installer must fix them.
    #[error("the object store refused the request: {0}")]
    Rejected(String),
    /// Network, timeout, 5xx: retried with back-off.
    #[error("the object store cannot be reached: {0}")]
    Unavailable(String),
    /// The object read back differs from the file (size or SHA-256): uploaded again.
    #[error("the object does not match the recording: {0}")]
    Mismatch(String),
    /// The card: the file cannot be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// The settings cannot make a client (bad CA PEM, bad endpoint).
    #[error("object storage settings: {0}")]
    Config(String),
}

impl StoreError {
    fn of(e: object_store::Error) -> StoreError {
        use object_store::Error as E;
        match e {
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                StoreError::Rejected(e.to_string())
            }
            // A missing bucket also answers 404; an object that is missing is handled by callers.
            E::NotFound { .. } => StoreError::Rejected(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }

    fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.display().to_string();
        move |source| StoreError::Io { op, path, source }
    }
}

/// A confirmed object: what the index records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub bytes: u64,
    pub sha256: String,
}

/// What [`Store::upload`] leaves for [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Size and SHA-256 of the file, read from the card while uploading.
    pub confirmed: Confirmed,
    /// The store's ETag is the digest S3 defines for the bytes sent — MD5 of the body for one
    /// PUT, MD5 of the parts' MD5s and the part count for a multipart upload — so the store
    /// computed it over exactly the file's bytes. False for stores whose ETag is something else
    /// (SSE-KMS, some gateways): those are read back.
    pub etag_matches: bool,
}

/// How [`Store::check`] confirmed an object, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The store's ETag matched the file's MD5 (the size by HEAD).
    Etag,
    /// The object was read back whole and hashed.
    ReadBack,
}

impl Checked {
    pub fn as_str(self) -> &'static str {
        match self {
            Checked::Etag => "etag",
            Checked::ReadBack => "read-back",
        }
    }
}

fn unquote(etag: &str) -> &str {
    let e = etag.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.trim_matches('"')
}

/// Whether `etag` (as the store returned it) is the S3 ETag of `parts` (the MD5 of each part,
/// in order; one entry for a single PUT).
fn etag_matches(etag: Option<&str>, parts: &[[u8; 16]], multipart: bool) -> bool {
    let Some(etag) = etag else { return false };
    let etag = unquote(etag).to_ascii_lowercase();
    let want = if multipart {
        let mut all = Md5::new();
        for p in parts {
            all.update(p);
        }
        format!("{}-{}", hex(&all.finalize()), parts.len())
    } else {
        match parts {
            [one] => hex(one),
            _ => return false,
        }
    };
    etag == want
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file's SHA-256 and the MD5 of each part (the S3 ETag's parts), computed on
/// a blocking thread while the same bytes go to the store: the two hashes cost more CPU than
/// sending, and in line they would make the upload wait for them.
struct Hasher {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    task: tokio::task::JoinHandle<(String, Vec<[u8; 16]>)>,
}

impl Hasher {
    /// `part_bytes`: where the MD5s restart (the multipart part size; `usize::MAX` for one PUT).
    fn start(part_bytes: usize) -> Hasher {
        // Bounded: a few chunks ahead of the hashing at most.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let task = tokio::task::spawn_blocking(move || {
            let mut sha = digest::Context::new(&digest::SHA256);
            let mut parts = Vec::new();
            let mut part = Md5::new();
            let mut in_part = 0usize;
            // Bounded by the file: the sender is dropped once it is read.
            while let Some(b) = rx.blocking_recv() {
                // One pass over the data: both hashes take each slice while it is in cache.
                for slice in b.chunks(HASH_SLICE_BYTES) {
                    sha.update(slice);
                    let mut rest = slice;
                    while !rest.is_empty() {
                        let take = rest.len().min(part_bytes - in_part);
                        part.update(&rest[..take]);
                        in_part += take;
                        rest = &rest[take..];
                        if in_part == part_bytes {
                            parts.push(part.finalize_reset().into());
                            in_part = 0;
                        }
                    }
                }
            }
            if in_part > 0 || parts.is_empty() {
                parts.push(part.finalize().into());
            }
            (hex(sha.finish().as_ref()), parts)
        });
        Hasher { tx, task }
    }

    async fn feed(&self, b: Bytes) {
        // The receiver lives until the sender is dropped in `finish`.
        let _ = self.tx.send(b).await;
    }

    async fn finish(self) -> Result<(String, Vec<[u8; 16]>), StoreError> {
        drop(self.tx);
        self.task
            .await
            .map_err(|e| StoreError::Config(format!("hashing the recording: {e}")))
    }
}

/// One configured bucket.
pub struct Store {
    s3: AmazonS3,
    id: String,
}

/// Endpoint and bucket only: the client's own Debug would print the access key ID, which camward
/// keeps as a secret.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("id", &self.id).finish()
    }
}

impl Store {
    /// A client for the settings (no request is made yet).
    pub fn new(cfg: &ObjectStorageConfig) -> Result<Store, StoreError> {
        let mut options = ClientOptions::new()
            .with_allow_http(cfg.is_plaintext())
            .with_connect_timeout(Duration::from_secs(5))
            // The timeout is per request (one PUT or part, 64 MiB at most): 64 MiB takes ~9 min
            // over a 1 Mbit/s uplink, so a hung connection is given up after 10 min.
            .with_timeout(Duration::from_secs(600));
        if !cfg.ca_certificate.trim().is_empty() {
            let certs = object_store::Certificate::from_pem_bundle(cfg.ca_certificate.as_bytes())
                .map_err(|e| StoreError::Config(format!("CA certificate: {e}")))?;
            // Pinned: only the configured CA, not the system's roots.
            options = options.with_no_system_certificates(true);
            for c in certs {
                options = options.with_root_certificate(c);
            }
        }
        let retry = RetryConfig {
            // The uploader retries with its own back-off and keeps the queue on the card; the
            // client's retries only smooth over a single dropped connection.
            max_retries: 1,
            retry_timeout: Duration::from_secs(10),
            ..RetryConfig::default()
        };
        let s3 = AmazonS3Builder::new()
            .with_endpoint(cfg.endpoint.trim_end_matches('/'))
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(cfg.access_key_id.expose().unwrap_or_default())
            .with_secret_access_key(cfg.secret_access_key.expose().unwrap_or_default())
            .with_virtual_hosted_style_request(!cfg.path_style)
            .with_unsigned_payload(true)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        Ok(Store {
            s3,
            id: store_id(cfg),
        })
    }

    /// Endpoint and bucket, as the index records where an object went.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn path(key: &str) -> Result<ObjectPath, StoreError> {
        ObjectPath::parse(key).map_err(|e| StoreError::Config(format!("object name {key}: {e}")))
    }

    /// Uploads `file` as `key` (one PUT up to [`SINGLE_PUT_BYTES`], multipart above) and returns its
    /// size and SHA-256 as read from the card while uploading, and whether the store's ETag
    /// matches the bytes sent.
    pub async fn upload(&self, file: &Path, key: &str) -> Result<Uploaded, StoreError> {
        let loc = Self::path(key)?;
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(StoreError::io("open", file))?;
        let len = f
            .metadata()
            .await
            .map_err(StoreError::io("stat", file))?
            .len();
        if len <= SINGLE_PUT_BYTES {
            let hasher = Hasher::start(usize::MAX);
            let mut all = Vec::with_capacity(len as usize);
            f.read_to_end(&mut all)
                .await
                .map_err(StoreError::io("read", file))?;
            let all = Bytes::from(all);
            let bytes = all.len() as u64;
            hasher.feed(all.clone()).await;
            let put = self
                .s3
                .put(&loc, PutPayload::from(all))
                .await
                .map_err(StoreError::of)?;
            let (sha256, parts) = hasher.finish().await?;
            return Ok(Uploaded {
                confirmed: Confirmed { bytes, sha256 },
                etag_matches: etag_matches(put.e_tag.as_deref(), &parts, false),
            });
        }
        let hasher = Hasher::start(PART_BYTES);
        let upload = self.s3.put_multipart(&loc).await.map_err(StoreError::of)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut bytes = 0u64;
        // Bounded: the file is finished and is read once to its end.
        loop {
            let mut chunk = BytesMut::with_capacity(READ_BYTES);
            let n = match f.read_buf(&mut chunk).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(StoreError::io("read", file)(e));
                }
            };
            if n == 0 {
                break;
            }
            let chunk = chunk.freeze();
            bytes += n as u64;
            if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                // abort() after a failed part would fail the same way; the store drops
                // incomplete uploads by its own lifecycle rules.
                return Err(StoreError::of(e));
            }
            hasher.feed(chunk.clone()).await;
            w.put(chunk);
        }
        let put = w.finish().await.map_err(StoreError::of)?;
        let (sha256, parts) = hasher.finish().await?;
        Ok(Uploaded {
            confirmed: Confirmed { bytes, sha256 },
            etag_matches: etag_matches(put.e_tag.as_deref(), &parts, true),
        })
    }

    /// Confirms that the store holds what [`upload`](Self::upload) sent: by the store's ETag
    /// and the size HEAD reports when the ETag is the S3 digest of the bytes sent, else by
    /// reading the object back ([`verify`](Self::verify)).
    pub async fn check(&self, key: &str, up: &Uploaded) -> Result<Checked, StoreError> {
        if !up.etag_matches {
            self.verify(key, &up.confirmed).await?;
            return Ok(Checked::ReadBack);
        }
        let loc = Self::path(key)?;
        let meta = self.s3.head(&loc).await.map_err(StoreError::of)?;
        if meta.size != up.confirmed.bytes {
            return Err(StoreError::Mismatch(format!(
                "{key}: {} bytes in the store, {} on the card",
                meta.size, up.confirmed.bytes
            )));
        }
        Ok(Checked::Etag)
    }

    /// Reads the object back and checks its size and SHA-256 (what S3's ETag cannot say for
    /// multipart uploads, and what a store with a silent fault would get wrong).
    pub async fn verify(&self, key: &str, want: &Confirmed) -> Result<(), StoreError> {
        let loc = Self::path(key)?;
        let meta = self.s3.head(&loc).await.map_err(StoreError::of)?;
        if meta.size != want.bytes {
            return Err(StoreError::Mismatch(format!(
                "{key}: {} bytes in the store, {} on the card",
                meta.size, want.bytes
            )));
        }
        let got = self.s3.get(&loc).await.map_err(StoreError::of)?;
        let mut stream = got.into_stream();
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(StoreError::of)?;
            bytes += chunk.len() as u64;
            hash.update(&chunk);
        }
        let sha = hex(hash.finish().as_ref());
        if bytes != want.bytes || sha != want.sha256 {
            return Err(StoreError::Mismatch(format!(
                "{key}: read back {bytes} bytes with SHA-256 {sha}, uploaded {} bytes with {}",
                want.bytes, want.sha256
            )));
        }
        Ok(())
    }

    /// Fetches `key` into `dest` (through `dest.part`, renamed only once complete and matching
    /// `want` when given).
    pub async fn fetch(
        &self,
        key: &str,
        dest: &Path,
        want: Option<&Confirmed>,
    ) -> Result<(), StoreError> {
        let loc = Self::path(key)?;
        let got = self.s3.get(&loc).await.map_err(StoreError::of)?;
        let mut part = dest.as_os_str().to_owned();
        part.push(".part");
        let part = std::path::PathBuf::from(part);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(StoreError::io("create directory", parent))?;
        }
        let mut out = tokio::fs::File::create(&part)
            .await
            .map_err(StoreError::io("create", &part))?;
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut bytes = 0u64;
        let mut stream = got.into_stream();
        let res: Result<(), StoreError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(StoreError::of)?;
                hash.update(&chunk);
                bytes += chunk.len() as u64;
                out.write_all(&chunk)
                    .await
                    .map_err(StoreError::io("write", &part))?;
            }
            out.sync_all().await.map_err(StoreError::io("fsync", &part))?;
            let sha = hex(hash.finish().as_ref());
            if let Some(w) = want
                && (w.bytes != bytes || w.sha256 != sha)
            {
                return Err(StoreError::Mismatch(format!(
                    "{key}: fetched {bytes} bytes with SHA-256 {sha}, the index recorded {} bytes with {}",
                    w.bytes, w.sha256
                )));
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(StoreError::io("rename", &part))?;
        Ok(())
    }

    /// Deletes `key`; an object already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let loc = Self::path(key)?;
        match self.s3.delete(&loc).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::of(e)),
        }
    }
}

/// How the index names a store: endpoint and bucket.
pub fn store_id(cfg: &ObjectStorageConfig) -> String {
    format!("{}|{}", cfg.endpoint.trim_end_matches('/'), cfg.bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(b: &[u8]) -> [u8; 16] {
        Md5::digest(b).into()
    }

    #[test]
    fn etag_of_one_put_is_the_bodys_md5() {
        let m = md5(b"hello");
        assert!(etag_matches(
            Some("\"5d41402abc4b2a76b9719d911017c592\""),
            &[m],
            false
        ));
        assert!(etag_matches(
            Some("5D41402ABC4B2A76B9719D911017C592"),
            &[m],
            false
        ));
        assert!(!etag_matches(Some("\"00\""), &[m], false));
        assert!(!etag_matches(None, &[m], false));
    }

    #[test]
    fn etag_of_a_multipart_upload_is_the_md5_of_the_parts_md5s_and_their_count() {
        let parts = [md5(b"part one"), md5(b"part two")];
        let mut cat = Vec::new();
        cat.extend_from_slice(&parts[0]);
        cat.extend_from_slice(&parts[1]);
        let want = format!("\"{}-2\"", hex(&md5(&cat)));
        assert!(etag_matches(Some(&want), &parts, true));
        // Another part count, or the single-PUT form, is not the same upload.
        assert!(!etag_matches(Some(&want.replace("-2", "-3")), &parts, true));
        assert!(!etag_matches(Some(&hex(&md5(&cat))), &parts, true));
        // An opaque ETag (SSE-KMS, gateways): read back instead.
        assert!(!etag_matches(Some("\"opaque-etag\""), &parts, true));
    }
}
