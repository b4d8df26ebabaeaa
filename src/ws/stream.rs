//! One TCP socket shared by a session's reader task and writer task (the TLS layer over it
//! lives in [`super::tls`], and [`super::conn::Conn`] picks one of the two).
//!
//! glommio 0.9's `TcpStream` has no split and its `AsyncRead`/`AsyncWrite` take `&mut self`.
//! Both tasks run on the same executor thread and only touch the stream inside a synchronous
//! `poll_*` call, so an `Rc<RefCell<_>>` borrowed for the duration of one poll never sees
//! overlapping borrows. Reads and writes keep separate readiness sources inside glommio
//! (`source_rx` / `source_tx`), so the two tasks do not steal each other's wakers.
//! (`futures_lite::io::split` would work too, but locks a mutex on every poll.)

use std::{
    cell::RefCell,
    io,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// A cheaply clonable handle to one socket; the socket closes when the last handle drops.
#[derive(Debug, Clone)]
pub(crate) struct SharedStream(Rc<RefCell<TcpStream>>);

impl SharedStream {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self(Rc::new(RefCell::new(stream)))
    }

    /// Runs `f` on the stream. A busy stream can only mean a poll re-entered another poll,
    /// which glommio never does; report it as an error rather than panic.
    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.0.try_borrow_mut() {
            Ok(mut stream) => f(Pin::new(&mut *stream)),
            Err(_) => Poll::Ready(Err(io::Error::other("socket polled re-entrantly"))),
        }
    }
}

impl SharedStream {
    /// One non-blocking `sendmsg` of `slices` in order (`MSG_DONTWAIT`, so it never blocks the
    /// executor whatever the socket's mode): the zero-copy fast path of the session writer.
    /// Returns the bytes the kernel took (possibly fewer than offered), or `WouldBlock`.
    ///
    /// Only valid while no io_uring write of this socket is in flight; the writer is the only
    /// sender and calls this between its awaited sends. Reads may be in flight: they use the
    /// other direction.
    pub(crate) fn try_send_vectored(&self, slices: &[&[u8]]) -> io::Result<usize> {
        use std::os::unix::io::AsRawFd;
        let fd = match self.0.try_borrow() {
            Ok(stream) => stream.as_raw_fd(),
            Err(_) => return Err(io::ErrorKind::WouldBlock.into()),
        };
        let iov = coalesced_iovecs(slices);
        // SAFETY: a zeroed msghdr is valid; iov points at `slices`, which outlive the call.
        let sent = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = iov.len() as _;
            libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// The iovecs of `slices`, with slices that continue each other in memory merged into one
/// (frames of a page are packed back to back: [`crate::frame::pack_contiguous`]) and empty
/// ones left out. The kernel copies one long segment much faster than many short ones. Only
/// raw pointers are merged; no Rust slice ever spans two allocations.
fn coalesced_iovecs(slices: &[&[u8]]) -> Vec<libc::iovec> {
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(slices.len());
    for s in slices.iter().filter(|s| !s.is_empty()) {
        if let Some(last) = iov.last_mut() {
            if (last.iov_base as usize).wrapping_add(last.iov_len) == s.as_ptr() as usize {
                last.iov_len += s.len();
                continue;
            }
        }
        iov.push(libc::iovec {
            iov_base: s.as_ptr() as *mut libc::c_void,
            iov_len: s.len(),
        });
    }
    iov
}

impl SharedStream {
    /// `poll_read` through a shared reference (the TLS layer holds the socket by `&`).
    pub(crate) fn poll_read_ref(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_read(cx, buf))
    }

    pub(crate) fn poll_write_ref(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }

    pub(crate) fn poll_flush_ref(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    /// glommio implements close as `shutdown(SHUT_WR)`: the peer sees EOF, we can still read.
    pub(crate) fn poll_close_ref(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_close(cx))
    }
}

impl AsyncRead for SharedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_ref(cx, buf)
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_ref(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_ref(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close_ref(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::coalesced_iovecs;

    #[test]
    fn adjacent_slices_share_one_iovec_and_others_keep_theirs() {
        let page = vec![7u8; 100];
        let elsewhere = vec![9u8; 10];
        let slices: Vec<&[u8]> = vec![
            &page[0..30],
            &page[30..30],
            &page[30..60],
            &elsewhere,
            &page[60..100],
            &page[0..10],
        ];
        let iov: Vec<(usize, usize)> = coalesced_iovecs(&slices)
            .iter()
            .map(|v| (v.iov_base as usize, v.iov_len))
            .collect();
        let at = |s: &[u8]| s.as_ptr() as usize;
        assert_eq!(
            iov,
            [
                (at(&page), 60),
                (at(&elsewhere), 10),
                (at(&page[60..]), 40),
                (at(&page), 10)
            ]
        );
        assert!(coalesced_iovecs(&[&page[0..0]]).is_empty());
    }
}
