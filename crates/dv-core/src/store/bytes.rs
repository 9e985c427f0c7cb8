//! A bounds-checked little-endian reader for the binary formats. Every read of untrusted bytes goes through it,
//! so a truncated or oversized input is an error, never a panic.

use crate::{Error, ObjectId, Result};

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'a str) -> Self {
        Reader { data, pos: 0, what }
    }

    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::format(self.what, format!("{message} (at byte {})", self.pos))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.error(format!("truncated: wanted {n} more bytes")));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub fn id(&mut self) -> Result<ObjectId> {
        Ok(ObjectId(self.take(32)?.try_into().unwrap()))
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Checks the magic tag and returns the format version, refusing versions newer than `supported`.
    pub fn header(&mut self, magic: &[u8; 4], supported: u32) -> Result<u32> {
        let found = self
            .take(4)
            .map_err(|_| self.error("too short for a header"))?;
        if found != magic {
            return Err(self.error(format!(
                "bad magic {:?}, expected {:?}",
                String::from_utf8_lossy(found),
                String::from_utf8_lossy(magic)
            )));
        }
        let version = self.u32()?;
        if version == 0 {
            return Err(self.error("format version 0 is invalid"));
        }
        if version > supported {
            return Err(Error::NewerFormat {
                what: self.what.to_string(),
                found: version.into(),
                supported: supported.into(),
            });
        }
        Ok(version)
    }

    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(self.error(format!("{} trailing bytes", self.remaining())));
        }
        Ok(())
    }
}
