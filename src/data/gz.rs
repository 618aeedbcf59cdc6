//! A gzip writer that can change compression level between files.
//!
//! Already-compressed data (images, archives, parquet) gains nothing from
//! deflate and costs most of its time, so it is stored (level 0). Changing
//! level ends one gzip member and starts the next: a file of several
//! concatenated members is still one gzip file to `gzip -d`, `tar -xz` and
//! every decoder r2r uses (RFC 1952, 2.2).

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

pub struct GzWriter<W: Write> {
    enc: Option<GzEncoder<W>>,
    level: u32,
}

impl<W: Write> GzWriter<W> {
    pub fn new(inner: W, level: u32) -> GzWriter<W> {
        GzWriter {
            enc: Some(GzEncoder::new(inner, Compression::new(level))),
            level,
        }
    }

    /// Makes what follows compress at `level`.
    pub fn set_level(&mut self, level: u32) -> io::Result<()> {
        if level == self.level {
            return Ok(());
        }
        let inner = self.take()?.finish()?;
        self.enc = Some(GzEncoder::new(inner, Compression::new(level)));
        self.level = level;
        Ok(())
    }

    /// Ends the last member and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.take()?.finish()
    }

    fn take(&mut self) -> io::Result<GzEncoder<W>> {
        self.enc
            .take()
            .ok_or_else(|| io::Error::other("gzip writer used after an error"))
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.enc {
            Some(e) => e.write(buf),
            None => Err(io::Error::other("gzip writer used after an error")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.enc {
            Some(e) => e.write_all(buf),
            None => Err(io::Error::other("gzip writer used after an error")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.enc {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }
}

/// Bytes probed to decide whether a file compresses.
pub const PROBE_BYTES: usize = 64 << 10;

/// True when the first bytes of a file shrink by less than 3% at the fastest
/// level: then deflating the rest is wasted time.
pub fn incompressible(sample: &[u8]) -> bool {
    let sample = &sample[..sample.len().min(PROBE_BYTES)];
    let mut c = flate2::Compress::new(Compression::fast(), false);
    let mut out = vec![0u8; sample.len() + 1024];
    if c.compress(sample, &mut out, flate2::FlushCompress::Finish)
        .is_err()
    {
        return false;
    }
    c.total_out() * 100 > sample.len() as u64 * 97
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn members_concatenate_into_one_stream() {
        let mut w = GzWriter::new(Vec::new(), 6);
        w.write_all(b"hello ").unwrap();
        w.set_level(0).unwrap();
        w.write_all(b"stored ").unwrap();
        w.set_level(6).unwrap();
        w.write_all(b"world").unwrap();
        let bytes = w.finish().unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello stored world");
    }

    #[test]
    fn probe_tells_text_from_noise() {
        let text = b"a,b,c\n1,2,3\n".repeat(5000);
        assert!(!incompressible(&text));
        let mut x = 0x2545F4914F6CDD1Du64;
        let noise: Vec<u8> = (0..PROBE_BYTES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(incompressible(&noise));
    }
}
