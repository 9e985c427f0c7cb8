//! Content-defined chunking (FastCDC v2020, normalization level 1) with pinned parameters.
//!
//! The parameters are part of the storage format: changing them changes every chunk id, so they are pinned by a
//! golden test. A [`Chunker`] reads any `Read` in large blocks and yields the chunks of each block; boundaries do
//! not depend on how the reader hands out bytes.

use std::io::{self, Read};
use std::ops::Range;

use fastcdc::v2020::FastCDC;

/// Smallest chunk (except a file's last one).
pub const MIN_SIZE: usize = 16 * 1024;
/// Average chunk size the cut mask aims for.
pub const AVG_SIZE: usize = 64 * 1024;
/// Largest chunk.
pub const MAX_SIZE: usize = 256 * 1024;
/// How many bytes a [`Chunker`] reads before it cuts.
pub const BLOCK_SIZE: usize = 8 * 1024 * 1024;

/// Splits `data` into chunk ranges; all of `data` is covered, the last chunk may be short.
pub fn chunk_ranges(data: &[u8]) -> Vec<Range<usize>> {
    FastCDC::new(data, MIN_SIZE, AVG_SIZE, MAX_SIZE)
        .map(|c| c.offset..c.offset + c.length)
        .collect()
}

/// A block of input and the chunks cut from it. `data` is shared so chunk work can go to other threads.
pub struct Block {
    pub data: std::sync::Arc<Vec<u8>>,
    pub chunks: Vec<Range<usize>>,
    /// Offset of `data[0]` in the whole stream.
    pub offset: u64,
}

/// Reads a stream in blocks and cuts each into content-defined chunks.
///
/// The last chunk of a block that is not the end of the stream is held back and cut again with the next block,
/// so every boundary is the one the chunker would find over the whole stream at once.
pub struct Chunker<R> {
    reader: R,
    block_size: usize,
    carry: Vec<u8>,
    offset: u64,
    eof: bool,
    /// Expected stream length, to size buffers; reading never relies on it.
    size_hint: Option<u64>,
}

impl<R: Read> Chunker<R> {
    pub fn new(reader: R) -> Self {
        Self::with_block_size(reader, BLOCK_SIZE)
    }

    /// `block_size` is raised to twice the largest chunk so every full block yields at least one chunk.
    pub fn with_block_size(reader: R, block_size: usize) -> Self {
        Chunker {
            reader,
            block_size: block_size.max(2 * MAX_SIZE),
            carry: Vec::new(),
            offset: 0,
            eof: false,
            size_hint: None,
        }
    }

    /// Sizes read buffers for a stream of about `len` bytes (a file's length), so small files cost little.
    pub fn size_hint(mut self, len: u64) -> Self {
        self.size_hint = Some(len);
        self
    }

    /// The next block of chunks, or `None` at the end of the stream. An empty stream yields no block.
    pub fn next_block(&mut self) -> io::Result<Option<Block>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        let mut buf = std::mem::take(&mut self.carry);
        if !self.eof {
            let want = self.block_size - buf.len();
            let expected = match self.size_hint {
                // One byte more than expected, so a file of exactly the hinted size needs no regrowth.
                Some(len) => {
                    (len.saturating_sub(self.offset + buf.len() as u64) as usize + 1).min(want)
                }
                None => want,
            };
            buf.reserve_exact(expected);
            // `read_to_end` grows the buffer as data arrives if the hint was short.
            let got = (&mut self.reader).take(want as u64).read_to_end(&mut buf)?;
            if got < want {
                self.eof = true;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let mut chunks = chunk_ranges(&buf);
        if !self.eof {
            // The last chunk may have been cut short by the end of the block: cut it again with the next one.
            let last = chunks.pop().expect("a full block has chunks");
            self.carry.extend_from_slice(&buf[last.clone()]);
            buf.truncate(last.start);
        }
        let block = Block {
            data: std::sync::Arc::new(buf),
            chunks,
            offset: self.offset,
        };
        self.offset += block.data.len() as u64;
        Ok(Some(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call.
    pub(crate) struct Trickle<'a> {
        pub data: &'a [u8],
        pub step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Deterministic pseudo-random bytes (SplitMix64), so golden values do not depend on any RNG crate.
    pub(crate) fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    fn stream_ranges(data: &[u8], step: usize, block: usize) -> Vec<Range<u64>> {
        let mut c = Chunker::with_block_size(Trickle { data, step }, block);
        let mut out = Vec::new();
        while let Some(b) = c.next_block().unwrap() {
            for r in b.chunks {
                out.push(b.offset + r.start as u64..b.offset + r.end as u64);
            }
        }
        out
    }

    #[test]
    fn golden_boundaries_of_seeded_input() {
        // Pinned: these numbers are part of the storage format (docs/format.md, "Chunking").
        let data = seeded_bytes(42, 1 << 20);
        let ends: Vec<usize> = chunk_ranges(&data).iter().map(|r| r.end).collect();
        assert_eq!(
            ends, GOLDEN_ENDS,
            "chunk boundaries changed: this breaks dedup against every existing store"
        );
    }

    const GOLDEN_ENDS: &[usize] = &[
        106594, 181802, 200872, 306095, 372155, 465050, 621080, 663787, 800417, 920805, 990452,
        1040563, 1048576,
    ];

    #[test]
    fn boundaries_do_not_depend_on_read_sizes() {
        let data = seeded_bytes(7, 3 * MAX_SIZE * 4 + 12345);
        let whole: Vec<Range<u64>> = chunk_ranges(&data)
            .into_iter()
            .map(|r| r.start as u64..r.end as u64)
            .collect();
        for step in [1usize, 37, 255, 4096, 1 << 20] {
            assert_eq!(stream_ranges(&data, step, 0), whole, "step {step}");
        }
    }

    #[test]
    fn empty_stream_has_no_blocks() {
        let mut c = Chunker::new(&b""[..]);
        assert!(c.next_block().unwrap().is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn chunks_reassemble_to_the_input(
            seed in 0u64..1000,
            len in 0usize..(3 * MAX_SIZE),
            step in 1usize..70_000,
            zeros in proptest::bool::ANY,
            hint in proptest::option::of(0u64..(4 * MAX_SIZE as u64)),
        ) {
            let data = if zeros { vec![0u8; len] } else { seeded_bytes(seed, len) };
            let mut c = Chunker::with_block_size(Trickle { data: &data, step }, 0);
            if let Some(h) = hint {
                c = c.size_hint(h); // a wrong hint only sizes buffers
            }
            let mut out = Vec::new();
            let mut expected_offset = 0u64;
            while let Some(b) = c.next_block().unwrap() {
                proptest::prop_assert_eq!(b.offset, expected_offset);
                for r in &b.chunks {
                    proptest::prop_assert!(r.len() <= MAX_SIZE);
                    out.extend_from_slice(&b.data[r.clone()]);
                }
                expected_offset += b.data.len() as u64;
            }
            proptest::prop_assert_eq!(out, data);
        }
    }
}
