//! The server→client pipe of an RTSP-over-HTTP tunnel: the RTSP connection writes bytes, the GET
//! leg takes them as `Bytes` chunks, and every byte counts against a budget until its chunk is dropped.

// Why not `tokio::io::duplex` plus a read buffer: that kept a 32–64 KiB ring and 16 KiB read blocks
// alive per viewer (~65 KiB of a tunnelled viewer's ~158 KiB, docs/benchmarks.md), and it could not
// see the chunks hyper had already queued, so a stalled viewer held the ring *and* hyper's queue.
// Here memory exists only while bytes are in flight, and the budget covers them from the write
// until the HTTP server has handed them to the socket and dropped them.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::io::AsyncWrite;

/// Creates a pipe. At most `budget` bytes are written and not yet dropped by the reader's
/// consumer at any time; writes are cut into chunks of at most `chunk` bytes (`0 < chunk`).
pub(crate) fn pipe(budget: usize, chunk: usize) -> (PipeWriter, PipeReader) {
    assert!(chunk > 0 && budget > 0, "pipe budget and chunk must be > 0");
    let shared = Arc::new(Mutex::new(State {
        cur: BytesMut::new(),
        queue: VecDeque::new(),
        held: 0,
        writer_gone: false,
        reader_gone: false,
        write_waker: None,
        read_waker: None,
    }));
    (
        PipeWriter {
            shared: shared.clone(),
            budget,
            chunk,
        },
        PipeReader { shared },
    )
}

struct State {
    /// The chunk being filled; the reader cannot see it until it is full, flushed, or the
    /// writer has to wait (else a writer blocked on the budget would wait for itself).
    cur: BytesMut,
    /// Chunks the reader may take.
    queue: VecDeque<Bytes>,
    /// Bytes written and not yet dropped downstream: `cur`, `queue` and chunks handed out.
    held: usize,
    writer_gone: bool,
    reader_gone: bool,
    write_waker: Option<Waker>,
    read_waker: Option<Waker>,
}

impl State {
    /// Makes `cur` visible to the reader; returns the reader's waker to wake after unlocking.
    fn release(&mut self) -> Option<Waker> {
        if self.cur.is_empty() {
            return None;
        }
        let cur = std::mem::take(&mut self.cur);
        // A flush often leaves a nearly empty chunk (an RTSP response, an RTCP report): copy it
        // out so a few bytes in flight never pin a whole chunk allocation.
        let bytes = if cur.len() * 2 >= cur.capacity() {
            cur.freeze()
        } else {
            Bytes::copy_from_slice(&cur)
        };
        self.queue.push_back(bytes);
        self.read_waker.take()
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

/// Write side (the tunnel's RTSP connection). `poll_flush` hands what was written to the reader
/// without waiting for it to be consumed; writing waits while the budget is used up.
pub(crate) struct PipeWriter {
    shared: Arc<Mutex<State>>,
    budget: usize,
    chunk: usize,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "tunnel GET leg is gone")
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = lock(&self.shared);
        if s.reader_gone {
            return Poll::Ready(Err(gone()));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = self.budget.saturating_sub(s.held);
        if room == 0 {
            let w = s.release();
            s.write_waker = Some(cx.waker().clone());
            drop(s);
            wake(w);
            return Poll::Pending;
        }
        if s.cur.capacity() == 0 {
            // Chunks are allocated whole and leave with the reader, so an idle pipe holds nothing.
            s.cur = BytesMut::with_capacity(self.chunk);
        }
        let n = room.min(data.len()).min(s.cur.capacity() - s.cur.len());
        s.cur.extend_from_slice(&data[..n]);
        s.held += n;
        let w = if s.cur.len() == s.cur.capacity() {
            s.release()
        } else {
            None
        };
        drop(s);
        wake(w);
        Poll::Ready(Ok(n))
    }

    /// All the slices of an access unit (the RTSP writer's per-packet headers and payloads) go
    /// into the chunks under one lock: the pipe is the tunnel's only copy.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut s = lock(&self.shared);
        if s.reader_gone {
            return Poll::Ready(Err(gone()));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let mut room = self.budget.saturating_sub(s.held);
        if room == 0 {
            let w = s.release();
            s.write_waker = Some(cx.waker().clone());
            drop(s);
            wake(w);
            return Poll::Pending;
        }
        let (mut n, mut w) = (0, None);
        'slices: for b in bufs {
            let mut b: &[u8] = b;
            while !b.is_empty() {
                if room == 0 {
                    break 'slices;
                }
                if s.cur.capacity() == 0 {
                    s.cur = BytesMut::with_capacity(self.chunk);
                }
                let k = room.min(b.len()).min(s.cur.capacity() - s.cur.len());
                s.cur.extend_from_slice(&b[..k]);
                s.held += k;
                room -= k;
                n += k;
                b = &b[k..];
                if s.cur.len() == s.cur.capacity() {
                    w = s.release().or(w);
                }
            }
        }
        drop(s);
        wake(w);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        if s.reader_gone {
            return Poll::Ready(Err(gone()));
        }
        let w = s.release();
        drop(s);
        wake(w);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl PipeWriter {
    fn close(&self) {
        let mut s = lock(&self.shared);
        s.writer_gone = true;
        let w = s.release().or_else(|| s.read_waker.take());
        drop(s);
        wake(w);
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Read side (the GET leg). Chunks it returns keep counting against the budget until dropped.
pub(crate) struct PipeReader {
    shared: Arc<Mutex<State>>,
}

impl PipeReader {
    /// The next chunk, or `None` once the writer is gone and everything was taken.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut s = lock(&self.shared);
        if let Some(data) = s.queue.pop_front() {
            drop(s);
            return Poll::Ready(Some(Bytes::from_owner(Held {
                data,
                shared: self.shared.clone(),
            })));
        }
        if s.writer_gone {
            return Poll::Ready(None);
        }
        s.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// [`poll_chunk`](Self::poll_chunk) as a future.
    #[cfg(test)]
    pub(crate) async fn chunk(&mut self) -> Option<Bytes> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.reader_gone = true;
        // Nothing will read these any more: give their budget back with them.
        let queued: usize = s.queue.drain(..).map(|b| b.len()).sum();
        s.held -= queued + s.cur.len();
        s.cur = BytesMut::new();
        let w = s.write_waker.take();
        drop(s);
        wake(w);
    }
}

/// A chunk handed to the consumer; dropping it (the socket write is done) returns its budget.
struct Held {
    data: Bytes,
    shared: Arc<Mutex<State>>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.held -= self.data.len();
        let w = s.write_waker.take();
        drop(s);
        wake(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn noop_cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[tokio::test]
    async fn tunnel_get_pipe_holds_at_most_its_budget_for_a_stalled_viewer() {
        let (mut w, mut r) = pipe(16 * 1024, 4 * 1024);
        let au = vec![7u8; 100 * 1024];
        // A viewer that never reads: the consumer takes chunks (as hyper queues them) but never
        // drops them. The writer must stop at the budget, however much it has to write.
        let mut taken = Vec::new();
        let mut write = Box::pin(w.write_all(&au));
        for _ in 0..1000 {
            assert!(write.as_mut().poll(&mut noop_cx()).is_pending());
            match r.poll_chunk(&mut noop_cx()) {
                Poll::Ready(Some(c)) => taken.push(c),
                _ => break,
            }
        }
        let held: usize = taken.iter().map(|c| c.len()).sum();
        assert_eq!(held, 16 * 1024, "a stalled viewer holds exactly the budget");
        assert!(taken.iter().all(|c| c.len() <= 4 * 1024));
        // Once the socket write is done (chunks dropped), the writer goes on.
        taken.clear();
        assert!(write.as_mut().poll(&mut noop_cx()).is_pending());
        assert!(matches!(r.poll_chunk(&mut noop_cx()), Poll::Ready(Some(_))));
    }

    #[tokio::test]
    async fn tunnel_get_pipe_delivers_every_byte_in_order_and_ends() {
        let (mut w, mut r) = pipe(8 * 1024, 3000);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expect = data.clone();
        let writer = tokio::spawn(async move {
            for part in data.chunks(1234) {
                w.write_all(part).await.unwrap();
                w.flush().await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(c) = r.chunk().await {
            got.extend_from_slice(&c);
        }
        writer.await.unwrap();
        assert_eq!(got, expect);
    }

    #[tokio::test]
    async fn tunnel_get_pipe_takes_vectored_writes_in_order_within_its_budget() {
        let (mut w, mut r) = pipe(4096, 1000);
        let parts: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 7 + i as usize * 13]).collect();
        let expect: Vec<u8> = parts.concat();
        let slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let n = Pin::new(&mut w)
            .poll_write_vectored(&mut noop_cx(), &slices)
            .map(Result::unwrap);
        assert_eq!(n, Poll::Ready(4096), "takes exactly the budget");
        let writer = tokio::spawn(async move {
            let mut rest = &expect[4096..];
            while !rest.is_empty() {
                let k = w.write_vectored(&[io::IoSlice::new(rest)]).await.unwrap();
                rest = &rest[k..];
            }
            w.flush().await.unwrap();
            expect
        });
        let mut got = Vec::new();
        while let Some(c) = r.chunk().await {
            assert!(c.len() <= 1000);
            got.extend_from_slice(&c);
            if got.len() == parts.iter().map(Vec::len).sum::<usize>() {
                break;
            }
        }
        assert_eq!(got, writer.await.unwrap());
    }

    #[tokio::test]
    async fn tunnel_get_pipe_shows_nothing_before_flush_or_a_full_chunk() {
        let (mut w, mut r) = pipe(64 * 1024, 4096);
        w.write_all(b"RTSP/1.0 200 OK\r\n").await.unwrap();
        assert!(r.poll_chunk(&mut noop_cx()).is_pending());
        w.flush().await.unwrap();
        let c = r.chunk().await.unwrap();
        assert_eq!(&c[..], b"RTSP/1.0 200 OK\r\n");
        w.write_all(&[1u8; 5000]).await.unwrap();
        assert_eq!(
            r.chunk().await.unwrap().len(),
            4096,
            "a full chunk goes at once"
        );
    }

    #[tokio::test]
    async fn tunnel_get_pipe_fails_writes_once_the_get_leg_is_gone() {
        let (mut w, r) = pipe(1024, 512);
        w.write_all(&[0u8; 700]).await.unwrap();
        let mut blocked = Box::pin(w.write_all(&[0u8; 2000]));
        assert!(blocked.as_mut().poll(&mut noop_cx()).is_pending());
        drop(r);
        let e = blocked.await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn tunnel_get_pipe_ends_when_the_rtsp_side_drops_after_a_partial_chunk() {
        let (mut w, mut r) = pipe(1024, 512);
        w.write_all(b"tail").await.unwrap();
        drop(w);
        assert_eq!(&r.chunk().await.unwrap()[..], b"tail");
        assert!(r.chunk().await.is_none());
    }
}
