//! A screen in front of Automerge's decoder for bytes that come from peers.
//!
//! Automerge 0.12 trusts the sizes written inside its chunks: fuzzing found a 30-byte "bundle"
//! chunk whose run-length column makes the loader reserve gigabytes (an allocation failure
//! aborts the process: `catch_unwind` cannot help), and DEFLATE-compressed chunks or columns can
//! inflate a 4 MiB frame a thousandfold. Before any peer bytes reach Automerge this walks their
//! chunks (magic, checksum, type, LEB128 length, body) and refuses:
//! - a chunk that is not a document (0), change (1) or compressed change (2): bundles (3) are
//!   Automerge's experimental format, which neither automerge-repo's sync nor sansang produces;
//! - a chunk whose declared length runs past the bytes there are;
//! - compressed data (a compressed change, a document's compressed columns) that inflates past
//!   [`MAX_INFLATED_BYTES`] in all, measured by inflating into nothing, never into memory.

use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Inflated bytes one input may hold in all. A household document with years of edits is a few
/// hundred kilobytes; this leaves two orders of magnitude of room.
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;

/// Checks a run of Automerge chunks from a peer; the error says what is wrong with them.
pub fn chunks(bytes: &[u8]) -> Result<(), String> {
    let mut budget = MAX_INFLATED_BYTES;
    measure(bytes, &mut budget)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why [`measure`] refused bytes: they are not what Automerge writes, or they hold more than
/// the budget allows (the caller names the setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed(String),
    OverBudget(String),
}

impl Refusal {
    fn in_chunk(self, index: usize) -> Refusal {
        match self {
            Refusal::Malformed(e) => Refusal::Malformed(format!("chunk {index}: {e}")),
            Refusal::OverBudget(e) => Refusal::OverBudget(format!("chunk {index}: {e}")),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(e) | Refusal::OverBudget(e) => f.write_str(e),
        }
    }
}

impl From<String> for Refusal {
    fn from(e: String) -> Self {
        Refusal::Malformed(e)
    }
}

/// Checks a run of chunks as [`chunks`] does and weighs them: the bytes they hold once
/// inflated (a change's body as it is, a compressed change or column inflated). The weight is
/// taken from `budget`, shared by all the chunks one caller sends at once; going past it is an
/// [`Refusal::OverBudget`] naming the budget.
pub fn measure(bytes: &[u8], budget: &mut u64) -> Result<u64, Refusal> {
    let start = *budget;
    let mut rest = bytes;
    let mut index = 0;
    while !rest.is_empty() {
        let chunk = Reader::new(rest);
        let (body, after) = chunk
            .header()
            .map_err(|e| Refusal::Malformed(format!("chunk {index}: {e}")))?;
        let weighed = match body.kind {
            0 => take(budget, body.bytes.len() as u64).and_then(|()| document(body.bytes, budget)),
            1 => take(budget, body.bytes.len() as u64),
            2 => inflate(body.bytes, budget),
            3 => Err(Refusal::Malformed(
                "bundle chunks (Automerge's experimental format) are not accepted".to_owned(),
            )),
            other => Err(Refusal::Malformed(format!("unknown chunk type {other}"))),
        };
        weighed.map_err(|e| e.in_chunk(index))?;
        rest = after;
        index += 1;
    }
    Ok(start - *budget)
}

/// Takes `n` bytes from the budget.
fn take(budget: &mut u64, n: u64) -> Result<(), Refusal> {
    if n > *budget {
        return Err(Refusal::OverBudget(format!(
            "holds more than the {} bytes allowed at once",
            *budget
        )));
    }
    *budget -= n;
    Ok(())
}

struct Body<'a> {
    kind: u8,
    bytes: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// The chunk header: its type and body, and the bytes after the chunk.
    fn header(mut self) -> Result<(Body<'a>, &'a [u8]), String> {
        if self.take(4)? != MAGIC {
            return Err("not an Automerge chunk (wrong magic bytes)".to_owned());
        }
        self.take(4)?; // checksum: Automerge checks it
        let kind = self.take(1)?[0];
        let len = self.leb()?;
        let bytes = self.take_declared(len, "the chunk")?;
        Ok((Body { kind, bytes }, &self.bytes[self.at..]))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| "the chunk ends early".to_owned())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn take_declared(&mut self, len: u64, what: &str) -> Result<&'a [u8], String> {
        let left = self.bytes.len() - self.at;
        match usize::try_from(len) {
            Ok(n) if n <= left => self.take(n),
            _ => Err(format!("{what} declares {len} bytes where {left} are left")),
        }
    }

    fn leb(&mut self) -> Result<u64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f)
                .checked_shl(shift)
                .filter(|v| v >> shift == u64::from(byte & 0x7f))
                .ok_or_else(|| "a LEB128 number overflows".to_owned())?;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a LEB128 number overflows".to_owned())
    }

    /// A count followed by that many items: refuses counts that the bytes left cannot hold,
    /// each item taking at least `min_item` bytes.
    fn count(&mut self, min_item: usize) -> Result<u64, String> {
        let n = self.leb()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(min_item as u64) > left {
            return Err(format!(
                "a list declares {n} items where {left} bytes are left"
            ));
        }
        Ok(n)
    }
}

/// A document chunk: actors, heads, the change and op column specifications, then their data.
/// Compressed columns (bit 3 of the specification) are inflated against the budget.
fn document(body: &[u8], budget: &mut u64) -> Result<(), Refusal> {
    let mut r = Reader::new(body);
    for _ in 0..r.count(1)? {
        let len = r.leb()?;
        r.take_declared(len, "an actor id")?;
    }
    let heads = r.count(32)?;
    r.take_declared(heads * 32, "the heads")?;
    let mut columns = Vec::new();
    for _ in 0..2 {
        let n = r.count(2)?;
        for _ in 0..n {
            let spec = r.leb()?;
            let len = r.leb()?;
            columns.push((spec, len));
        }
    }
    for (spec, len) in columns {
        let data = r.take_declared(len, "a column")?;
        if spec & 0b1000 != 0 {
            inflate(data, budget)?;
        }
    }
    Ok(())
}

/// Inflates raw DEFLATE data into nothing, refusing it when it outgrows the budget.
fn inflate(data: &[u8], budget: &mut u64) -> Result<(), Refusal> {
    let mut decoder = flate2::read::DeflateDecoder::new(data).take(*budget + 1);
    let inflated = std::io::copy(&mut decoder, &mut std::io::sink())
        .map_err(|e| Refusal::Malformed(format!("compressed data does not inflate: {e}")))?;
    if inflated > *budget {
        return Err(Refusal::OverBudget(format!(
            "compressed data inflates past the {} bytes allowed",
            *budget
        )));
    }
    *budget -= inflated;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, kind]);
        let mut len = body.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend(body);
        out
    }

    #[test]
    fn real_documents_and_changes_pass() {
        let mut doc = AutoCommit::new();
        // Enough repeated text that Automerge compresses some columns when saving.
        for i in 0..400 {
            doc.put(ROOT, format!("k{i}"), "Nguyễn Văn A ".repeat(20))
                .unwrap();
        }
        let saved = doc.save();
        chunks(&saved).unwrap();
        let loaded = automerge::Automerge::load(&saved).unwrap();
        let mut changes = loaded.get_changes(&[]);
        let raw: Vec<u8> = changes
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        chunks(&raw).unwrap();
        // `bytes` is a change as it travels: compressed (chunk type 2) when it is large.
        let compressed: Vec<u8> = changes
            .iter_mut()
            .flat_map(|c| c.bytes().to_vec())
            .collect();
        assert_ne!(compressed, raw);
        chunks(&compressed).unwrap();
        chunks(&loaded.save_nocompress()).unwrap();
        // A document and a run of changes together, as a V2 sync message may carry them.
        let mut both = saved.clone();
        both.extend(&raw);
        chunks(&both).unwrap();
        chunks(&[]).unwrap();
    }

    #[test]
    fn the_fuzzing_finding_is_refused() {
        let bytes = include_bytes!("../../../fuzz/corpus/household_document/regression-bundle-oom");
        let e = chunks(bytes).unwrap_err();
        assert!(e.contains("bundle"), "{e}");
    }

    #[test]
    fn lengths_past_the_end_are_refused() {
        let mut c = chunk(1, &[1, 2, 3]);
        c.truncate(c.len() - 1);
        assert!(chunks(&c).unwrap_err().contains("declares 3 bytes"));
        // A document whose column declares more than the chunk holds.
        let e = chunks(&chunk(0, &[0, 0, 1, 0x10, 0xff, 0x7f, 0])).unwrap_err();
        assert!(e.contains("a column declares"), "{e}");
        // A list count the bytes cannot hold.
        let e = chunks(&chunk(0, &[0, 0xff, 0xff, 0x03])).unwrap_err();
        assert!(e.contains("declares"), "{e}");
        assert!(chunks(&[0x85, 0x6f, 0x4a]).is_err());
        assert!(
            chunks(b"not automerge at all")
                .unwrap_err()
                .contains("magic")
        );
        assert!(
            chunks(&chunk(9, &[]))
                .unwrap_err()
                .contains("unknown chunk type")
        );
    }

    #[test]
    fn compression_bombs_are_refused() {
        // 100 MiB of zeros deflate to about 100 KiB.
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..100 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 200_000);
        let e = chunks(&chunk(2, &bomb)).unwrap_err();
        assert!(
            e.contains("inflates past the 67108864 bytes allowed"),
            "{e}"
        );
        // The same as a document's compressed column (spec with bit 3 set).
        let mut body = vec![0, 0, 1, 0x18];
        let mut len = bomb.len() as u64;
        while len >= 0x80 {
            body.push((len & 0x7f) as u8 | 0x80);
            len >>= 7;
        }
        body.push(len as u8);
        body.push(0);
        body.extend(&bomb);
        let e = chunks(&chunk(0, &body)).unwrap_err();
        assert!(e.contains("inflates past"), "{e}");
        // Broken compressed data is refused too.
        assert!(
            chunks(&chunk(2, &[0xff; 16]))
                .unwrap_err()
                .contains("inflate")
        );
    }
}
