//! SHA-256 over streams, with the byte count alongside.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// Buffer for streaming copies and hashing: large enough to amortise
/// syscalls, small enough that two per core stay far under the memory budget.
pub const BUF_BYTES: usize = 256 << 10;

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    pub fn finish(self) -> (String, u64, R) {
        (hex(&self.hasher.finalize()), self.count, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes everything `reader` yields; returns lowercase hex and the length.
pub fn sha256_reader(reader: impl Read) -> io::Result<(String, u64)> {
    let mut r = HashingReader::new(reader);
    let mut buf = vec![0u8; BUF_BYTES];
    while r.read(&mut buf)? != 0 {}
    let (hex, n, _) = r.finish();
    Ok((hex, n))
}

pub fn sha256_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (h, n) = sha256_reader(&b"abc"[..]).unwrap();
        assert_eq!((h.as_str(), n), (sha256_bytes(b"abc").as_str(), 3));
    }
}
