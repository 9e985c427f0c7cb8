//! Run files of the external sort: a sorted batch of (key, row) pairs spilled to disk, zstd-compressed, read
//! back record by record, and removed when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::{Error, Result};

/// A (key, row) pair: an encoded key and an encoded row.
pub type KeyedRow = (Vec<u8>, Vec<u8>);

/// The zstd window of run files (2^17 bytes): small, so each open run's decoder stays small.
const RUN_WINDOW_LOG: u32 = 17;

/// A spilled run on disk, removed when dropped (on success and on error alike). Its name is a temporary name
/// (`.table-run.dv-tmp-<pid>-<n>`), so a crash's leftover is removed when the store is next opened.
pub(super) struct RunFile {
    path: PathBuf,
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes a run: records of (u32 LE key length, key, u32 LE row length, row), sorted, through zstd level 1.
pub(super) struct RunWriter {
    run: RunFile,
    out: BufWriter<zstd::Encoder<'static, File>>,
}

impl RunWriter {
    pub(super) fn create(dir: &Path) -> Result<RunWriter> {
        let run = RunFile {
            path: crate::fsutil::temp_path_beside(&dir.join("table-run")),
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        let file = opts.open(&run.path).at(&run.path)?;
        let mut enc = zstd::Encoder::new(file, 1).at(&run.path)?;
        enc.window_log(RUN_WINDOW_LOG).at(&run.path)?;
        Ok(RunWriter {
            run,
            out: BufWriter::with_capacity(128 * 1024, enc),
        })
    }

    pub(super) fn write(&mut self, key: &[u8], row: &[u8]) -> Result<()> {
        for part in [key, row] {
            let len = u32::try_from(part.len())
                .map_err(|_| Error::Internal("a table row of 4 GiB or more".into()))?;
            self.out
                .write_all(&len.to_le_bytes())
                .and_then(|_| self.out.write_all(part))
                .at(&self.run.path)?;
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<RunFile> {
        let RunWriter { run, out } = self;
        let enc = out
            .into_inner()
            .map_err(|e| Error::io(&run.path, e.into_error()))?;
        enc.finish().at(&run.path)?;
        Ok(run)
    }
}

/// Reads a run back, record by record.
pub(super) struct RunReader {
    run: RunFile,
    input: BufReader<zstd::Decoder<'static, BufReader<File>>>,
}

impl RunReader {
    pub(super) fn open(run: RunFile) -> Result<RunReader> {
        let file = File::open(&run.path).at(&run.path)?;
        let dec =
            zstd::Decoder::with_buffer(BufReader::with_capacity(64 * 1024, file)).at(&run.path)?;
        Ok(RunReader {
            input: BufReader::with_capacity(64 * 1024, dec),
            run,
        })
    }

    pub(super) fn next(&mut self) -> Result<Option<KeyedRow>> {
        fn part(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
            let mut len = [0u8; 4];
            r.read_exact(&mut len)?;
            let mut v = vec![0u8; u32::from_le_bytes(len) as usize];
            r.read_exact(&mut v)?;
            Ok(v)
        }
        let path = &self.run.path;
        if self.input.fill_buf().at(path)?.is_empty() {
            return Ok(None);
        }
        let key = part(&mut self.input).at(path)?;
        let row = part(&mut self.input).at(path)?;
        Ok(Some((key, row)))
    }
}
