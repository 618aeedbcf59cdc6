//! Tar headers for home entries, as GNU tar and the `tar` crate both read
//! them: ustar headers, a PAX `path`/`linkpath` record when a name does not
//! fit, base-256 numbers past the octal fields, and GNU old-style sparse
//! headers (`S`) so holes are not stored.

use std::io::{self, Write};

use tar::{EntryType, Header};

use super::index::{Entry, Type};

pub const BLOCK: usize = 512;
const USTAR_NAME: usize = 100;
/// Sparse slots in a GNU header, and in each extension block after it.
const GNU_SLOTS: usize = 4;
const EXT_SLOTS: usize = 21;

/// The name an entry has inside its chunk: `./` for the home's root,
/// directories with a trailing `/`.
pub fn tar_name(e: &Entry) -> Vec<u8> {
    match (e.kind, e.path.0.as_slice()) {
        (_, b".") => b"./".to_vec(),
        (Type::Dir, p) => [p, b"/"].concat(),
        (_, p) => p.to_vec(),
    }
}

/// Writes every header block of `e`: PAX records, the header itself, and a
/// sparse map's extension blocks. The caller then writes `stored` bytes of
/// data and [`pad`]s.
pub fn write_headers(
    out: &mut impl Write,
    e: &Entry,
    stored: u64,
    sparse: Option<&[(u64, u64)]>,
) -> io::Result<()> {
    let name = tar_name(e);
    let link = e.target.as_ref().map(|t| t.0.as_slice()).unwrap_or(b"");
    let mut pax: Vec<(&str, &[u8])> = Vec::new();
    if name.len() > USTAR_NAME {
        pax.push(("path", &name));
    }
    if link.len() > USTAR_NAME {
        pax.push(("linkpath", link));
    }
    if !pax.is_empty() {
        write_pax(out, &pax)?;
    }
    let mut h = if sparse.is_some() {
        Header::new_gnu()
    } else {
        Header::new_ustar()
    };
    {
        let old = h.as_old_mut();
        let n = name.len().min(USTAR_NAME);
        old.name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(USTAR_NAME);
        old.linkname[..l].copy_from_slice(&link[..l]);
    }
    h.set_mode(e.mode);
    h.set_uid(u64::from(e.uid));
    h.set_gid(u64::from(e.gid));
    h.set_mtime(u64::try_from(e.mtime).unwrap_or(0));
    h.set_size(stored);
    h.set_entry_type(match (e.kind, sparse) {
        (Type::File, Some(_)) => EntryType::GNUSparse,
        (Type::File, None) => EntryType::Regular,
        (Type::Dir, _) => EntryType::Directory,
        (Type::Symlink, _) => EntryType::Symlink,
        (Type::Hardlink, _) => EntryType::Link,
    });
    let mut ext_blocks = Vec::new();
    if let (Some(map), Some(gnu)) = (sparse, h.as_gnu_mut()) {
        put_num(&mut gnu.realsize, e.size);
        let (first, rest) = map.split_at(map.len().min(GNU_SLOTS));
        for (slot, (off, len)) in gnu.sparse.iter_mut().zip(first) {
            put_num(&mut slot.offset, *off);
            put_num(&mut slot.numbytes, *len);
        }
        gnu.isextended[0] = u8::from(!rest.is_empty());
        let mut groups = rest.chunks(EXT_SLOTS).peekable();
        while let Some(group) = groups.next() {
            let mut block = [0u8; BLOCK];
            for (i, (off, len)) in group.iter().enumerate() {
                put_num(&mut block[i * 24..i * 24 + 12], *off);
                put_num(&mut block[i * 24 + 12..i * 24 + 24], *len);
            }
            block[EXT_SLOTS * 24] = u8::from(groups.peek().is_some());
            ext_blocks.extend_from_slice(&block);
        }
    }
    h.set_cksum();
    out.write_all(h.as_bytes())?;
    out.write_all(&ext_blocks)
}

/// Zeros after `len` data bytes, up to the next block.
pub fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (len % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

/// Tar's end-of-archive marker: two zero blocks.
pub fn finish(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&[0u8; 2 * BLOCK])
}

/// One PAX extended header (`x`) carrying `records`.
fn write_pax(out: &mut impl Write, records: &[(&str, &[u8])]) -> io::Result<()> {
    let mut data = Vec::new();
    for (key, value) in records {
        // "<len> <key>=<value>\n", where <len> counts its own digits.
        let rest = 3 + key.len() + value.len();
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut h = Header::new_ustar();
    h.as_old_mut().name[..13].copy_from_slice(b"./PaxHeaders/");
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_entry_type(EntryType::XHeader);
    h.set_cksum();
    out.write_all(h.as_bytes())?;
    out.write_all(&data)?;
    pad(out, data.len() as u64)
}

/// Largest PAX extended header a chunk may carry: a `path` and a
/// `linkpath` of at most an index line each, and their record framing.
pub const MAX_PAX_BYTES: u64 = 2 * super::index::MAX_LINE_BYTES as u64 + 1024;

/// Checks a chunk's tar stream header by header as the `tar` crate reads
/// it, so no header the crate would read whole can be larger than this
/// format writes. The crate reads GNU long names and PAX records into
/// memory in full, bounded only by the stream; here a GNU long name or
/// link (`L`, `K`) or a global PAX header (`g`) is refused, since r2r
/// never writes one, a PAX header (`x`) may hold at most
/// [`MAX_PAX_BYTES`], and only the `path` and `linkpath` records r2r
/// writes: a `size` record would make the crate and this guard disagree
/// on where the next header starts.
pub struct HeaderGuard<R> {
    inner: R,
    state: GuardState,
}

enum GuardState {
    /// Collecting a header block.
    Header {
        block: Box<[u8; BLOCK]>,
        have: usize,
    },
    /// Passing `left` bytes of data and padding; a PAX header's records
    /// (`want` bytes of them) are kept to be checked.
    Data { left: u64, pax: Option<Pax> },
    /// GNU sparse extension blocks after a sparse header, then its data.
    SparseExt {
        block: Box<[u8; BLOCK]>,
        have: usize,
        data: u64,
    },
}

impl<R> HeaderGuard<R> {
    pub fn new(inner: R) -> HeaderGuard<R> {
        HeaderGuard {
            inner,
            state: GuardState::header(),
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl GuardState {
    fn header() -> GuardState {
        GuardState::Header {
            block: Box::new([0u8; BLOCK]),
            have: 0,
        }
    }
}

fn refused(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Data plus padding to the next block.
fn padded(size: u64) -> io::Result<u64> {
    size.checked_next_multiple_of(BLOCK as u64)
        .ok_or_else(|| refused("a tar entry's size overflows".into()))
}

/// What follows a complete header block.
fn after_header(block: &[u8; BLOCK]) -> io::Result<GuardState> {
    if block.iter().all(|&b| b == 0) {
        return Ok(GuardState::header());
    }
    let h = Header::from_byte_slice(block);
    let size = h.entry_size()?;
    match h.entry_type() {
        EntryType::GNULongName | EntryType::GNULongLink => Err(refused(
            "holds a GNU long-name header, which r2r never writes; refused".into(),
        )),
        EntryType::XGlobalHeader => Err(refused(
            "holds a global PAX header, which r2r never writes; refused".into(),
        )),
        EntryType::XHeader if size > MAX_PAX_BYTES => Err(refused(format!(
            "holds a {size}-byte PAX header; at most {MAX_PAX_BYTES} are allowed"
        ))),
        EntryType::XHeader => Ok(GuardState::Data {
            left: padded(size)?,
            pax: Some(Pax {
                data: Vec::with_capacity(size as usize),
                want: size as usize,
            }),
        }),
        EntryType::GNUSparse if extended(h.as_gnu().map_or(0, |g| g.isextended[0]))? => {
            Ok(GuardState::SparseExt {
                block: Box::new([0u8; BLOCK]),
                have: 0,
                data: padded(size)?,
            })
        }
        _ => Ok(GuardState::Data {
            left: padded(size)?,
            pax: None,
        }),
    }
}

/// A sparse map's "more blocks follow" flag. The `tar` crate takes only 1
/// as set; any other non-zero value would make it and this guard frame the
/// stream differently, so it is refused.
fn extended(flag: u8) -> io::Result<bool> {
    match flag {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(refused(format!(
            "holds a sparse map whose extension flag is {n}, neither 0 nor 1; refused"
        ))),
    }
}

/// A PAX header's records as they arrive.
struct Pax {
    data: Vec<u8>,
    want: usize,
}

/// A PAX header may carry only the records r2r writes.
fn check_pax(records: &[u8]) -> io::Result<()> {
    for record in tar::PaxExtensions::new(records) {
        let record = record.map_err(|_| refused("holds a malformed PAX header".into()))?;
        match record.key_bytes() {
            b"path" | b"linkpath" => {}
            key => {
                return Err(refused(format!(
                    "holds a PAX record {:?}, which r2r never writes; refused",
                    String::from_utf8_lossy(&key[..key.len().min(64)])
                )));
            }
        }
    }
    Ok(())
}

impl GuardState {
    /// Observes `bytes`, the next bytes of the stream.
    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self {
                GuardState::Header { block, have } | GuardState::SparseExt { block, have, .. } => {
                    let k = (BLOCK - *have).min(bytes.len());
                    block[*have..*have + k].copy_from_slice(&bytes[..k]);
                    *have += k;
                    bytes = &bytes[k..];
                    if *have == BLOCK {
                        *self = match self {
                            GuardState::SparseExt { block, data, .. }
                                if extended(block[EXT_SLOTS * 24])? =>
                            {
                                GuardState::SparseExt {
                                    block: Box::new([0u8; BLOCK]),
                                    have: 0,
                                    data: *data,
                                }
                            }
                            GuardState::SparseExt { data, .. } => GuardState::Data {
                                left: *data,
                                pax: None,
                            },
                            GuardState::Header { block, .. } => after_header(block)?,
                            GuardState::Data { .. } => GuardState::header(),
                        };
                    }
                }
                GuardState::Data { left, pax } => {
                    let k = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    if let Some(p) = pax.as_mut() {
                        let keep = (p.want - p.data.len()).min(k);
                        p.data.extend_from_slice(&bytes[..keep]);
                    }
                    *left -= k as u64;
                    bytes = &bytes[k..];
                    if *left == 0 {
                        if let Some(p) = pax.take() {
                            check_pax(&p.data)?;
                        }
                        *self = GuardState::header();
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: io::Read> io::Read for HeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.observe(&buf[..n])?;
        Ok(n)
    }
}

/// A 12-byte numeric field: octal when it fits in 11 digits, else GNU
/// base-256.
fn put_num(field: &mut [u8], v: u64) {
    if v < 8u64.pow(11) {
        let s = format!("{v:011o}\0");
        field.copy_from_slice(s.as_bytes());
    } else {
        field.fill(0);
        field[0] = 0x80;
        let bytes = v.to_be_bytes();
        let n = field.len();
        field[n - 8..].copy_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_length_counts_itself() {
        let mut out = Vec::new();
        write_pax(&mut out, &[("path", &[b'x'; 95])]).unwrap();
        let data = &out[BLOCK..];
        let text = std::str::from_utf8(&data[..data.iter().position(|&b| b == b'\n').unwrap() + 1])
            .unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), text.len());
    }

    #[test]
    fn numbers_switch_to_base256() {
        let mut f = [0u8; 12];
        put_num(&mut f, (8 << 30) - 1);
        assert_eq!(&f[..], b"77777777777\0");
        put_num(&mut f, 9 << 30);
        assert_eq!(f[0], 0x80);
        assert_eq!(u64::from_be_bytes(f[4..].try_into().unwrap()), 9 << 30);
    }
}
