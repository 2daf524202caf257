//! The connection under the IMAP client: plain or TLS, and the swap that
//! puts the password on the wire without the client ever holding it.

use super::*;

/// The connection under the IMAP client: plain TCP (loopback, or before
/// STARTTLS) or rustls over TCP.
pub(super) enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A stream that, once armed with a secret, replaces the quoted
/// [`PLACEHOLDER`] in the next write with the quoted secret, then forgets
/// it. The IMAP library only ever sees (and traces) the placeholder.
pub(super) struct SecretSwap<S> {
    inner: S,
    secret: Option<Vec<u8>>,
    /// Bytes already accepted from the caller, still to go to `inner`.
    pending: Vec<u8>,
    sent: usize,
}

impl<S> fmt::Debug for SecretSwap<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSwap")
    }
}

impl<S> SecretSwap<S> {
    pub(super) fn new(inner: S) -> Self {
        SecretSwap {
            inner,
            secret: None,
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// Arms the swap: `password` as an IMAP quoted string, the way the
    /// library quotes the placeholder.
    pub(super) fn arm(&mut self, password: &str) {
        let quoted = format!(
            "\"{}\"",
            password.replace('\\', "\\\\").replace('"', "\\\"")
        );
        self.secret = Some(quoted.into_bytes());
    }

    pub(super) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncWrite + Unpin> SecretSwap<S> {
    pub(super) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        // The buffer held the password: overwrite before freeing.
        self.pending.iter_mut().for_each(|b| *b = 0);
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<S: AsyncRead + Unpin> AsyncRead for SecretSwap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SecretSwap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        let quoted_placeholder = format!("\"{PLACEHOLDER}\"");
        if this.secret.is_some()
            && let Some(at) = find(buf, quoted_placeholder.as_bytes())
        {
            let secret = this.secret.take().unwrap_or_default();
            let mut out = Vec::with_capacity(buf.len() + secret.len());
            out.extend_from_slice(&buf[..at]);
            out.extend_from_slice(&secret);
            out.extend_from_slice(&buf[at + quoted_placeholder.len()..]);
            let mut secret = secret;
            secret.iter_mut().for_each(|b| *b = 0);
            this.pending = out;
            this.sent = 0;
            // The whole buffer is accepted; what `inner` has not taken yet
            // goes out on the next write or flush.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
