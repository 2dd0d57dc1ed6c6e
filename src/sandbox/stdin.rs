//! The guest's stdin: content set when the run starts, so a sandbox can be
//! instantiated before its run's input is known (the pool does this).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use wasmtime_wasi::cli::{IsTerminal, StdinStream};
use wasmtime_wasi::p2::{InputStream, Pollable, StreamError};

/// Cheap to clone; clones share the content and the read position.
#[derive(Debug, Clone, Default)]
pub struct RunStdin(Arc<Mutex<VecDeque<u8>>>);

impl RunStdin {
    pub fn set(&self, content: Vec<u8>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = content.into();
    }

    /// Everything not yet read, leaving nothing.
    pub fn take_all(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner)).into()
    }

    fn read(&self, size: usize) -> Result<Bytes, StreamError> {
        let mut data = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if data.is_empty() {
            return Err(StreamError::Closed);
        }
        let n = size.min(data.len());
        Ok(data.drain(..n).collect::<Vec<u8>>().into())
    }
}

impl IsTerminal for RunStdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for RunStdin {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl InputStream for RunStdin {
    fn read(&mut self, size: usize) -> Result<Bytes, StreamError> {
        RunStdin::read(self, size)
    }
}

#[async_trait::async_trait]
impl Pollable for RunStdin {
    async fn ready(&mut self) {}
}

impl AsyncRead for RunStdin {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Ok(bytes) = RunStdin::read(&self, buf.remaining()) {
            buf.put_slice(&bytes);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_set_later_is_read_once_then_closed() {
        let stdin = RunStdin::default();
        stdin.set(b"abc".to_vec());
        assert_eq!(&stdin.read(2).unwrap()[..], b"ab");
        assert_eq!(&stdin.read(9).unwrap()[..], b"c");
        assert!(matches!(stdin.read(1), Err(StreamError::Closed)));
    }
}
