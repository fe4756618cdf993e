//! The S3 side (paper §3.8 "stolen from the card or the cloud", §3.7 TLS with a pinned CA): one
//! bucket reached through the object_store crate (SigV4, multipart), behind the operations
//! camward needs — upload a file with its SHA-256, check that the store holds it (by the store's
//! own check of the checksum we send, by its ETag, or by reading it back), list a prefix one page
//! at a time, read an object into a file, delete one — and an error that says what to do next.

use aws_lc_rs::digest;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use camward_config::ObjectStorageConfig;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::client::{HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
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

/// Keys asked for per listing request: S3's own maximum for one ListObjectsV2 page, so a page is
/// one request and a bounded answer (~250 KB of XML).
pub const LIST_PAGE: usize = 1000;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub bytes: u64,
}

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

    /// The same error with the step that failed in front of its message (object_store names the
    /// object of a GET, not the prefix of a listing).
    fn at(self, step: &str) -> StoreError {
        match self {
            StoreError::Rejected(m) => StoreError::Rejected(format!("{step}: {m}")),
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{step}: {m}")),
            StoreError::Mismatch(m) => StoreError::Mismatch(format!("{step}: {m}")),
            StoreError::Config(m) => StoreError::Config(format!("{step}: {m}")),
            io @ StoreError::Io { .. } => io,
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

/// What the store's answer to an upload already proves about the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The store checked the body against the CRC-64/NVME we sent in `x-amz-checksum-crc64nvme`
    /// (a signed header) and said so by echoing it: it received the file's bytes, or it would
    /// have refused the PUT (`BadDigest`).
    Checksum,
    /// The store's ETag is the digest S3 defines for the bytes sent — MD5 of the body for one
    /// PUT, MD5 of the parts' MD5s and the part count for a multipart upload — so the store
    /// computed it over exactly the file's bytes (the size is still asked by HEAD).
    Etag,
    /// Nothing the store said covers the body (no checksum echoed, an ETag that is something
    /// else: SSE-KMS, some gateways): the object is read back.
    Nothing,
}

/// What [`Store::upload`] leaves for [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Size and SHA-256 of the file, read from the card for the upload.
    pub confirmed: Confirmed,
    pub receipt: Receipt,
}

/// How [`Store::check`] confirmed an object, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The store checked the CRC-64/NVME we sent with the PUT.
    Checksum,
    /// The store's ETag matched the file's MD5 (the size by HEAD).
    Etag,
    /// The object was read back whole and hashed.
    ReadBack,
}

impl Checked {
    pub fn as_str(self) -> &'static str {
        match self {
            Checked::Checksum => "checksum",
            Checked::Etag => "etag",
            Checked::ReadBack => "read-back",
        }
    }
}

/// The S3 flexible checksum sent with a single PUT: CRC-64/NVME, the strongest of the CRCs S3
/// defines, ~30× cheaper than SHA-256 for the store to check (see docs/design/object-storage.md).
const CHECKSUM_HEADER: &str = "x-amz-checksum-crc64nvme";
/// Whether the store checks [`CHECKSUM_HEADER`], learned from its answers ([`Store`]).
const CHECKSUMS_UNKNOWN: u8 = 0;
const CHECKSUMS_VERIFIED: u8 = 1;
const CHECKSUMS_IGNORED: u8 = 2;

/// Characters of an object key sent as they are in the request path (RFC 3986 unreserved and
/// `/`); the rest is percent-encoded, as object_store encodes its own paths (the signature
/// covers the path as sent).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The S3 error code in an error answer's XML body (`<Code>BadDigest</Code>`), if any.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim().to_string())
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

fn etag_receipt(etag: Option<&str>, parts: &[[u8; 16]], multipart: bool) -> Receipt {
    if etag_matches(etag, parts, multipart) {
        Receipt::Etag
    } else {
        Receipt::Nothing
    }
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
    /// Our own signed single PUT (object_store's PUT cannot carry a digest we computed, nor tell
    /// whether the store echoed it): the same HTTP client settings (TLS, pinned CA, timeouts).
    http: HttpClient,
    credential: AwsCredential,
    region: String,
    /// `endpoint/bucket` (path style) or `bucket.host` (virtual-hosted): `ObjectStorageConfig::bucket_url`.
    bucket_url: String,
    /// `CHECKSUMS_*`: a store that did not echo the checksum once gets the MD5/ETag path from then
    /// on (until the uploader restarts with new settings).
    checksums: AtomicU8,
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
        let http = ReqwestConnector::default()
            .connect(&options)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        let credential = AwsCredential {
            key_id: cfg.access_key_id.expose().unwrap_or_default().to_string(),
            secret_key: cfg
                .secret_access_key
                .expose()
                .unwrap_or_default()
                .to_string(),
            token: None,
        };
        let bucket_url = cfg.bucket_url();
        // object_store sends virtual-hosted requests to its endpoint as given: it gets the URL
        // that already names the bucket (the setting holds the store's own address).
        let endpoint = if cfg.path_style {
            cfg.endpoint.trim_end_matches('/')
        } else {
            bucket_url.as_str()
        };
        let s3 = AmazonS3Builder::new()
            .with_endpoint(endpoint)
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
            http,
            credential,
            region: cfg.region.clone(),
            bucket_url,
            checksums: AtomicU8::new(CHECKSUMS_UNKNOWN),
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
            drop(f);
            // One read into a buffer of the file's size on a blocking thread (tokio's File reads
            // through its own 2 MiB buffer and copies each chunk again). No copy from here on:
            // the same buffer is hashed and becomes the request body.
            let path = file.to_path_buf();
            let all = tokio::task::spawn_blocking(move || std::fs::read(path))
                .await
                .map_err(|e| StoreError::Config(format!("reading the recording: {e}")))?
                .map_err(StoreError::io("read", file))?;
            let all = Bytes::from(all);
            if self.checksums.load(Ordering::Relaxed) != CHECKSUMS_IGNORED {
                match self.put_with_checksum(&loc, all.clone()).await? {
                    Some(up) => return Ok(up),
                    // The store refused the header itself: the ETag path, at once.
                    None => self.checksums.store(CHECKSUMS_IGNORED, Ordering::Relaxed),
                }
            }
            let hasher = Hasher::start(usize::MAX);
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
                receipt: etag_receipt(put.e_tag.as_deref(), &parts, false),
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
            receipt: etag_receipt(put.e_tag.as_deref(), &parts, true),
        })
    }

    /// One PUT of `body` with its CRC-64/NVME in `x-amz-checksum-crc64nvme`, signed by
    /// object_store's SigV4 signer (the header is among the signed ones, the payload is
    /// `UNSIGNED-PAYLOAD`) and sent through its HTTP client; the SHA-256 for the index is computed
    /// beside it. The store checks the body against the header and refuses a mismatch
    /// (`BadDigest`); one that checked it echoes it. `Ok(None)`: the store refused the header
    /// itself (501, or 400 for an argument it does not know); the caller falls back.
    async fn put_with_checksum(
        &self,
        loc: &ObjectPath,
        body: Bytes,
    ) -> Result<Option<Uploaded>, StoreError> {
        let bytes = body.len() as u64;
        let hashed = body.clone();
        // On a blocking thread while the request goes out (SHA-NI: ~2 GB/s).
        let sha = tokio::task::spawn_blocking(move || {
            hex(digest::digest(&digest::SHA256, &hashed).as_ref())
        });
        // The header precedes the body: the CRC is needed first, and is cheap (carry-less
        // multiplication: 64 MiB in a few ms).
        let crced = body.clone();
        let crc = tokio::task::spawn_blocking(move || {
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &crced)
        })
        .await
        .map_err(|e| StoreError::Config(format!("hashing the recording: {e}")))?;
        let sent = base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes());
        let url = format!("{}/{}", self.bucket_url, encode_key(loc.as_ref()));
        let mut req = http::Request::builder()
            .method(http::Method::PUT)
            .uri(&url)
            .header(CHECKSUM_HEADER, &sent)
            .header(http::header::CONTENT_LENGTH, bytes)
            .body(HttpRequestBody::from(body))
            .map_err(|e| StoreError::Config(format!("object name {loc}: {e}")))?;
        AwsAuthorizer::new(&self.credential, "s3", &self.region)
            .with_sign_payload(false)
            .try_authorize(&mut req, None)
            .map_err(|e| StoreError::Config(format!("signing the request: {e}")))?;
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| StoreError::Unavailable(format!("PUT {loc}: {e}")))?;
        let status = resp.status();
        let echoed = resp
            .headers()
            .get(CHECKSUM_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let etag = resp
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Bounded by the client's request timeout; error bodies are a few hundred bytes.
        let answer = resp.into_body().bytes().await.unwrap_or_default();
        if !status.is_success() {
            let code = error_code(&answer).unwrap_or_default();
            let what = format!("PUT {loc}: {status} {code}");
            return match (status.as_u16(), code.as_str()) {
                (_, "BadDigest" | "XAmzContentChecksumMismatch" | "InvalidDigest") => {
                    Err(StoreError::Mismatch(format!(
                        "{what}: the store received other bytes than the file's"
                    )))
                }
                (401 | 403 | 404, _) => Err(StoreError::Rejected(what)),
                (501, _) | (400, "InvalidArgument" | "InvalidRequest" | "NotImplemented") => {
                    tracing::info!(
                        store = self.id,
                        answer = what,
                        "the object store does not take x-amz-checksum-crc64nvme: uploads are confirmed by its ETag"
                    );
                    Ok(None)
                }
                _ => Err(StoreError::Unavailable(what)),
            };
        }
        let sha256 = sha
            .await
            .map_err(|e| StoreError::Config(format!("hashing the recording: {e}")))?;
        let confirmed = Confirmed { bytes, sha256 };
        let receipt = match echoed {
            Some(e) if e.trim() == sent => {
                self.checksums.store(CHECKSUMS_VERIFIED, Ordering::Relaxed);
                Receipt::Checksum
            }
            Some(e) => {
                return Err(StoreError::Mismatch(format!(
                    "PUT {loc}: the store reports CRC-64/NVME {e}, the file's is {sent}"
                )));
            }
            None => {
                // The store ignored the header (it may not even have read it): this object is
                // read back once, and the next uploads compute the MD5 its ETag can confirm.
                self.checksums.store(CHECKSUMS_IGNORED, Ordering::Relaxed);
                tracing::info!(
                    store = self.id,
                    etag = etag.as_deref().unwrap_or(""),
                    "the object store does not check x-amz-checksum-crc64nvme: uploads are confirmed by its ETag"
                );
                Receipt::Nothing
            }
        };
        Ok(Some(Uploaded { confirmed, receipt }))
    }

    /// Confirms that the store holds what [`upload`](Self::upload) sent: by the checksum the
    /// store checked with the PUT (no request), by the store's ETag and the size HEAD reports
    /// when the ETag is the S3 digest of the bytes sent, else by reading the object back
    /// ([`verify`](Self::verify)).
    pub async fn check(&self, key: &str, up: &Uploaded) -> Result<Checked, StoreError> {
        match up.receipt {
            // The checksum the store checked covers every byte it received, hence the size too.
            Receipt::Checksum => return Ok(Checked::Checksum),
            Receipt::Nothing => {
                self.verify(key, &up.confirmed).await?;
                return Ok(Checked::ReadBack);
            }
            Receipt::Etag => {}
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
        let mut part = dest.as_os_str().to_owned();
        part.push(".part");
        let part = std::path::PathBuf::from(part);
        let got = self.read_into(key, &part).await?;
        if let Some(w) = want
            && *w != got
        {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(StoreError::Mismatch(format!(
                "{key}: fetched {} bytes with SHA-256 {}, the index recorded {} bytes with {}",
                got.bytes, got.sha256, w.bytes, w.sha256
            )));
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(StoreError::io("rename", &part))?;
        Ok(())
    }

    /// Reads `key` into the file `to` (created, with its directory; written through and synced)
    /// and returns the size and SHA-256 of what was read; `to` is removed again on failure.
    pub async fn read_into(&self, key: &str, to: &Path) -> Result<Confirmed, StoreError> {
        let loc = Self::path(key)?;
        let got = self.s3.get(&loc).await.map_err(StoreError::of)?;
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(StoreError::io("create directory", parent))?;
        }
        let mut out = tokio::fs::File::create(to)
            .await
            .map_err(StoreError::io("create", to))?;
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut bytes = 0u64;
        let mut stream = got.into_stream();
        let res: Result<(), StoreError> = async {
            // Bounded by the object: the stream ends with its last byte.
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| StoreError::of(e).at(&format!("GET {key}")))?;
                hash.update(&chunk);
                bytes += chunk.len() as u64;
                out.write_all(&chunk)
                    .await
                    .map_err(StoreError::io("write", to))?;
            }
            out.sync_all().await.map_err(StoreError::io("fsync", to))
        }
        .await;
        if let Err(e) = res {
            let _ = tokio::fs::remove_file(to).await;
            return Err(e);
        }
        Ok(Confirmed {
            bytes,
            sha256: hex(hash.finish().as_ref()),
        })
    }

    /// One page (up to [`LIST_PAGE`] objects) of the objects whose key starts with `prefix` (the
    /// whole bucket when empty), from the page `token` names (`None`: the first). Returns the
    /// objects and the token of the next page (`None`: this was the last).
    pub async fn list_page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<(Vec<Listed>, Option<String>), StoreError> {
        use object_store::list::{PaginatedListOptions, PaginatedListStore};
        let page = self
            .s3
            .list_paginated(
                (!prefix.is_empty()).then_some(prefix),
                PaginatedListOptions {
                    max_keys: Some(LIST_PAGE),
                    page_token: token,
                    ..PaginatedListOptions::default()
                },
            )
            .await
            .map_err(|e| match e {
                // A key object_store cannot represent (an empty or `..` segment) fails the whole
                // page, the same way each time: not worth a retry.
                object_store::Error::InvalidPath { source } => StoreError::Rejected(format!(
                    "LIST {prefix:?}: a key there is not a path object_store can read: {source}"
                )),
                e => StoreError::of(e).at(&format!("LIST {prefix:?}")),
            })?;
        let objects = page
            .result
            .objects
            .into_iter()
            .map(|o| Listed {
                key: o.location.to_string(),
                bytes: o.size,
            })
            .collect();
        Ok((objects, page.page_token))
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
    fn a_refused_digest_is_read_from_the_error_answer_and_keys_are_sent_as_signed() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>BadDigest</Code><Message>x</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("BadDigest"));
        assert_eq!(error_code(b"not xml"), None);
        assert_eq!(
            encode_key("site/cam 1/2026-12-04T10:00:00.mp4"),
            "site/cam%201/2026-12-04T10%3A00%3A00.mp4"
        );
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
