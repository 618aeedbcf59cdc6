//! Finding the data in a sparse file, so its holes are neither read nor
//! stored.

use std::fs::File;
use std::io;

use rustix::fs::{SeekFrom, seek};

/// Tar's block: GNU sparse maps need every data segment but the last to be
/// a multiple of it.
const BLOCK: u64 = 512;

/// The data segments `(offset, length)` of a file of `size` bytes, from
/// `SEEK_DATA`/`SEEK_HOLE`, widened to 512-byte boundaries and merged. A
/// file that ends in a hole gets a final `(size, 0)` segment, as GNU tar
/// writes it, so the map always reaches the file's size.
pub fn data_segments(file: &File, size: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let start = match seek(file, SeekFrom::Data(pos)) {
            Ok(s) => s,
            // ENXIO: no data at or after `pos`.
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        if start >= size {
            break;
        }
        let end = seek(file, SeekFrom::Hole(start))?.min(size);
        let lo = start / BLOCK * BLOCK;
        let hi = end.div_ceil(BLOCK).saturating_mul(BLOCK).min(size);
        match out.last_mut() {
            Some(last) if last.0 + last.1 >= lo => last.1 = hi.max(last.0 + last.1) - last.0,
            _ => out.push((lo, hi - lo)),
        }
        pos = end.max(start + 1);
    }
    if out.last().is_none_or(|l| l.0 + l.1 < size) {
        out.push((size, 0));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    #[test]
    fn maps_holes_and_keeps_data() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"head").unwrap();
        f.seek(io::SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(b"tail").unwrap();
        let size = (64 << 20) + 4;
        let segs = data_segments(&f, size).unwrap();
        let data: u64 = segs.iter().map(|s| s.1).sum();
        assert!(data < 1 << 20, "{segs:?}");
        assert_eq!(segs[0].0, 0);
        let last = segs.last().unwrap();
        assert_eq!(last.0 + last.1, size);
        for w in segs.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0 && w[0].1 % BLOCK == 0, "{segs:?}");
        }
    }
}
