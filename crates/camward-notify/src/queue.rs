//! The bounded on-disk queue of FTP uploads (`DATA/ftp-queue/`): each image is written to disk
//! before any upload, survives restarts, and leaves only by upload or by a logged drop.
//!
//! One file per item, `{seq:016}-{tries:03}.item`: a JSON header line (remote directory and
//! name) then the JPEG. Written as `.tmp` and renamed, so a power cut leaves whole items or
//! stray `.tmp` files (removed at start), never a half item that would be uploaded.

use crate::error::NotifyError;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Writes a queue item owner-only (camera images wait here for their upload).
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content)
}

/// Limits of the queue. Defaults fit a camera's flash: 200 images or 32 MiB, whichever first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub max_files: usize,
    pub max_bytes: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_files: 200,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Header {
    directory: String,
    name: String,
}

/// One queued upload (its data stays on disk until it is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedItem {
    pub seq: u64,
    /// Failed tries so far.
    pub tries: u32,
    pub directory: String,
    pub name: String,
    /// Size of the file on disk (header included): what counts against `max_bytes`.
    pub bytes: u64,
}

impl QueuedItem {
    fn file_name(&self) -> String {
        format!("{:016}-{:03}.item", self.seq, self.tries.min(999))
    }
}

/// Why an item left the queue without being uploaded, or was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Full { files: usize, bytes: u64 },
    Io(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Full { files, bytes } => write!(
                f,
                "FTP queue full ({files} images, {bytes} bytes waiting): the server has been unreachable"
            ),
            Refusal::Io(e) => write!(f, "FTP queue: {e}"),
        }
    }
}

/// The queue. Not thread-safe by itself: the uploader wraps it in a mutex.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    limits: QueueLimits,
    items: VecDeque<QueuedItem>,
    bytes: u64,
    next_seq: u64,
}

impl DiskQueue {
    /// Opens (creating) `dir` and loads what a previous run left. Items beyond the limits (the
    /// limits were lowered) are returned for the caller to log as dropped.
    pub fn open(
        dir: &Path,
        limits: QueueLimits,
    ) -> Result<(DiskQueue, Vec<QueuedItem>), NotifyError> {
        std::fs::create_dir_all(dir).map_err(|e| NotifyError::io("creating", dir, e))?;
        let mut items = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| NotifyError::io("reading", dir, e))? {
            let entry = entry.map_err(|e| NotifyError::io("reading", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // An item whose write was interrupted: never complete, never uploaded.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some((seq, tries)) = parse_name(&name) else {
                continue;
            };
            match read_header(&entry.path()) {
                Some(h) => items.push(QueuedItem {
                    seq,
                    tries,
                    directory: h.directory,
                    name: h.name,
                    bytes: entry.metadata().map(|m| m.len()).unwrap_or(0),
                }),
                None => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        items.sort_by_key(|i| i.seq);
        let mut q = DiskQueue {
            dir: dir.to_owned(),
            limits,
            next_seq: items.last().map_or(1, |i| i.seq + 1),
            bytes: items.iter().map(|i| i.bytes).sum(),
            items: items.into(),
        };
        let mut dropped = Vec::new();
        while q.items.len() > q.limits.max_files || q.bytes > q.limits.max_bytes {
            let it = q.items.pop_front().expect("over limit means not empty");
            q.remove_file(&it);
            dropped.push(it);
        }
        Ok((q, dropped))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// Items in upload order.
    pub fn items(&self) -> impl Iterator<Item = &QueuedItem> {
        self.items.iter()
    }

    pub fn front(&self) -> Option<&QueuedItem> {
        self.items.front()
    }

    /// Adds an image. An item waiting for the same remote path (periodic images "w/o time &
    /// date", which overwrite one remote file) is replaced and returned: only the newest matters.
    /// Refused, with the reason, when the limits would be exceeded.
    pub fn push(
        &mut self,
        directory: &str,
        name: &str,
        data: &Bytes,
    ) -> Result<Option<QueuedItem>, Refusal> {
        let header = serde_json::to_vec(&Header {
            directory: directory.to_owned(),
            name: name.to_owned(),
        })
        .map_err(|e| Refusal::Io(e.to_string()))?;
        let size = (header.len() + 1 + data.len()) as u64;
        let replaced_pos = self
            .items
            .iter()
            .position(|i| i.directory == directory && i.name == name);
        let freed = replaced_pos.map_or(0, |p| self.items[p].bytes);
        let files_after = self.items.len() + usize::from(replaced_pos.is_none());
        if files_after > self.limits.max_files || self.bytes - freed + size > self.limits.max_bytes
        {
            return Err(Refusal::Full {
                files: self.items.len(),
                bytes: self.bytes,
            });
        }
        let item = QueuedItem {
            seq: self.next_seq,
            tries: 0,
            directory: directory.to_owned(),
            name: name.to_owned(),
            bytes: size,
        };
        let path = self.dir.join(item.file_name());
        let tmp = path.with_extension("tmp");
        let mut content = header;
        content.push(b'\n');
        content.extend_from_slice(data);
        write_private(&tmp, &content)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Refusal::Io(format!("writing {}: {e}", path.display()))
            })?;
        self.next_seq += 1;
        let replaced = replaced_pos.map(|p| {
            let old = self.items.remove(p).expect("position from the same deque");
            self.bytes -= old.bytes;
            self.remove_file(&old);
            old
        });
        self.bytes += size;
        self.items.push_back(item);
        Ok(replaced)
    }

    /// The JPEG of a queued item.
    pub fn read(&self, item: &QueuedItem) -> Result<Bytes, NotifyError> {
        let path = self.dir.join(item.file_name());
        let content = std::fs::read(&path).map_err(|e| NotifyError::io("reading", &path, e))?;
        let start = content
            .iter()
            .position(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        Ok(Bytes::from(content).slice(start..))
    }

    /// Removes an uploaded item.
    pub fn complete(&mut self, seq: u64) -> Option<QueuedItem> {
        let pos = self.items.iter().position(|i| i.seq == seq)?;
        let it = self
            .items
            .remove(pos)
            .expect("position from the same deque");
        self.bytes -= it.bytes;
        self.remove_file(&it);
        Some(it)
    }

    /// Counts a failed try. When it was the last allowed (`max_tries`), the item is removed and
    /// returned for the caller to log as dropped.
    pub fn failed(&mut self, seq: u64, max_tries: u32) -> Option<QueuedItem> {
        let pos = self.items.iter().position(|i| i.seq == seq)?;
        let old_name = self.items[pos].file_name();
        self.items[pos].tries += 1;
        if self.items[pos].tries >= max_tries {
            return self.complete_named(pos, &old_name);
        }
        // The try count lives in the file name so a restart does not reset it.
        let new_name = self.items[pos].file_name();
        let _ = std::fs::rename(self.dir.join(old_name), self.dir.join(new_name));
        None
    }

    fn complete_named(&mut self, pos: usize, file: &str) -> Option<QueuedItem> {
        let it = self.items.remove(pos)?;
        self.bytes -= it.bytes;
        let _ = std::fs::remove_file(self.dir.join(file));
        Some(it)
    }

    fn remove_file(&self, it: &QueuedItem) {
        let _ = std::fs::remove_file(self.dir.join(it.file_name()));
    }
}

fn parse_name(name: &str) -> Option<(u64, u32)> {
    let stem = name.strip_suffix(".item")?;
    let (seq, tries) = stem.split_once('-')?;
    Some((seq.parse().ok()?, tries.parse().ok()?))
}

fn read_header(path: &Path) -> Option<Header> {
    use std::io::{BufRead, BufReader, Read};
    let mut line = Vec::new();
    // Headers are small; a file without a newline in its first 4 KiB is not ours.
    BufReader::new(std::fs::File::open(path).ok()?.take(4096))
        .read_until(b'\n', &mut line)
        .ok()?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    serde_json::from_slice(&line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(n: usize) -> Bytes {
        Bytes::from(vec![0xffu8; n])
    }

    #[test]
    fn queue_never_exceeds_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let limits = QueueLimits {
            max_files: 5,
            max_bytes: 2000,
        };
        let (mut q, _) = DiskQueue::open(dir.path(), limits).unwrap();
        let mut refused = 0;
        for i in 0..50 {
            match q.push("d", &format!("img{i}.jpg"), &jpeg(300)) {
                Ok(_) => {}
                Err(Refusal::Full { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
            assert!(q.len() <= limits.max_files);
            assert!(q.bytes() <= limits.max_bytes);
            let on_disk: u64 = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            assert_eq!(on_disk, q.bytes(), "the count matches the disk");
        }
        assert!(q.len() == 5 || q.bytes() + 350 > limits.max_bytes);
        assert_eq!(refused, 50 - q.len());
    }

    #[test]
    fn items_survive_a_restart_with_their_tries() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), QueueLimits::default()).unwrap();
        q.push("a/b", "one.jpg", &jpeg(10)).unwrap();
        q.push("", "two.jpg", &jpeg(20)).unwrap();
        let first = q.front().unwrap().seq;
        assert!(q.failed(first, 5).is_none());
        std::fs::write(dir.path().join("x.tmp"), b"partial").unwrap();
        drop(q);
        let (q, dropped) = DiskQueue::open(dir.path(), QueueLimits::default()).unwrap();
        assert!(dropped.is_empty());
        let items: Vec<_> = q.items().cloned().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (
                items[0].name.as_str(),
                items[0].directory.as_str(),
                items[0].tries
            ),
            ("one.jpg", "a/b", 1)
        );
        assert_eq!(q.read(&items[1]).unwrap(), jpeg(20));
        assert!(!dir.path().join("x.tmp").exists());
    }

    #[test]
    fn last_failed_try_removes_the_item() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), QueueLimits::default()).unwrap();
        q.push("", "a.jpg", &jpeg(10)).unwrap();
        let seq = q.front().unwrap().seq;
        assert!(q.failed(seq, 3).is_none());
        assert!(q.failed(seq, 3).is_none());
        let dropped = q.failed(seq, 3).unwrap();
        assert_eq!(dropped.tries, 3);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn same_remote_name_replaces_the_waiting_item() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), QueueLimits::default()).unwrap();
        assert!(q.push("p", "image.jpg", &jpeg(10)).unwrap().is_none());
        let old = q.push("p", "image.jpg", &jpeg(12)).unwrap().unwrap();
        assert_eq!(old.name, "image.jpg");
        assert_eq!(q.len(), 1);
        assert_eq!(q.read(q.front().unwrap()).unwrap(), jpeg(12));
    }

    #[test]
    fn lowered_limits_drop_the_oldest_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), QueueLimits::default()).unwrap();
        for i in 0..4 {
            q.push("", &format!("{i}.jpg"), &jpeg(10)).unwrap();
        }
        drop(q);
        let (q, dropped) = DiskQueue::open(
            dir.path(),
            QueueLimits {
                max_files: 2,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            dropped.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            vec!["0.jpg", "1.jpg"]
        );
    }
}
