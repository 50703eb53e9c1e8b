//! Photo ingest (server/src/photos/ingest.rs, compiled in as is): any bytes uploaded as a photo
//! must give a processed photo or an error, never a panic or runaway memory, and what comes out
//! is a bounded JPEG without the original's metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Stands in for the server's `photos::Sha256Hex`, the one item of its parent module that ingest
/// uses (`super::Sha256Hex`, here the crate root), only to check an upload's hash, which this
/// target does not fuzz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("{} bytes", bytes.len()))
    }
}

impl std::fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[allow(dead_code)]
#[path = "../../server/src/photos/ingest.rs"]
mod ingest;

use ingest::Limits;

fuzz_target!(|bytes: &[u8]| {
    // Small limits keep each run fast; the checks are the same ones the defaults go through.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_width: 2_000,
        max_height: 2_000,
        max_pixels: 1_000_000,
        max_alloc: 64 << 20,
    };
    if let Ok(processed) = ingest::process(bytes, &limits) {
        let evidence = &processed.evidence;
        assert!(evidence.starts_with(&[0xff, 0xd8, 0xff]), "evidence is not a JPEG");
        // Only a JFIF header: no EXIF (APP1) segment survives.
        assert!(!evidence.windows(6).any(|w| w == b"Exif\0\0"), "EXIF survived");
        assert!(ingest::sniff(&processed.thumb).is_ok());
        let (w, h) = processed.evidence_size;
        assert!(w.max(h) <= ingest::EVIDENCE_LONG_EDGE && w <= processed.width.max(processed.height));
    }
});
