//! The two checksums ZooKeeper's files carry, computed as `java.util.zip` computes them:
//! Adler-32 seals every txn log record and every snapshot section, CRC-32 is the digest of
//! one znode (`DigestCalculator`).

/// `java.util.zip.Adler32` over `bytes` from its initial state (1).
pub fn adler32(bytes: &[u8]) -> u32 {
    Adler32::new().update(bytes).value()
}

/// A running Adler-32, for a snapshot's seals: each covers every byte written before it
/// (`CheckedOutputStream.getChecksum`, see `snapshot.rs`).
#[derive(Clone, Copy, Debug)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

const ADLER_MOD: u32 = 65521;
/// The most bytes summed before `b` could overflow a u32 (zlib's NMAX).
const ADLER_NMAX: usize = 5552;

impl Adler32 {
    pub fn new() -> Adler32 {
        Adler32 { a: 1, b: 0 }
    }

    pub fn update(mut self, bytes: &[u8]) -> Adler32 {
        for block in bytes.chunks(ADLER_NMAX) {
            for &x in block {
                self.a += u32::from(x);
                self.b += self.a;
            }
            self.a %= ADLER_MOD;
            self.b %= ADLER_MOD;
        }
        self
    }

    /// `Checksum.getValue()`: the 32-bit sum, which Java hands out as a non-negative long.
    pub fn value(self) -> u32 {
        (self.b << 16) | self.a
    }
}

impl Default for Adler32 {
    fn default() -> Adler32 {
        Adler32::new()
    }
}

/// `java.util.zip.CRC32` (the IEEE 802.3 polynomial, reflected, as zlib's `crc32`) over the
/// concatenation of `parts`.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let table = crc_table();
    let mut crc = !0u32;
    for part in parts {
        for &x in *part {
            crc = table[((crc ^ u32::from(x)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

fn crc_table() -> &'static [u32; 256] {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (n, entry) in t.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_zlib() {
        // The classic example; zlib.adler32(b"Wikipedia") == 0x11E60398.
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(b""), 1);
        // Long inputs reduce modulo 65521 in blocks; compare with the naive definition.
        let long = vec![0xffu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&long), ((b << 16) | a) as u32);
        // Running and one-shot sums agree.
        let split = Adler32::new().update(&long[..7]).update(&long[7..]).value();
        assert_eq!(split, adler32(&long));
    }

    #[test]
    fn crc32_matches_zlib() {
        // zlib.crc32(b"123456789") == 0xCBF43926, the standard check value.
        assert_eq!(crc32(&[b"123456789"]), 0xcbf4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xcbf4_3926);
        assert_eq!(crc32(&[]), 0);
    }
}
