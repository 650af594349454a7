//! codex's stdout and stderr, split into bounded lines.
//!
//! This is tokio-util's [`LinesCodec`] with a length bound, read through a [`FramedRead`], so a
//! `select!` that drops a pending read loses nothing: the partial line stays in the reader's
//! buffer. A line over the bound is never held whole: the codec reports it as soon as it passes
//! the bound and discards the rest of it as it arrives.
//!
//! The codec's two per-line failures, a line over the bound and a line that is not UTF-8, come
//! out as items ([`LineError`]) instead of errors of the stream, because tokio-util ends a
//! framed stream at its decoder's first error and one bad line from codex must not end the
//! relay.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use futures_util::StreamExt;
//! use orbit_anchor::lines::{lines, LineError};
//!
//! let mut lines = lines(&b"{\"a\":1}\r\n0123456789abc\nlast"[..], 10);
//! assert_eq!(lines.next().await.unwrap().unwrap(), Ok("{\"a\":1}".to_string()));
//! let head = "0123456789a".to_string(); // what the reader had of it when it passed the bound
//! assert_eq!(lines.next().await.unwrap().unwrap(), Err(LineError::TooLong { max: 10, head }));
//! assert_eq!(lines.next().await.unwrap().unwrap(), Ok("last".to_string()));
//! assert!(lines.next().await.is_none());
//! # });
//! ```

use std::io;

use tokio::io::AsyncRead;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};

/// How much a read asks for: codex writes lines of several KiB in a burst.
const READ_CAPACITY: usize = 64 * 1024;

/// How much of the start of a line over the bound is kept ([`LineError::TooLong`]): enough for
/// the `id` that codex writes first, so the bridge can answer the request it was meant for.
pub const HEAD_BYTES: usize = 4 * 1024;

/// A line that could not be delivered; the lines after it still are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// `head` is the line's first [`HEAD_BYTES`] bytes (lossily UTF-8); the rest is discarded
    /// as it arrives, never held.
    #[error("a line over {max} bytes")]
    TooLong { max: usize, head: String },
    #[error("a line that is not UTF-8")]
    NotUtf8,
}

/// [`LinesCodec`] with its per-line failures as items.
#[derive(Debug)]
pub struct BoundedLines {
    codec: LinesCodec,
    max: usize,
}

impl BoundedLines {
    pub fn new(max: usize) -> Self {
        BoundedLines {
            codec: LinesCodec::new_with_max_length(max),
            max,
        }
    }

    /// `src` is the buffer as the codec left it: at [`LinesCodecError::MaxLineLengthExceeded`]
    /// it still starts with the over-long line (the codec discards it from its next call on).
    fn item(
        &self,
        decoded: Result<Option<String>, LinesCodecError>,
        src: &BytesMut,
    ) -> io::Result<Option<Result<String, LineError>>> {
        match decoded {
            Ok(line) => Ok(line.map(Ok)),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                // No newline in the first `max + 1` bytes: those are all the line's.
                let head = &src[..src.len().min(self.max + 1).min(HEAD_BYTES)];
                Ok(Some(Err(LineError::TooLong {
                    max: self.max,
                    head: String::from_utf8_lossy(head).into_owned(),
                })))
            }
            // The codec's only own I/O error: the line (already consumed) is not UTF-8. Reads
            // of the pipe fail in FramedRead, not here.
            Err(LinesCodecError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(Some(Err(LineError::NotUtf8)))
            }
            Err(LinesCodecError::Io(e)) => Err(e),
        }
    }
}

impl Decoder for BoundedLines {
    type Item = Result<String, LineError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let decoded = self.codec.decode(src);
        self.item(decoded, src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let decoded = self.codec.decode_eof(src);
        self.item(decoded, src)
    }
}

/// The lines of `reader`, each at most `max` bytes (without its `\n` or `\r\n`).
pub fn lines<R: AsyncRead>(reader: R, max: usize) -> FramedRead<R, BoundedLines> {
    FramedRead::with_capacity(reader, BoundedLines::new(max), READ_CAPACITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::io::{AsyncWriteExt, ReadBuf};

    /// Hands out its input a few bytes per read, as a pipe may.
    struct Trickle<'a>(&'a [u8], usize);

    impl AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.1.min(self.0.len()).min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Poll::Ready(Ok(()))
        }
    }

    async fn all(input: &[u8], max: usize) -> Vec<Result<String, LineError>> {
        let mut reader = lines(Trickle(input, 4), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next().await {
            out.push(line.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_on_newlines_across_read_boundaries() {
        assert_eq!(
            all(b"{\"a\":1}\n\nxyz\r\nlast", 100).await,
            vec![
                Ok("{\"a\":1}".to_string()),
                Ok(String::new()),
                Ok("xyz".to_string()),
                Ok("last".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn a_read_cancelled_mid_line_loses_nothing() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut lines = lines(reader, 100);
        writer.write_all(b"{\"half\":").await.unwrap();
        // The read is dropped while the line is incomplete (as when a select! picks another branch).
        let cancelled = tokio::time::timeout(Duration::from_millis(50), lines.next()).await;
        assert!(cancelled.is_err());
        writer.write_all(b"1}\n").await.unwrap();
        assert_eq!(
            lines.next().await.unwrap().unwrap(),
            Ok("{\"half\":1}".to_string())
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_reported_once_and_the_next_line_survives() {
        assert_eq!(
            all(b"0123456789abcdefghijklmnop\nok\n", 10).await,
            vec![
                Err(LineError::TooLong {
                    max: 10,
                    head: "0123456789a".to_string()
                }),
                Ok("ok".to_string())
            ]
        );
        // At the bound exactly, a line is kept.
        assert_eq!(
            all(b"0123456789\n", 10).await,
            vec![Ok("0123456789".to_string())]
        );
        // An overlong last line without a newline is reported, not returned cut.
        assert_eq!(
            all(b"ok\n0123456789abc", 10).await,
            vec![
                Ok("ok".to_string()),
                Err(LineError::TooLong {
                    max: 10,
                    head: "0123456789a".to_string()
                })
            ]
        );
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_does_not_stop_the_reader() {
        assert_eq!(
            all(b"\xff\xfe\n{}\n", 100).await,
            vec![Err(LineError::NotUtf8), Ok("{}".to_string())]
        );
    }
}
