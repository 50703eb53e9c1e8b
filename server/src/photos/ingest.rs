//! The pure image-processing core of photo ingest: bytes in, a bounded evidence image, a
//! thumbnail and a perceptual hash out. No I/O besides the bytes it is given.
//!
//! [`process`] is blocking and CPU-bound: call it inside `tokio::task::spawn_blocking`, under a
//! semaphore that caps how many run at once. A 12-megapixel JPEG takes about 0.6 s when this code
//! is optimised (decode 0.15 s, resize 0.12 s, JPEG encoding 0.2 s), but 5–6 s in a debug build
//! even with optimised dependencies: the generic resize and JPEG-encoder code is instantiated in,
//! and compiled at the opt-level of, the crate that calls it. Peak memory is about 1.5 × the
//! decoded image (150 MB for the 50 MP limit in RGB, more for 16-bit PNGs), bounded by
//! [`Limits::max_alloc`] for the decoded pixels.
//!
//! What it does, in order, refusing as early and as cheaply as it can:
//! 1. size: an empty body is [`IngestError::Empty`], one over [`Limits::max_bytes`] is
//!    [`IngestError::TooLarge`] (the HTTP layer should refuse those before reading them whole);
//! 2. format: [`sniff`] reads the magic bytes, whatever the file name or content type claims.
//!    JPEG, PNG and WebP are accepted; HEIC/HEIF, AVIF, zip and everything else are
//!    [`IngestError::UnsupportedFormat`];
//! 3. dimensions: only the header is parsed, and width, height and pixel count are checked
//!    against [`Limits`] before any pixel buffer is allocated (a PNG claiming 30,000 × 30,000
//!    pixels costs a few microseconds), then the decode runs with `image::Limits` set (width,
//!    height and an allocation budget) as a second line of defence. A JPEG must also end with
//!    its end-of-image marker: the decoder would otherwise turn a truncated upload into a photo
//!    with a grey lower half and report success;
//! 4. the EXIF orientation is read from the decoder and applied, so the output is upright;
//! 5. the image is flattened to 8-bit RGB (transparency over white), resized with
//!    `fast_image_resize` (Lanczos3, never upscaling) to the evidence size (long edge ≤
//!    [`EVIDENCE_LONG_EDGE`]) and, from that, the thumbnail (long edge ≤ [`THUMB_LONG_EDGE`]);
//! 6. both are encoded as baseline JPEG by `image`'s encoder, which writes only a JFIF header:
//!    no EXIF, no GPS location, no XMP, no ICC profile, no comment: nothing of the original's
//!    metadata survives;
//! 7. a 64-bit perceptual hash of the thumbnail ([`Processed::phash`]) lets the server flag the
//!    same, or a nearly identical, photo attached to two different households: see [`hamming`]
//!    and [`NEAR_DUPLICATE_DISTANCE`].
//!
//! The original bytes are not part of the output: keeping them is the caller's decision.
//!
//! Colour: embedded ICC profiles are dropped, not applied, so a Display P3 photo is shown as if
//! it were sRGB (slightly less saturated). That is acceptable for evidence photos.

use std::io::Cursor;

use axum::http::StatusCode;
use fast_image_resize as fir;
use image::codecs::jpeg::JpegEncoder;
use image::error::{ImageError, LimitErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::Sha256Hex;

/// The long edge, in pixels, of the stored evidence image.
pub const EVIDENCE_LONG_EDGE: u32 = 2048;
/// The long edge, in pixels, of the thumbnail.
pub const THUMB_LONG_EDGE: u32 = 320;
/// JPEG quality of the evidence image: text on a document photo stays legible.
pub const EVIDENCE_QUALITY: u8 = 82;
/// JPEG quality of the thumbnail.
pub const THUMB_QUALITY: u8 = 75;

/// Two photos whose [`Processed::phash`] differ in at most this many of their 64 bits are
/// "nearly identical" and worth flagging when they are attached to two different households.
///
/// Measured by `tests::near_duplicates_are_close_and_different_photos_far` on four 800 × 600
/// synthetic scenes (gradients, shapes, stripes, ±8 levels of sensor-like noise), each also
/// re-encoded at JPEG quality 50 after a shrink to 90 %, brightened by 10 %, and saved as PNG:
/// - the same photo, transformed: 0–3 bits apart (12 pairs: 0 0 0 3 2 1 0 1 0 1 2 0);
/// - two different scenes: 20–45 bits apart (6 pairs: 45 36 37 29 20 35); unrelated images
///   differ in about half their bits, 32.
///
/// 6 leaves a margin of 3 above the worst re-encoded copy and of 14 below the closest pair of
/// different photos. A photo of the same house taken again from another angle is *not* meant to
/// match: that is a different photo.
pub const NEAR_DUPLICATE_DISTANCE: u32 = 6;

/// Bounds on what [`process`] accepts. The defaults suit phone photos (a 200 MP sensor in
/// full-resolution mode is refused; 12–50 MP is fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of an encoded photo (default 20 MiB).
    pub max_bytes: usize,
    /// Widest image, in pixels, before orientation (default 12,000).
    pub max_width: u32,
    /// Tallest image, in pixels, before orientation (default 12,000).
    pub max_height: u32,
    /// Most pixels, width × height (default 50 million).
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate for pixels (default 512 MiB). A 50 MP RGB image
    /// takes 150 MB; 16-bit RGBA PNGs take 8 bytes a pixel.
    pub max_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 20 * 1024 * 1024,
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 50_000_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// The encoded formats [`process`] accepts, as told by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    /// The MIME type of this format.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }

    fn image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Webp => image::ImageFormat::WebP,
        }
    }
}

/// Why a photo was refused. Each variant has a stable [`code`](IngestError::code) for API bodies
/// and logs, and a suggested HTTP [`status`](IngestError::status):
///
/// | variant | code | status |
/// | --- | --- | --- |
/// | `Empty` | `photo-empty` | 400 |
/// | `HashMismatch` | `photo-hash-mismatch` | 400 |
/// | `TooLarge` | `photo-too-large` | 413 |
/// | `UnsupportedFormat` | `unsupported-format` | 415 |
/// | `DimensionsTooLarge` | `photo-dimensions-too-large` | 422 |
/// | `Corrupt` | `photo-corrupt` | 422 |
/// | `Internal` | `photo-processing-failed` | 500 |
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body has no bytes at all.
    #[error("the photo is empty")]
    Empty,
    /// The body is longer than [`Limits::max_bytes`]. The HTTP layer can build this one itself
    /// when it stops reading a body at the limit.
    #[error("the photo is larger than the limit of {max} bytes")]
    TooLarge { max: usize },
    /// The body does not hash to the sha256 it was uploaded under.
    #[error("the photo's sha256 is {actual}, not {expected}")]
    HashMismatch { expected: String, actual: String },
    /// The bytes are not JPEG, PNG or WebP; names what they look like ("HEIC", "ZIP",
    /// "unknown"...) or, for an accepted format, the unsupported variant.
    #[error("unsupported photo format: {0} (send JPEG, PNG or WebP)")]
    UnsupportedFormat(String),
    /// The header announces an image wider, taller or with more pixels than [`Limits`] allow,
    /// or one whose decoding would need more memory than [`Limits::max_alloc`].
    #[error("the photo's dimensions are too large: {0}")]
    DimensionsTooLarge(String),
    /// The bytes start like an accepted format but cannot be decoded: truncated, damaged.
    #[error("the photo is corrupt or truncated: {0}")]
    Corrupt(String),
    /// A fault of this code or its libraries, not of the photo (encoding or resizing failed).
    #[error("photo processing failed: {0}")]
    Internal(String),
}

impl IngestError {
    /// A stable, machine-readable code for API bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Empty => "photo-empty",
            IngestError::TooLarge { .. } => "photo-too-large",
            IngestError::HashMismatch { .. } => "photo-hash-mismatch",
            IngestError::UnsupportedFormat(_) => "unsupported-format",
            IngestError::DimensionsTooLarge(_) => "photo-dimensions-too-large",
            IngestError::Corrupt(_) => "photo-corrupt",
            IngestError::Internal(_) => "photo-processing-failed",
        }
    }

    /// The HTTP status the API should answer with: 400 for a body that is wrong for the request
    /// (empty, another hash), 413 over the byte limit, 415 for a format the server cannot read,
    /// 422 for a readable format whose content cannot be used (too many pixels, corrupt), 500
    /// when the fault is the server's.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Empty | IngestError::HashMismatch { .. } => StatusCode::BAD_REQUEST,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::DimensionsTooLarge(_) | IngestError::Corrupt(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What [`process`] makes of one photo.
#[derive(Clone)]
pub struct Processed {
    /// The format the original was in.
    pub format: Format,
    /// Width of the original once upright (after the EXIF orientation).
    pub width: u32,
    /// Height of the original once upright.
    pub height: u32,
    /// The evidence image: baseline JPEG, no metadata, long edge ≤ [`EVIDENCE_LONG_EDGE`].
    pub evidence: Vec<u8>,
    /// The thumbnail: baseline JPEG, no metadata, long edge ≤ [`THUMB_LONG_EDGE`].
    pub thumb: Vec<u8>,
    /// Width and height of `evidence`.
    pub evidence_size: (u32, u32),
    /// Width and height of `thumb`.
    pub thumb_size: (u32, u32),
    /// 64-bit perceptual hash (a difference hash of the thumbnail); compare with [`hamming`].
    pub phash: u64,
}

/// Shows the sizes of the encoded images, not their bytes.
impl std::fmt::Debug for Processed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processed")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("evidence_bytes", &self.evidence.len())
            .field("thumb_bytes", &self.thumb.len())
            .field("evidence_size", &self.evidence_size)
            .field("thumb_size", &self.thumb_size)
            .field("phash", &format_args!("{:016x}", self.phash))
            .finish()
    }
}

/// Checks that `bytes` hash to `expected`, the sha256 the photo is uploaded under.
pub fn check_sha256(bytes: &[u8], expected: &Sha256Hex) -> Result<(), IngestError> {
    let actual = Sha256Hex::of(bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(IngestError::HashMismatch {
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Tells the format from the magic bytes alone.
///
/// JPEG (`FF D8 FF`), PNG (its 8-byte signature) and WebP (`RIFF....WEBP`) are accepted. An
/// ISO-BMFF `ftyp` box with a HEIF brand (`heic`, `heix`, `mif1`...) is refused as "HEIC", with
/// an AVIF brand as "AVIF"; zip (`PK\x03\x04`, also what a .docx is), PDF, GIF, TIFF, BMP are
/// named; anything else is "unknown".
pub fn sniff(bytes: &[u8]) -> Result<Format, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(Format::Webp);
    }
    Err(IngestError::UnsupportedFormat(
        unsupported_name(bytes).to_owned(),
    ))
}

/// A name for bytes that are none of the accepted formats.
fn unsupported_name(bytes: &[u8]) -> &'static str {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"avif" | b"avis" => "AVIF",
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"hevm" | b"hevs"
            | b"mif1" | b"mif2" | b"msf1" | b"heif" => "HEIC",
            _ => "MP4/QuickTime",
        };
    }
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        "ZIP"
    } else if starts(b"%PDF") {
        "PDF"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "GIF"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "TIFF"
    } else if starts(b"BM") {
        "BMP"
    } else {
        "unknown"
    }
}

/// Distance between two perceptual hashes: the number of differing bits (0 to 64).
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Whether two perceptual hashes are of the same or a nearly identical photo.
pub fn is_near_duplicate(a: u64, b: u64) -> bool {
    hamming(a, b) <= NEAR_DUPLICATE_DISTANCE
}

/// Decodes, orients, shrinks and re-encodes one photo. Blocking and CPU-bound: see the module
/// documentation.
pub fn process(bytes: &[u8], limits: &Limits) -> Result<Processed, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(IngestError::TooLarge {
            max: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    if format == Format::Jpeg {
        check_jpeg_complete(bytes)?;
    }

    let decoded = decode(bytes, format, limits)?;
    let (width, height) = decoded.image.dimensions();
    let (up_width, up_height) = if swaps_axes(decoded.orientation) {
        (height, width)
    } else {
        (width, height)
    };

    // Resize first, then orient: rotating the 2048 px evidence is much cheaper than rotating the
    // original, and the long edge is the same either way.
    let (ew, eh) = fit(width, height, EVIDENCE_LONG_EDGE);
    let evidence = resize(decoded.image, ew, eh)?;
    let mut evidence = DynamicImage::ImageRgb8(evidence);
    evidence.apply_orientation(decoded.orientation);
    let evidence = evidence.into_rgb8();
    let evidence_size = evidence.dimensions();

    let (tw, th) = fit(evidence_size.0, evidence_size.1, THUMB_LONG_EDGE);
    let thumb = resize_ref(&evidence, tw, th)?;
    let thumb_size = (tw, th);
    let phash = perceptual_hash(&thumb)?;

    Ok(Processed {
        format,
        width: up_width,
        height: up_height,
        evidence: encode_jpeg(&evidence, EVIDENCE_QUALITY)?,
        thumb: encode_jpeg(&thumb, THUMB_QUALITY)?,
        evidence_size,
        thumb_size,
        phash,
    })
}

struct Decoded {
    /// 8-bit RGB, as stored (before orientation).
    image: RgbImage,
    orientation: Orientation,
}

/// Reads the header, checks the dimensions, then decodes under an allocation budget.
fn decode(bytes: &[u8], format: Format, limits: &Limits) -> Result<Decoded, IngestError> {
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc);

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(image_limits.clone());
    // Parses the header only; the decoders check width and height against `image_limits`.
    let mut decoder = reader.into_decoder().map_err(from_image_error)?;

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(IngestError::Corrupt(format!(
            "the header says {width} × {height} pixels"
        )));
    }
    if width > limits.max_width
        || height > limits.max_height
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(IngestError::DimensionsTooLarge(format!(
            "{width} × {height} pixels; the limits are {} × {} and {} pixels",
            limits.max_width, limits.max_height, limits.max_pixels
        )));
    }
    // A damaged EXIF block is not worth refusing a photo for: it is then shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);

    // As `ImageReader::decode` does: the pixel buffer comes out of the allocation budget, and the
    // decoder gets what is left for its own buffers.
    image_limits
        .reserve(decoder.total_bytes())
        .map_err(from_image_error)?;
    decoder.set_limits(image_limits).map_err(from_image_error)?;
    let image = DynamicImage::from_decoder(decoder).map_err(from_image_error)?;

    Ok(Decoded {
        image: flatten_to_rgb8(image),
        orientation,
    })
}

fn from_image_error(e: ImageError) -> IngestError {
    match e {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError | LimitErrorKind::InsufficientMemory => {
                IngestError::DimensionsTooLarge(limit.to_string())
            }
            _ => IngestError::Internal(limit.to_string()),
        },
        ImageError::Unsupported(unsupported) => {
            IngestError::UnsupportedFormat(unsupported.to_string())
        }
        ImageError::Decoding(_) | ImageError::IoError(_) | ImageError::Parameter(_) => {
            IngestError::Corrupt(e.to_string())
        }
        ImageError::Encoding(_) => IngestError::Internal(e.to_string()),
    }
}

/// `image`'s JPEG decoder (zune-jpeg, not strict) fills a truncated scan with grey and reports
/// success. A complete JPEG has an EOI marker (`FF D9`) after its first start-of-scan; one cut
/// short does not. Walking the segments up to the SOS skips the EXIF thumbnail, whose own EOI
/// would otherwise hide the truncation. Entropy-coded data cannot contain `FF D9` (a data `FF`
/// is stuffed as `FF 00`), so the search after the SOS is exact.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), IngestError> {
    let corrupt = |what: &str| IngestError::Corrupt(format!("JPEG {what}"));
    let mut at = 2; // after SOI
    loop {
        // Markers may be preceded by any number of fill bytes 0xFF.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(corrupt("ends before its image data"));
        };
        at += 2;
        match marker {
            // Standalone markers: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 => return Err(corrupt("ends before its image data")),
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(corrupt("ends inside a segment header"));
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 || at + len > bytes.len() {
            return Err(corrupt("ends inside a segment"));
        }
        at += len;
        if marker == 0xDA {
            break;
        }
    }
    if bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(corrupt("is truncated (no end-of-image marker)"))
    }
}

/// 8-bit RGB, whatever came out of the decoder; transparent pixels are composited over white
/// (a JPEG cannot keep them, and black would hide dark content).
fn flatten_to_rgb8(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8(); // no copy when it already is RGB8, as from a JPEG
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    let mut rgb = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        let alpha = u32::from(px[3]);
        for &channel in &px[..3] {
            let blended = (u32::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255;
            rgb.push(u8::try_from(blended).unwrap_or(u8::MAX));
        }
    }
    RgbImage::from_raw(width, height, rgb).unwrap_or_else(|| RgbImage::new(width, height))
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The size that fits `width × height` within `long_edge` on its longer side, keeping the aspect
/// ratio and never enlarging.
fn fit(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(long_edge) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled)
            .unwrap_or(long_edge)
            .clamp(1, long_edge)
    };
    if width >= height {
        (long_edge, scale(height))
    } else {
        (scale(width), long_edge)
    }
}

/// Resizes an owned image, handing it back untouched when it already has the size.
fn resize(image: RgbImage, width: u32, height: u32) -> Result<RgbImage, IngestError> {
    if image.dimensions() == (width, height) {
        return Ok(image);
    }
    resize_ref(&image, width, height)
}

/// Lanczos3 resize with `fast_image_resize` (SIMD; 10–16× faster than `image`'s own).
fn resize_ref(image: &RgbImage, width: u32, height: u32) -> Result<RgbImage, IngestError> {
    if image.dimensions() == (width, height) {
        return Ok(image.clone());
    }
    let internal = |e: &dyn std::fmt::Display| IngestError::Internal(format!("resize: {e}"));
    let src = fir::images::ImageRef::new(
        image.width(),
        image.height(),
        image.as_raw(),
        fir::PixelType::U8x3,
    )
    .map_err(|e| internal(&e))?;
    let mut dst = fir::images::Image::new(width, height, fir::PixelType::U8x3);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
    fir::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| internal(&e))?;
    RgbImage::from_raw(width, height, dst.into_vec())
        .ok_or_else(|| IngestError::Internal("resize: buffer of the wrong size".into()))
}

/// Baseline JPEG with a JFIF header and nothing else: no EXIF, XMP, ICC or comment segment.
fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(image.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(|e| IngestError::Internal(format!("JPEG encoding: {e}")))?;
    Ok(out)
}

/// A 64-bit difference hash ("dHash", the gradient hash of `image_hasher`): the thumbnail is
/// shrunk to 9 × 8 pixels (Lanczos3, as `image_hasher` does), and each bit tells whether a pixel's
/// luma is lower than its right neighbour's, row by row (bit 63 is the top-left comparison). It
/// survives re-encoding, rescaling and brightness or contrast changes, and costs well under a
/// millisecond on a 320 px thumbnail.
///
/// Unlike plain dHash, neighbours that differ by less than half a grey level count as equal (bit
/// 0): a flat area (a white page, a wall, the sky) would otherwise give bits decided by noise and
/// JPEG rounding, which differ between two copies of the same photo. On the tests' scene with
/// flat rows this brought re-encoded copies from 7 bits apart to 3.
///
/// Written here rather than taken from `image_hasher`, whose DCT dependency (rustdct, rustfft)
/// costs about two minutes of compile time for an algorithm that needs none of it.
///
/// A uniform photo (a lens cap, a blank wall) hashes to 0, so such photos match one another:
/// worth a look anyway.
fn perceptual_hash(thumb: &RgbImage) -> Result<u64, IngestError> {
    /// Half a grey level, in the units of `luma` below (grey level × 1000).
    const FLAT: u32 = 500;
    let tiny = resize_ref(thumb, 9, 8)?;
    let luma = |x: u32, y: u32| {
        let [r, g, b] = tiny.get_pixel(x, y).0.map(u32::from);
        299 * r + 587 * g + 114 * b
    };
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            hash = (hash << 1) | u64::from(luma(x, y) + FLAT < luma(x + 1, y));
        }
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use image::codecs::png::PngEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{ExtendedColorType, ImageEncoder, Rgb, Rgba, RgbaImage};

    use super::*;

    // ---- fixtures, all generated here ----

    /// A deterministic pseudo-random byte stream (xorshift), for sensor-like noise.
    struct Noise(u32);

    impl Noise {
        fn next(&mut self) -> u8 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 >> 24) as u8
        }
    }

    /// A photo-like synthetic scene: a gradient background, a few shapes, and ±8 of noise.
    /// `kind` picks one of several unrelated compositions.
    fn scene(width: u32, height: u32, kind: u32) -> RgbImage {
        let mut noise = Noise(0x9E37_79B9 ^ kind.wrapping_mul(0x85EB_CA6B) ^ 1);
        let (w, h) = (i64::from(width), i64::from(height));
        RgbImage::from_fn(width, height, |x, y| {
            let (x, y) = (i64::from(x), i64::from(y));
            // Coordinates scaled to 0..1000 so the composition does not depend on the size.
            let (u, v) = (x * 1000 / w, y * 1000 / h);
            let mut px = match kind % 4 {
                0 => {
                    let base = (u + v) * 255 / 2000;
                    let mut px = [base, base / 2 + 60, 255 - base];
                    if (u - 300).pow(2) + (v - 350).pow(2) < 200 * 200 {
                        px = [30, 30, 40];
                    }
                    if (600..900).contains(&u) && (550..850).contains(&v) {
                        px = [240, 220, 90];
                    }
                    px
                }
                1 => {
                    let base = v * 255 / 1000;
                    let mut px = [200 - base / 2, base, 120];
                    if (v / 100) % 2 == 0 && u > 500 {
                        px = [20, 90, 20];
                    }
                    // A triangle on the left.
                    if u < 450 && v > 200 && (u - 225).abs() * 1000 < (v - 200) * 560 {
                        px = [250, 250, 250];
                    }
                    px
                }
                2 => {
                    let r2 = (u - 500).pow(2) + (v - 500).pow(2);
                    let base = 255 - (r2 * 255 / 500_000).min(255);
                    let mut px = [base, base, base / 3];
                    if (100..400).contains(&u)
                        && (600..900).contains(&v)
                        && ((u / 50 + v / 50) % 2 == 0)
                    {
                        px = [0, 0, 160];
                    }
                    px
                }
                _ => {
                    let base = (1000 - u) * 255 / 1000;
                    let mut px = [60, base, 255 - base / 2];
                    if (200..800).contains(&u) && (100..300).contains(&v) {
                        px = [180, 40, 40];
                    }
                    if (u - 700).pow(2) + (v - 700).pow(2) < 150 * 150 {
                        px = [250, 250, 200];
                    }
                    px
                }
            };
            for c in &mut px {
                *c = (*c + i64::from(noise.next() % 17) - 8).clamp(0, 255);
            }
            Rgb([px[0] as u8, px[1] as u8, px[2] as u8])
        })
    }

    fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(image)
            .unwrap();
        out
    }

    fn png_rgba(image: &RgbaImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgba8,
            )
            .unwrap();
        out
    }

    fn png(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    fn webp_lossless(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        WebPEncoder::new_lossless(&mut out)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    const GPS_LATITUDE: [u32; 6] = [21, 1, 1, 1, 2, 1]; // 21° 1' 2" N, a village in Hà Nam
    const GPS_LONGITUDE: [u32; 6] = [105, 1, 51, 1, 7, 1];
    const GPS_METHOD: &[u8] = b"ASCII\0\0\0GPS";

    /// An EXIF APP1 segment, built by hand: a big-endian TIFF whose IFD0 holds `Orientation`
    /// and a pointer to a GPS IFD with a version, latitude, longitude and processing method.
    fn exif_app1(orientation: u16) -> Vec<u8> {
        fn entry(tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
            tiff.extend(tag.to_be_bytes());
            tiff.extend(kind.to_be_bytes());
            tiff.extend(count.to_be_bytes());
            tiff.extend(value);
        }
        const SHORT: u16 = 3;
        const LONG: u16 = 4;
        const BYTE: u16 = 1;
        const ASCII: u16 = 2;
        const RATIONAL: u16 = 5;
        const UNDEFINED: u16 = 7;

        let ifd0 = 8u32;
        let ifd0_len = 2 + 2 * 12 + 4;
        let gps_ifd = ifd0 + ifd0_len;
        let gps_entries = 6u32;
        let gps_len = 2 + gps_entries * 12 + 4;
        let latitude_at = gps_ifd + gps_len;
        let longitude_at = latitude_at + 24;
        let method_at = longitude_at + 24;

        let mut tiff = b"MM\0\x2A".to_vec();
        tiff.extend(ifd0.to_be_bytes());
        tiff.extend(2u16.to_be_bytes());
        let [o1, o2] = orientation.to_be_bytes();
        entry(&mut tiff, 0x0112, SHORT, 1, [o1, o2, 0, 0]);
        entry(&mut tiff, 0x8825, LONG, 1, gps_ifd.to_be_bytes());
        tiff.extend(0u32.to_be_bytes());
        assert_eq!(tiff.len() as u32, gps_ifd);

        tiff.extend((gps_entries as u16).to_be_bytes());
        entry(&mut tiff, 0x0000, BYTE, 4, [2, 3, 0, 0]);
        entry(&mut tiff, 0x0001, ASCII, 2, *b"N\0\0\0");
        entry(&mut tiff, 0x0002, RATIONAL, 3, latitude_at.to_be_bytes());
        entry(&mut tiff, 0x0003, ASCII, 2, *b"E\0\0\0");
        entry(&mut tiff, 0x0004, RATIONAL, 3, longitude_at.to_be_bytes());
        let method_len = GPS_METHOD.len() as u32;
        entry(
            &mut tiff,
            0x001B,
            UNDEFINED,
            method_len,
            method_at.to_be_bytes(),
        );
        tiff.extend(0u32.to_be_bytes());
        assert_eq!(tiff.len() as u32, latitude_at);
        for n in GPS_LATITUDE.iter().chain(&GPS_LONGITUDE) {
            tiff.extend(n.to_be_bytes());
        }
        tiff.extend(GPS_METHOD);

        let mut app1 = vec![0xFF, 0xE1];
        app1.extend(u16::try_from(2 + 6 + tiff.len()).unwrap().to_be_bytes());
        app1.extend(b"Exif\0\0");
        app1.extend(tiff);
        app1
    }

    /// Puts `segment` right after the SOI of `jpeg`.
    fn splice_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend(segment);
        out.extend(&jpeg[2..]);
        out
    }

    fn latitude_bytes() -> Vec<u8> {
        GPS_LATITUDE.iter().flat_map(|n| n.to_be_bytes()).collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The markers of a JPEG's segments, up to and including the first SOS.
    fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
        assert_eq!(&bytes[..2], [0xFF, 0xD8], "not a JPEG");
        let mut markers = vec![0xD8];
        let mut at = 2;
        loop {
            assert_eq!(bytes[at], 0xFF, "segment does not start with a marker");
            let marker = bytes[at + 1];
            markers.push(marker);
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            at += 2 + len;
            if marker == 0xDA {
                return markers;
            }
        }
    }

    /// Asserts that `bytes` is a JPEG with no metadata: no APPn segment but the JFIF APP0, no
    /// comment, and none of the EXIF or GPS bytes of the fixture anywhere.
    fn assert_no_metadata(bytes: &[u8]) {
        let markers = jpeg_markers(bytes);
        for marker in &markers {
            let is_app = (0xE0..=0xEF).contains(marker);
            assert!(
                !is_app || *marker == 0xE0,
                "APP{} segment in output: {markers:02X?}",
                marker - 0xE0
            );
            assert_ne!(*marker, 0xFE, "COM segment in output");
        }
        assert!(!contains(bytes, b"Exif\0\0"), "Exif header in output");
        assert!(!contains(bytes, b"GPS"), "GPS text in output");
        assert!(
            !contains(bytes, &latitude_bytes()),
            "GPS latitude in output"
        );
        // Baseline: SOF0, not progressive SOF2.
        assert!(markers.contains(&0xC0), "not baseline: {markers:02X?}");
    }

    /// Red on the left half, blue on the right.
    fn red_left_blue_right(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        })
    }

    fn decode_jpeg(bytes: &[u8]) -> RgbImage {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
            .unwrap()
            .into_rgb8()
    }

    fn assert_colour(image: &RgbImage, x: u32, y: u32, want: [u8; 3]) {
        let got = image.get_pixel(x, y).0;
        let close = got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 40);
        assert!(
            close,
            "pixel ({x}, {y}) is {got:?}, expected about {want:?}"
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A small real PNG whose IHDR is patched to claim `width × height` (CRC fixed up).
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png(&RgbImage::new(8, 8));
        assert_eq!(&bytes[12..16], b"IHDR");
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn code(result: Result<Processed, IngestError>) -> &'static str {
        match result {
            Ok(p) => panic!("accepted: {} × {}", p.width, p.height),
            Err(e) => e.code(),
        }
    }

    // ---- tests ----

    #[test]
    fn exif_orientation_is_applied_and_gps_is_gone() {
        let stored = jpeg(&red_left_blue_right(60, 40), 95);
        let with_exif = splice_after_soi(&stored, &exif_app1(6));
        // The fixture really carries the metadata the output must lose.
        assert!(contains(&with_exif, b"Exif\0\0") && contains(&with_exif, b"GPS"));
        assert!(contains(&with_exif, &latitude_bytes()));

        let p = process(&with_exif, &Limits::default()).unwrap();
        assert_eq!(p.format, Format::Jpeg);
        // Orientation 6: the stored image is shown rotated 90° clockwise.
        assert_eq!((p.width, p.height), (40, 60));
        assert_eq!(p.evidence_size, (40, 60));
        assert_eq!(p.thumb_size, (40, 60));
        for bytes in [&p.evidence, &p.thumb] {
            assert_no_metadata(bytes);
            let upright = decode_jpeg(bytes);
            assert_eq!(upright.dimensions(), (40, 60));
            // The left (red) half is now on top, the right (blue) half at the bottom.
            assert_colour(&upright, 2, 2, [255, 0, 0]);
            assert_colour(&upright, 37, 2, [255, 0, 0]);
            assert_colour(&upright, 2, 57, [0, 0, 255]);
            assert_colour(&upright, 37, 57, [0, 0, 255]);
        }
    }

    #[test]
    fn other_orientations_are_applied() {
        let stored = jpeg(&red_left_blue_right(60, 40), 95);
        // 1: as stored; 3: 180° (red right); 8: 90° counter-clockwise (red at the bottom).
        let cases = [
            (1, (60, 40), (2, 20), (57, 20)),
            (3, (60, 40), (57, 20), (2, 20)),
            (8, (40, 60), (20, 57), (20, 2)),
        ];
        for (orientation, size, red_at, blue_at) in cases {
            let bytes = splice_after_soi(&stored, &exif_app1(orientation));
            let p = process(&bytes, &Limits::default()).unwrap();
            assert_eq!((p.width, p.height), size, "orientation {orientation}");
            let upright = decode_jpeg(&p.evidence);
            assert_colour(&upright, red_at.0, red_at.1, [255, 0, 0]);
            assert_colour(&upright, blue_at.0, blue_at.1, [0, 0, 255]);
            assert_no_metadata(&p.evidence);
        }
    }

    #[test]
    fn twelve_megapixels_become_2048_and_320() {
        let original = jpeg(&scene(4000, 3000, 0), 90);
        let started = Instant::now();
        let p = process(&original, &Limits::default()).unwrap();
        let took = started.elapsed();
        eprintln!(
            "process(4000×3000 JPEG, {} KiB) took {took:?}; evidence {} KiB, thumb {} KiB",
            original.len() / 1024,
            p.evidence.len() / 1024,
            p.thumb.len() / 1024
        );
        assert_eq!((p.width, p.height), (4000, 3000));
        assert_eq!(p.evidence_size, (2048, 1536));
        assert_eq!(p.thumb_size, (320, 240));
        assert_eq!(decode_jpeg(&p.evidence).dimensions(), (2048, 1536));
        assert_eq!(decode_jpeg(&p.thumb).dimensions(), (320, 240));
        assert_no_metadata(&p.evidence);
        assert_no_metadata(&p.thumb);
    }

    #[test]
    fn small_photos_are_not_upscaled_and_portrait_fits_its_long_edge() {
        let p = process(&jpeg(&scene(300, 200, 1), 90), &Limits::default()).unwrap();
        assert_eq!(p.evidence_size, (300, 200));
        assert_eq!(p.thumb_size, (300, 200));

        let p = process(&jpeg(&scene(1000, 3000, 1), 90), &Limits::default()).unwrap();
        assert_eq!(p.evidence_size, (683, 2048));
        assert_eq!(p.thumb_size, (107, 320));
    }

    #[test]
    fn png_and_webp_are_accepted() {
        let image = scene(640, 480, 2);
        for (bytes, format) in [
            (png(&image), Format::Png),
            (webp_lossless(&image), Format::Webp),
        ] {
            assert_eq!(sniff(&bytes).unwrap(), format);
            let p = process(&bytes, &Limits::default()).unwrap();
            assert_eq!(p.format, format);
            assert_eq!((p.width, p.height), (640, 480));
            assert_eq!(p.evidence_size, (640, 480));
            assert_eq!(p.thumb_size, (320, 240));
            assert_no_metadata(&p.evidence);
            assert_no_metadata(&p.thumb);
        }
    }

    #[test]
    fn transparency_becomes_white() {
        let image = RgbaImage::from_fn(40, 40, |x, _| {
            if x < 20 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([0, 0, 255, 255])
            }
        });
        let p = process(&png_rgba(&image), &Limits::default()).unwrap();
        let out = decode_jpeg(&p.evidence);
        assert_colour(&out, 5, 20, [255, 255, 255]);
        assert_colour(&out, 35, 20, [0, 0, 255]);
    }

    #[test]
    fn png_bomb_is_refused_from_its_header() {
        let bomb = png_claiming(30_000, 30_000);
        assert!(bomb.len() < 200);
        let started = Instant::now();
        let result = process(&bomb, &Limits::default());
        assert_eq!(code(result), "photo-dimensions-too-large");
        // No 2.7 GB buffer was allocated and filled: that alone would take seconds.
        assert!(
            started.elapsed().as_millis() < 100,
            "{:?}",
            started.elapsed()
        );

        // Within the width and height limits but over the pixel count.
        let wide = png_claiming(10_000, 10_000);
        let err = process(&wide, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "photo-dimensions-too-large");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.to_string().contains("10000 × 10000"), "{err}");

        // A JPEG whose frame header claims 60,000 × 60,000 pixels.
        let mut jpeg_bomb = jpeg(&scene(16, 16, 0), 90);
        let sof = jpeg_bomb
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .unwrap();
        jpeg_bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        let started = Instant::now();
        assert_eq!(
            code(process(&jpeg_bomb, &Limits::default())),
            "photo-dimensions-too-large"
        );
        assert!(
            started.elapsed().as_millis() < 100,
            "{:?}",
            started.elapsed()
        );

        // The allocation budget alone also refuses, before decoding.
        let tight = Limits {
            max_alloc: 1024,
            ..Limits::default()
        };
        let small = png(&scene(64, 64, 0));
        assert_eq!(code(process(&small, &tight)), "photo-dimensions-too-large");
    }

    #[test]
    fn truncated_jpeg_is_corrupt() {
        let whole = jpeg(&scene(256, 256, 3), 90);
        assert!(process(&whole, &Limits::default()).is_ok());
        for cut in [whole.len() - 2, whole.len() / 2, 300, 20, 3] {
            let err = process(&whole[..cut], &Limits::default()).unwrap_err();
            assert_eq!(err.code(), "photo-corrupt", "cut at {cut}: {err}");
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
        // Cut inside the scan of a JPEG that carries an EXIF block.
        let with_exif = splice_after_soi(&whole, &exif_app1(1));
        let err = process(&with_exif[..with_exif.len() * 2 / 3], &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "photo-corrupt", "{err}");
    }

    #[test]
    fn truncated_png_and_webp_are_corrupt() {
        let image = scene(200, 150, 1);
        for whole in [png(&image), webp_lossless(&image)] {
            let err = process(&whole[..whole.len() / 2], &Limits::default()).unwrap_err();
            assert_eq!(err.code(), "photo-corrupt", "{err}");
        }
    }

    #[test]
    fn zip_named_jpg_is_unsupported() {
        let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
        zip.extend(b"photo.jpg");
        zip.extend([0u8; 64]);
        let err = process(&zip, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "unsupported-format");
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(matches!(&err, IngestError::UnsupportedFormat(name) if name == "ZIP"));
    }

    #[test]
    fn heic_is_unsupported_by_name() {
        for brand in [&b"heic"[..], b"mif1", b"heix"] {
            let mut heic = vec![0, 0, 0, 0x18];
            heic.extend(b"ftyp");
            heic.extend(brand);
            heic.extend(b"\0\0\0\0mif1heic");
            let err = process(&heic, &Limits::default()).unwrap_err();
            assert_eq!(err.code(), "unsupported-format");
            assert!(err.to_string().contains("HEIC"), "{err}");
        }
        let mut avif = vec![0, 0, 0, 0x1C];
        avif.extend(b"ftypavif");
        assert!(matches!(sniff(&avif), Err(IngestError::UnsupportedFormat(n)) if n == "AVIF"));
        for (bytes, name) in [
            (&b"GIF89a\x01\x00"[..], "GIF"),
            (b"%PDF-1.7", "PDF"),
            (b"hello", "unknown"),
            (b"\xFF\xD8", "unknown"),
        ] {
            assert!(
                matches!(sniff(bytes), Err(IngestError::UnsupportedFormat(n)) if n == name),
                "{name}"
            );
        }
    }

    #[test]
    fn empty_and_oversized_bodies_are_refused() {
        let err = process(&[], &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "photo-empty");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);

        let photo = jpeg(&scene(64, 64, 0), 90);
        let limits = Limits {
            max_bytes: photo.len() - 1,
            ..Limits::default()
        };
        let err = process(&photo, &limits).unwrap_err();
        assert_eq!(err.code(), "photo-too-large");
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn sha256_is_checked() {
        let photo = jpeg(&scene(32, 32, 0), 90);
        assert!(check_sha256(&photo, &Sha256Hex::of(&photo)).is_ok());
        let err = check_sha256(&photo, &Sha256Hex::of(b"other")).unwrap_err();
        assert_eq!(err.code(), "photo-hash-mismatch");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn near_duplicates_are_close_and_different_photos_far() {
        let limits = Limits::default();
        let hash = |bytes: &[u8]| process(bytes, &limits).unwrap().phash;

        let mut close = Vec::new();
        let mut far = Vec::new();
        let originals: Vec<RgbImage> = (0..4).map(|kind| scene(800, 600, kind)).collect();
        let hashes: Vec<u64> = originals.iter().map(|img| hash(&jpeg(img, 90))).collect();
        for (img, &original) in originals.iter().zip(&hashes) {
            // Re-encoded at quality 50 after a shrink to 90 %.
            let smaller = image::imageops::resize(img, 720, 540, image::imageops::Triangle);
            let resaved = hash(&jpeg(&smaller, 50));
            // Brightened by 10 %.
            let mut brighter = img.clone();
            for c in brighter.iter_mut() {
                *c = u8::try_from((u32::from(*c) * 11 / 10).min(255)).unwrap();
            }
            let brightened = hash(&jpeg(&brighter, 85));
            // The same photo as PNG.
            let as_png = hash(&png(img));
            close.extend([
                hamming(original, resaved),
                hamming(original, brightened),
                hamming(original, as_png),
            ]);
        }
        for (i, &a) in hashes.iter().enumerate() {
            for &b in &hashes[i + 1..] {
                far.push(hamming(a, b));
            }
        }
        eprintln!("near-duplicate distances {close:?}; different-photo distances {far:?}");
        assert!(
            close.iter().all(|&d| d <= NEAR_DUPLICATE_DISTANCE),
            "{close:?}"
        );
        assert!(
            far.iter().all(|&d| d > NEAR_DUPLICATE_DISTANCE * 2),
            "{far:?}"
        );
        assert!(is_near_duplicate(hashes[0], hashes[0]));
        assert_eq!(hamming(0, u64::MAX), 64);
    }

    #[test]
    fn tiny_images_are_processed() {
        for (w, h) in [(1, 1), (5, 3), (1, 400)] {
            let p = process(&png(&scene(w, h, 0)), &Limits::default()).unwrap();
            assert_eq!(p.evidence_size, (w, h));
            assert_eq!(decode_jpeg(&p.thumb).dimensions(), p.thumb_size);
        }
    }

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit(4000, 3000, 2048), (2048, 1536));
        assert_eq!(fit(3000, 4000, 2048), (1536, 2048));
        assert_eq!(fit(2048, 1536, 320), (320, 240));
        assert_eq!(fit(100, 50, 320), (100, 50));
        assert_eq!(fit(12_000, 1, 320), (320, 1));
        assert_eq!(fit(2048, 2048, 2048), (2048, 2048));
    }
}
