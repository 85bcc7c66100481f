//! Zip archives of folders, written while they are sent: memory holds one file and a few
//! chunks, never the whole archive, however large the folder.
//!
//! The zip writer is blocking code, so it runs on a blocking thread between two bounded
//! channels: entries come in (the caller reads them from the store one at a time) and
//! chunks of the archive go out (to the response body). When the client goes away the
//! chunk channel closes, the writer stops, and so does the caller feeding it. When the
//! caller fails halfway, the stream ends with an error instead of a complete-looking
//! archive, so the download fails visibly.

use std::io::{self, BufWriter, Write};

use bytes::Bytes;
use chrono::{Datelike, Timelike};
use futures_util::Stream;
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::store::Timestamp;

/// Chunks of the archive waiting to be sent; with [`CHUNK_BYTES`] this bounds what one
/// download holds beside the file being compressed.
const CHUNKS_QUEUED: usize = 8;

/// The writer's buffer: the size of the chunks sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// One entry of an archive, named relative to the archive's root (`data/raw.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveEntry {
    Folder { name: String, modified: Timestamp },
    File { name: String, modified: Timestamp, bytes: Vec<u8> },
}

/// Where entries for [`zip_stream`] are sent: an `Err` ends the archive with that error.
pub type EntrySender = mpsc::Sender<io::Result<ArchiveEntry>>;

/// Starts writing a zip archive of the entries sent to the returned sender, in the order
/// sent, and returns it with the stream of the archive's bytes. The archive is complete
/// when the sender is dropped after the last entry.
pub fn zip_stream() -> (EntrySender, impl Stream<Item = io::Result<Bytes>> + Send + 'static) {
    let (entry_tx, entry_rx) = mpsc::channel(1);
    let (chunk_tx, chunk_rx) = mpsc::channel(CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || write_zip(entry_rx, chunk_tx));
    let chunks =
        futures_util::stream::unfold(
            chunk_rx,
            |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) },
        );
    (entry_tx, chunks)
}

/// The blocking side: compresses entries as they come and sends the archive in chunks.
fn write_zip(mut entries: mpsc::Receiver<io::Result<ArchiveEntry>>, chunks: mpsc::Sender<io::Result<Bytes>>) {
    let sink = ChunkWriter { chunks: chunks.clone() };
    let mut zip = ZipWriter::new_stream(BufWriter::with_capacity(CHUNK_BYTES, sink));
    let outcome = (|| -> io::Result<()> {
        while let Some(entry) = entries.blocking_recv() {
            match entry? {
                ArchiveEntry::Folder { name, modified } => {
                    let options = options(modified).unix_permissions(0o755);
                    zip.add_directory(name, options).map_err(io::Error::other)?;
                }
                ArchiveEntry::File { name, modified, bytes } => {
                    let method = if compressible(&name) {
                        CompressionMethod::Deflated
                    } else {
                        CompressionMethod::Stored
                    };
                    let options = options(modified)
                        .compression_method(method)
                        .unix_permissions(0o644)
                        .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
                    zip.start_file(name, options).map_err(io::Error::other)?;
                    zip.write_all(&bytes)?;
                }
            }
        }
        let mut out = zip.finish().map_err(io::Error::other)?.into_inner();
        out.flush()
    })();
    if let Err(e) = outcome {
        // Nobody is listening any more when the client left; otherwise the stream ends with
        // this error and the response is cut off.
        let _ = chunks.blocking_send(Err(e));
    }
}

/// The options every entry shares: its time (zip keeps local time without a zone; this is
/// UTC, and zip cannot hold times before 1980 or after 2107).
fn options(modified: Timestamp) -> SimpleFileOptions {
    let year = u16::try_from(modified.year()).unwrap_or(1980).clamp(1980, 2107);
    let time = DateTime::from_date_and_time(
        year,
        modified.month() as u8,
        modified.day() as u8,
        modified.hour() as u8,
        modified.minute() as u8,
        modified.second() as u8,
    )
    .unwrap_or_default();
    SimpleFileOptions::default().last_modified_time(time)
}

/// Whether deflating the file is worth it: not for formats that are compressed already.
fn compressible(name: &str) -> bool {
    const COMPRESSED: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "webp", "zip", "gz", "tgz", "bz2", "xz", "zst", "parquet", "xlsx",
        "docx", "pdf",
    ];
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    !COMPRESSED.contains(&extension.as_str())
}

/// Sends what is written as chunks; fails once the receiving side is gone.
struct ChunkWriter {
    chunks: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.chunks
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the download was abandoned"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use chrono::TimeZone;
    use futures_util::StreamExt;

    use super::*;

    fn at(year: i32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(year, 3, 4, 5, 6, 8).single().expect("time")
    }

    async fn collect(stream: impl Stream<Item = io::Result<Bytes>>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn entries_come_back_out_of_the_archive() {
        let (tx, stream) = zip_stream();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let feed = tokio::spawn({
            let big = big.clone();
            async move {
                let entries = [
                    ArchiveEntry::Folder { name: "data/".into(), modified: at(2026) },
                    ArchiveEntry::File { name: "data/big.bin".into(), modified: at(2026), bytes: big },
                    ArchiveEntry::File {
                        name: "plot.png".into(),
                        modified: at(1970),
                        bytes: b"png".to_vec(),
                    },
                    ArchiveEntry::Folder { name: "empty/".into(), modified: at(2026) },
                ];
                for entry in entries {
                    tx.send(Ok(entry)).await.expect("send");
                }
            }
        });
        let bytes = collect(stream).await.expect("archive");
        feed.await.expect("feed");
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).expect("a valid zip");
        let names: Vec<String> = archive.file_names().map(|n| n.expect("name").into_owned()).collect();
        assert_eq!(names, ["data/", "data/big.bin", "plot.png", "empty/"]);
        let mut file = archive.by_name("data/big.bin").expect("big");
        assert_eq!(file.compression(), CompressionMethod::Deflated);
        let time = file.last_modified().expect("time");
        assert_eq!(
            (time.year(), time.month(), time.day(), time.hour(), time.minute(), time.second()),
            (2026, 3, 4, 5, 6, 8)
        );
        let mut read = Vec::new();
        file.read_to_end(&mut read).expect("read");
        assert_eq!(read, big);
        drop(file);
        let png = archive.by_name("plot.png").expect("png");
        assert_eq!(png.compression(), CompressionMethod::Stored, "compressed formats are stored");
        assert_eq!(png.last_modified().map(|t| t.year()), Some(1980), "times before 1980 are clamped");
    }

    #[tokio::test]
    async fn a_failure_while_feeding_ends_the_stream_with_an_error() {
        let (tx, stream) = zip_stream();
        tx.send(Ok(ArchiveEntry::File { name: "a.txt".into(), modified: at(2026), bytes: b"a".to_vec() }))
            .await
            .expect("send");
        tx.send(Err(io::Error::other("the database went away"))).await.expect("send");
        drop(tx);
        let err = collect(stream).await.expect_err("the archive must not look complete");
        assert!(err.to_string().contains("database went away"), "{err}");
    }
}
