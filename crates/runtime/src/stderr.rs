//! The guest's stderr: captured per call, capped, never failing the guest.
//!
//! What a call writes to stderr (a Rust panic message lands there) is kept
//! for that call's failure message, up to [`STDERR_CAP`] bytes; the rest
//! is discarded but still reported to the guest as written. wasmtime's
//! `MemoryOutputPipe` refuses writes once its cap is reached, which is
//! harmless for one call but would make an instance that serves many calls
//! (a session, `instance_reuse`) fail its writes (and Rust's `eprintln!`
//! panic) after a few KiB in all. Must never: carry one call's bytes into
//! another call's failure message ([`StderrCapture::clear`] runs at every
//! call's start), or grow beyond the cap.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Bytes of one call's stderr kept.
pub const STDERR_CAP: usize = 4096;

/// How much the guest may write at once (it is all accepted).
const WRITE_BUDGET: usize = 64 << 10;

/// One store's stderr; clones share the buffer.
#[derive(Clone, Default)]
pub struct StderrCapture(Arc<Mutex<Vec<u8>>>);

impl StderrCapture {
    /// Forget what earlier calls wrote.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// This call's stderr as text, trimmed.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .trim()
            .to_string()
    }

    fn keep(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap();
        let room = STDERR_CAP.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl IsTerminal for StderrCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for StderrCapture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for StderrCapture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for StderrCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_calls_bytes_up_to_the_cap_and_never_refuses() {
        let mut s = StderrCapture::default();
        for _ in 0..100 {
            assert!(OutputStream::write(&mut s, Bytes::from(vec![b'x'; 1000])).is_ok());
            assert_eq!(s.check_write().unwrap(), WRITE_BUDGET);
        }
        assert_eq!(s.text().len(), STDERR_CAP);
        s.clear();
        OutputStream::write(&mut s, Bytes::from_static(b" panicked at x \n")).unwrap();
        assert_eq!(s.text(), "panicked at x");
    }
}
