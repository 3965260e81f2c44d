//! Jute's binary encoding, as `org.apache.jute.BinaryOutputArchive` writes it: every file
//! ZooKeeper keeps (txn log records, snapshots) is a sequence of jute records.
//!
//! Citations are to `zookeeper-jute/src/main/java/org/apache/jute/BinaryOutputArchive.java`
//! at `release-3.8.0-1`, then at `release-3.9.4` where the line moved; the bytes are the same
//! in both (3.9.4 only counts them as it goes).

/// A growing buffer written the way `BinaryOutputArchive` writes to its `DataOutput`: numbers
/// big-endian, lengths before contents, no tags and no record framing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Archive {
    bytes: Vec<u8>,
}

impl Archive {
    pub fn new() -> Archive {
        Archive::default()
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// `writeByte` (:48-50 / 50-53): one byte.
    pub fn write_byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    /// `writeBool` (:52-54 / 55-58): `DataOutput.writeBoolean`, one byte 0 or 1.
    pub fn write_bool(&mut self, b: bool) {
        self.bytes.push(u8::from(b));
    }

    /// `writeInt` (:56-58 / 60-63): four bytes, big-endian.
    pub fn write_int(&mut self, i: i32) {
        self.bytes.extend_from_slice(&i.to_be_bytes());
    }

    /// `writeLong` (:60-62 / 65-68): eight bytes, big-endian.
    pub fn write_long(&mut self, l: i64) {
        self.bytes.extend_from_slice(&l.to_be_bytes());
    }

    /// `writeString` (:105-113 / 113-123): the encoded length as an int, then the bytes of
    /// `stringToByteBuffer` (:79-102 / 87-110). That encoder takes the string one UTF-16
    /// unit at a time and writes each as 1 to 3 bytes, so a character outside the Basic
    /// Multilingual Plane becomes two 3-byte surrogates rather than UTF-8's 4 bytes. It is
    /// followed here unit for unit, so the bytes are the release's for any path.
    pub fn write_string(&mut self, s: &str) {
        let mut encoded = Vec::with_capacity(s.len());
        for c in s.encode_utf16() {
            if c < 0x80 {
                encoded.push(c as u8);
            } else if c < 0x800 {
                encoded.push((0xc0 | (c >> 6)) as u8);
                encoded.push((0x80 | (c & 0x3f)) as u8);
            } else {
                encoded.push((0xe0 | (c >> 12)) as u8);
                encoded.push((0x80 | ((c >> 6) & 0x3f)) as u8);
                encoded.push((0x80 | (c & 0x3f)) as u8);
            }
        }
        self.write_int(len_i32(encoded.len()));
        self.bytes.extend_from_slice(&encoded);
    }

    /// `writeBuffer` (:115-123 / 125-135): the length as an int, then the bytes.
    pub fn write_buffer(&mut self, b: &[u8]) {
        self.write_int(len_i32(b.len()));
        self.bytes.extend_from_slice(b);
    }

    /// `startVector` (:135-141 / 147-153): the element count as an int; the elements follow
    /// back to back (`endVector` writes nothing).
    pub fn start_vector(&mut self, len: usize) {
        self.write_int(len_i32(len));
    }
}

/// A length as jute's int. Nothing zabsim writes comes near 2 GiB (ZooKeeper's own reader
/// refuses anything over `jute.maxbuffer`, 1 MiB by default, long before).
fn len_i32(len: usize) -> i32 {
    i32::try_from(len).expect("a jute length fits in an int")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_big_endian_and_lengths_come_first() {
        let mut a = Archive::new();
        a.write_int(-10);
        a.write_long(0x0100_0000_a000_0001);
        a.write_bool(true);
        a.write_bool(false);
        a.write_byte(0x42);
        a.write_string("/a");
        a.write_buffer(b"1");
        a.start_vector(0);
        assert_eq!(
            a.bytes(),
            [
                0xff, 0xff, 0xff, 0xf6, // -10
                0x01, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x01, // long
                1, 0, 0x42, // bool, bool, byte
                0, 0, 0, 2, b'/', b'a', // ustring
                0, 0, 0, 1, b'1', // buffer
                0, 0, 0, 0, // empty vector
            ]
        );
    }

    #[test]
    fn strings_are_encoded_one_utf16_unit_at_a_time() {
        let mut a = Archive::new();
        // U+00E9 takes two bytes, U+20AC three, as in UTF-8.
        a.write_string("é€");
        assert_eq!(a.bytes(), [0, 0, 0, 5, 0xc3, 0xa9, 0xe2, 0x82, 0xac]);
        // U+1F600 is a surrogate pair: two 3-byte units, not UTF-8's four bytes.
        let mut b = Archive::new();
        b.write_string("\u{1F600}");
        assert_eq!(
            b.bytes(),
            [0, 0, 0, 6, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80],
            "jute's encoder, not UTF-8"
        );
    }
}
