//! The response body type, which can stop short of its `Content-Length`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// How long a cut body waits after its last bytes before it fails.
///
/// hyper flushes what it has while the body is pending, so the client receives the bytes
/// before the failure closes the connection.
// NOTE: a prefix larger than the socket buffers, sent to a client that reads slowly, may not
// be flushed within this wait, and the client then receives fewer bytes than `cut_after`.
const CUT_FLUSH_WAIT: Duration = Duration::from_millis(50);

/// A response body sent in one frame, optionally followed by an error that makes hyper close the connection.
#[derive(Debug)]
pub(crate) struct FakeBody {
    data: Option<Bytes>,
    /// Length announced in `size_hint`, which is the full body even when the body is cut.
    announced: u64,
    /// Whether the body still has to fail after its data.
    cut: bool,
    /// Timer that delays the failure until hyper has flushed the data.
    flush_wait: Option<Pin<Box<Sleep>>>,
}

impl FakeBody {
    /// Creates a body that sends all of `data`.
    pub(crate) fn full(data: Bytes) -> FakeBody {
        FakeBody {
            announced: data.len() as u64,
            data: Some(data),
            cut: false,
            flush_wait: None,
        }
    }

    /// Creates a body that announces `full_len` bytes, sends `prefix`, then fails.
    pub(crate) fn cut(prefix: Bytes, full_len: u64) -> FakeBody {
        FakeBody {
            data: Some(prefix),
            announced: full_len,
            cut: true,
            flush_wait: None,
        }
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();

        if let Some(data) = this.data.take()
            && !data.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if !this.cut {
            return Poll::Ready(None);
        }

        // Waiting on a timer returns Pending, so hyper flushes the data before the failure closes the connection.
        let flush_wait = this
            .flush_wait
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(CUT_FLUSH_WAIT)));
        std::task::ready!(flush_wait.as_mut().poll(context));
        this.cut = false;
        this.flush_wait = None;
        Poll::Ready(Some(Err(cut_error())))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.cut
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.announced)
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fake server cut the response body on purpose",
    )
}
