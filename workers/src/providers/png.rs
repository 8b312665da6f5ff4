//! The built-in image renderer: a real 256×256 PNG drawn from the prompt, so `/imagine` and
//! image replies work without an image model. The picture is abstract (a gradient and circles
//! whose colours and places come from the prompt's hash): the same prompt draws the same image.

use std::io::Write;

use flate2::Crc;
use flate2::write::ZlibEncoder;
use sha2::{Digest, Sha256};

const SIZE: usize = 256;

/// Encodes the picture of `prompt` as PNG (8-bit RGB).
pub fn render(prompt: &str) -> Vec<u8> {
    let seed = Sha256::digest(prompt.as_bytes());
    let color = |i: usize| [seed[i], seed[i + 1], seed[i + 2]];
    let (top, bottom) = (color(0), color(3));
    let circles: Vec<(f32, f32, f32, [u8; 3])> = (0..4)
        .map(|k| {
            let b = &seed[6 + k * 6..12 + k * 6];
            let x = f32::from(b[0]) / 255.0 * SIZE as f32;
            let y = f32::from(b[1]) / 255.0 * SIZE as f32;
            let r = 16.0 + f32::from(b[2]) / 255.0 * 64.0;
            (x, y, r, [b[3], b[4], b[5]])
        })
        .collect();
    // Each row: a filter byte (0: none) and RGB pixels.
    let mut raw = Vec::with_capacity(SIZE * (SIZE * 3 + 1));
    for y in 0..SIZE {
        raw.push(0);
        let t = y as f32 / (SIZE - 1) as f32;
        for x in 0..SIZE {
            let mut px = [0u8; 3];
            for c in 0..3 {
                px[c] = (f32::from(top[c]) * (1.0 - t) + f32::from(bottom[c]) * t) as u8;
            }
            for (cx, cy, r, fill) in &circles {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if dx * dx + dy * dy <= r * r {
                    px = *fill;
                }
            }
            raw.extend_from_slice(&px);
        }
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = zlib.write_all(&raw);
    let idat = zlib.finish().unwrap_or_default();

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(SIZE as u32).to_be_bytes());
    ihdr.extend_from_slice(&(SIZE as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_valid_png_that_depends_on_the_prompt() {
        let a = render("a red fox");
        assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&a[12..16], b"IHDR");
        assert!(a.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND's CRC");
        assert_eq!(render("a red fox"), a);
        assert_ne!(render("a blue whale"), a);
        // The image data inflates to exactly SIZE rows of 1 + 3·SIZE bytes.
        let idat_len = u32::from_be_bytes([a[33], a[34], a[35], a[36]]) as usize;
        assert_eq!(&a[37..41], b"IDAT");
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::ZlibDecoder::new(&a[41..41 + idat_len]),
            &mut inflated,
        )
        .expect("inflates");
        assert_eq!(inflated.len(), SIZE * (SIZE * 3 + 1));
    }
}
