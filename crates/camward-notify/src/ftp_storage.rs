//! Read-only libunftp storage over the camera's directories: `/recordings`, `/images`, ...
//! Every write command is refused; paths cannot leave their root, not even through symlinks.

use async_trait::async_trait;
use std::fmt::Debug;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use unftp_core::auth::UserDetail;
use unftp_core::storage::{
    Error, ErrorKind, Fileinfo, Metadata, Permissions, Result, StorageBackend,
};

/// Metadata of a listed entry (real or one of the virtual top-level directories).
#[derive(Debug, Clone)]
pub struct Meta {
    len: u64,
    dir: bool,
    modified: SystemTime,
}

impl Metadata for Meta {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_dir(&self) -> bool {
        self.dir
    }
    fn is_file(&self) -> bool {
        !self.dir
    }
    fn is_symlink(&self) -> bool {
        false
    }
    fn modified(&self) -> Result<SystemTime> {
        Ok(self.modified)
    }
    fn gid(&self) -> u32 {
        0
    }
    fn uid(&self) -> u32 {
        0
    }
    fn permissions(&self) -> Permissions {
        // What clients see must match what they can do: read-only.
        Permissions(if self.dir { 0o555 } else { 0o444 })
    }
}

fn meta_of(m: &std::fs::Metadata) -> Meta {
    Meta {
        len: if m.is_dir() { 0 } else { m.len() },
        dir: m.is_dir(),
        modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

fn virtual_dir() -> Meta {
    Meta {
        len: 0,
        dir: true,
        modified: SystemTime::UNIX_EPOCH,
    }
}

/// Where a client path leads.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `/`: the list of roots.
    Top,
    /// A path inside root `root` (its canonical directory), canonicalised.
    Real { root: PathBuf, path: PathBuf },
}

/// The read-only back-end: named roots shown as top-level directories.
#[derive(Debug, Clone)]
pub struct ReadOnlyRoots {
    roots: Arc<Vec<(String, PathBuf)>>,
}

fn not_found() -> Error {
    Error::from(ErrorKind::PermanentFileNotAvailable)
}

fn denied() -> Error {
    Error::from(ErrorKind::PermissionDenied)
}

impl ReadOnlyRoots {
    /// `roots`: (name shown to clients, directory). Names are single path segments.
    pub fn new(roots: Vec<(String, PathBuf)>) -> Self {
        ReadOnlyRoots {
            roots: Arc::new(roots),
        }
    }

    /// Resolves a client path: `..` never climbs above `/`, and the real path (symlinks
    /// followed) must stay inside its root.
    async fn resolve(&self, path: &Path) -> Result<Target> {
        let mut parts: Vec<String> = Vec::new();
        for c in path.components() {
            match c {
                Component::RootDir | Component::Prefix(_) => parts.clear(),
                Component::CurDir => {}
                Component::ParentDir => {
                    parts.pop();
                }
                Component::Normal(s) => parts.push(s.to_str().ok_or_else(not_found)?.to_owned()),
            }
        }
        let Some((first, rest)) = parts.split_first() else {
            return Ok(Target::Top);
        };
        let dir = self
            .roots
            .iter()
            .find(|(n, _)| n == first)
            .map(|(_, d)| d.clone())
            .ok_or_else(not_found)?;
        let root = tokio::fs::canonicalize(&dir)
            .await
            .map_err(|_| not_found())?;
        let mut p = root.clone();
        for r in rest {
            p.push(r);
        }
        let real = tokio::fs::canonicalize(&p).await.map_err(|_| not_found())?;
        if !real.starts_with(&root) {
            return Err(not_found());
        }
        Ok(Target::Real { root, path: real })
    }
}

#[async_trait]
impl<User: UserDetail> StorageBackend<User> for ReadOnlyRoots {
    type Metadata = Meta;

    fn supported_features(&self) -> u32 {
        // `get` honours its start position: clients may resume a long download (REST).
        unftp_core::storage::FEATURE_RESTART
    }

    async fn metadata<P: AsRef<Path> + Send + Debug>(&self, _user: &User, path: P) -> Result<Meta> {
        match self.resolve(path.as_ref()).await? {
            Target::Top => Ok(virtual_dir()),
            Target::Real { path, .. } => tokio::fs::metadata(&path)
                .await
                .map(|m| meta_of(&m))
                .map_err(|_| not_found()),
        }
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &User,
        path: P,
    ) -> Result<Vec<Fileinfo<PathBuf, Meta>>> {
        let dir = match self.resolve(path.as_ref()).await? {
            Target::Top => {
                return Ok(self
                    .roots
                    .iter()
                    .map(|(n, _)| Fileinfo {
                        path: PathBuf::from(n),
                        metadata: virtual_dir(),
                    })
                    .collect());
            }
            Target::Real { path, .. } => path,
        };
        let mut rd = tokio::fs::read_dir(&dir).await.map_err(|_| not_found())?;
        let mut out = Vec::new();
        while let Some(e) = rd.next_entry().await.map_err(Error::from)? {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            // Hidden files are work in progress (temp files, index journals): not for clients.
            if name.starts_with('.') {
                continue;
            }
            let Ok(m) = tokio::fs::symlink_metadata(e.path()).await else {
                continue;
            };
            // Symlinks are not followed in listings (they could point outside the root).
            if m.file_type().is_symlink() || !(m.is_file() || m.is_dir()) {
                continue;
            }
            out.push(Fileinfo {
                path: PathBuf::from(name),
                metadata: meta_of(&m),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &User,
        path: P,
        start_pos: u64,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        use tokio::io::AsyncSeekExt;
        let Target::Real { path, .. } = self.resolve(path.as_ref()).await? else {
            return Err(not_found());
        };
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|_| not_found())?;
        if !f.metadata().await.map_err(Error::from)?.is_file() {
            return Err(not_found());
        }
        if start_pos > 0 {
            f.seek(std::io::SeekFrom::Start(start_pos))
                .await
                .map_err(Error::from)?;
        }
        Ok(Box::new(f))
    }

    async fn put<
        P: AsRef<Path> + Send + Debug,
        R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    >(
        &self,
        _user: &User,
        _input: R,
        _path: P,
        _start_pos: u64,
    ) -> Result<u64> {
        Err(denied())
    }

    async fn del<P: AsRef<Path> + Send + Debug>(&self, _user: &User, _path: P) -> Result<()> {
        Err(denied())
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(&self, _user: &User, _path: P) -> Result<()> {
        Err(denied())
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &User,
        _from: P,
        _to: P,
    ) -> Result<()> {
        Err(denied())
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(&self, _user: &User, _path: P) -> Result<()> {
        Err(denied())
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(&self, _user: &User, path: P) -> Result<()> {
        match self.resolve(path.as_ref()).await? {
            Target::Top => Ok(()),
            Target::Real { path, .. } => match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_dir() => Ok(()),
                _ => Err(Error::from(ErrorKind::PermanentDirectoryNotAvailable)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unftp_core::auth::DefaultUser;

    fn setup() -> (tempfile::TempDir, ReadOnlyRoots) {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        std::fs::create_dir_all(rec.join("2026")).unwrap();
        std::fs::write(rec.join("2026/clip.mp4"), b"0123456789").unwrap();
        std::fs::write(rec.join(".partial"), b"x").unwrap();
        std::fs::write(t.path().join("secret.txt"), b"nope").unwrap();
        std::os::unix::fs::symlink(t.path().join("secret.txt"), rec.join("link.txt")).unwrap();
        let roots = ReadOnlyRoots::new(vec![("recordings".into(), rec)]);
        (t, roots)
    }

    #[tokio::test]
    async fn lists_roots_and_files_but_not_hidden_or_links() {
        let (_t, fs) = setup();
        let u = DefaultUser;
        let top = StorageBackend::<DefaultUser>::list(&fs, &u, "/")
            .await
            .unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].path, PathBuf::from("recordings"));
        let l = StorageBackend::<DefaultUser>::list(&fs, &u, "/recordings")
            .await
            .unwrap();
        let names: Vec<_> = l
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["2026"]);
    }

    #[tokio::test]
    async fn reads_with_offset() {
        use tokio::io::AsyncReadExt;
        let (_t, fs) = setup();
        let mut r =
            StorageBackend::<DefaultUser>::get(&fs, &DefaultUser, "/recordings/2026/clip.mp4", 4)
                .await
                .unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "456789");
    }

    #[tokio::test]
    async fn paths_cannot_escape_the_roots() {
        let (_t, fs) = setup();
        let u = DefaultUser;
        for p in [
            "/recordings/../../secret.txt",
            "/recordings/link.txt",
            "/../secret.txt",
            "/other/x",
        ] {
            assert!(
                StorageBackend::<DefaultUser>::get(&fs, &u, p, 0)
                    .await
                    .is_err(),
                "{p} must not be readable"
            );
        }
        // `..` above `/` stays at `/`.
        assert!(
            StorageBackend::<DefaultUser>::cwd(&fs, &u, "/../../recordings")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn every_write_is_refused() {
        let (_t, fs) = setup();
        let u = DefaultUser;
        let p = "/recordings/2026/clip.mp4";
        let kind = |r: Result<()>| r.unwrap_err().kind();
        assert_eq!(
            kind(StorageBackend::<DefaultUser>::del(&fs, &u, p).await),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(StorageBackend::<DefaultUser>::mkd(&fs, &u, "/recordings/x").await),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(StorageBackend::<DefaultUser>::rmd(&fs, &u, "/recordings/2026").await),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(StorageBackend::<DefaultUser>::rename(&fs, &u, p, "/recordings/y").await),
            ErrorKind::PermissionDenied
        );
        let put =
            StorageBackend::<DefaultUser>::put(&fs, &u, tokio::io::empty(), "/recordings/new", 0)
                .await;
        assert_eq!(put.unwrap_err().kind(), ErrorKind::PermissionDenied);
    }
}
