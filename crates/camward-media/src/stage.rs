//! The hook between a stream's source and its frame bus: every access unit passes through one
//! stage (ONVIF Media Signing inserts its SEI here) before any consumer sees it.

use bytes::Bytes;
use camward_h264::AccessUnit;
use std::sync::Arc;

/// Per-stream processing of access units, in decoding order, on the pipeline's own thread.
///
/// A stage is created fresh for every pipeline start (stream switched on, settings changed,
/// source reconnected), so it may keep state such as a running GOP hash. It must return
/// quickly: while it runs, the stream produces nothing (a slow stage drops frames, it never
/// blocks viewers).
pub trait AuStage: Send {
    fn process(&mut self, au: &mut AccessUnit);

    /// End of stream: NAL units that belong after the last access unit this stage processed
    /// (media signing returns the SEI signing the open GOP). The hub calls it once, when the
    /// pipeline stops, restarts or loses its source, and publishes the result inside the run's
    /// end marker: an access unit without a picture (`AccessUnit::has_picture` is false), with
    /// the last frame's timing, right after that frame. The marker goes out for every run, with
    /// or without a stage, and is empty when there is nothing to add. Every access unit the
    /// stage processed was published, so the output may refer to all of them.
    fn finish(&mut self) -> Vec<Bytes> {
        Vec::new()
    }
}

/// Closures are stages too, for simple cases and tests.
impl<F: FnMut(&mut AccessUnit) + Send> AuStage for F {
    fn process(&mut self, au: &mut AccessUnit) {
        self(au)
    }
}

/// Builds the stage for one pipeline start of stream `n` (1 or 2).
pub type StageFactory = Arc<dyn Fn(u8) -> Box<dyn AuStage> + Send + Sync>;
