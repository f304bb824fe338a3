//! Capabilities: the strings that name (and grant access to) files and
//! directories, and the storage index each one's shares live under.
//!
//! Spellings follow Tahoe-LAFS where they can (`URI:SSK:`, `URI:CHK:`,
//! `URI:LIT:`, `URI:DIR2:`, `URI:DIR2-CHK:`, `URI:DIR2-LIT:`) but the fields
//! are this model's: there is no encryption and no RSA key pair, so a CHK
//! cap carries the storage index instead of a read key, and an SSK cap is
//! just the write key.

use std::fmt;

use bytes::Bytes;

use crate::hash::{base32, from_base32, tagged_hash_16, Hash};

/// Where a file's shares live on every server: 16 bytes, written as 26
/// lower-case base32 characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageIndex(pub [u8; 16]);

impl StorageIndex {
    pub fn to_base32(&self) -> String {
        base32(&self.0)
    }

    /// The S3 key prefix of this index's shares: `shares/<SI[:2]>/<SI>/`.
    pub fn share_prefix(&self) -> String {
        let si = self.to_base32();
        format!("shares/{}/{si}/", &si[..2])
    }

    fn parse(text: &str) -> Option<Self> {
        let bytes = from_base32(text)?;
        Some(StorageIndex(bytes.try_into().ok()?))
    }
}

impl fmt::Display for StorageIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base32())
    }
}

/// A mutable file's write capability. The storage index is derived from the
/// write key (through the read key, as Tahoe-LAFS's SSK does), so the cap is
/// the key alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MutableCap {
    pub write_key: [u8; 16],
    pub storage_index: StorageIndex,
}

impl MutableCap {
    pub fn from_write_key(write_key: [u8; 16]) -> Self {
        let read_key = tagged_hash_16("mutable read key", &[&write_key]);
        let storage_index = StorageIndex(tagged_hash_16("mutable storage index", &[&read_key]));
        MutableCap { write_key, storage_index }
    }

    /// The key shares are signed with (HMAC-SHA256; Tahoe-LAFS signs with RSA).
    pub(crate) fn signing_key(&self) -> Hash {
        crate::hash::tagged_hash("mutable signing key", &[&self.write_key])
    }

    /// The secret a server checks before it lets anyone write a share: one per server.
    pub(crate) fn write_enabler(&self, server: u32) -> Hash {
        let master = crate::hash::tagged_hash("write enabler master", &[&self.write_key]);
        crate::hash::tagged_hash("write enabler", &[&master, &server.to_be_bytes()])
    }
}

impl fmt::Display for MutableCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "URI:SSK:{}", base32(&self.write_key))
    }
}

/// An immutable file stored as shares (CHK-like: the storage index is a hash
/// of the content and a convergence secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImmutableCap {
    pub storage_index: StorageIndex,
    /// Hash of the share parameters and every block's hash (Tahoe-LAFS's
    /// "URI extension block" hash): what a downloaded share is checked against.
    pub ueb_hash: Hash,
    pub shares_needed: u8,
    pub shares_total: u8,
    pub size: u64,
}

impl fmt::Display for ImmutableCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "URI:CHK:{}:{}:{}:{}:{}",
            self.storage_index,
            base32(&self.ueb_hash),
            self.shares_needed,
            self.shares_total,
            self.size
        )
    }
}

/// A file of at most [`LITERAL_BYTES_MAX`] bytes, held in the cap itself:
/// reading or writing it needs no server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LiteralCap {
    pub data: Bytes,
}

/// Tahoe-LAFS's LIT threshold.
pub const LITERAL_BYTES_MAX: usize = 55;

impl fmt::Display for LiteralCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "URI:LIT:{}", base32(&self.data))
    }
}

/// What an immutable upload returns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileCap {
    Literal(LiteralCap),
    Immutable(ImmutableCap),
}

impl fmt::Display for FileCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileCap::Literal(cap) => cap.fmt(f),
            FileCap::Immutable(cap) => cap.fmt(f),
        }
    }
}

/// Any cap a directory can hold.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cap {
    /// An immutable (or literal) file.
    File(FileCap),
    MutableFile(MutableCap),
    /// A mutable directory: a mutable file holding serialised entries.
    MutableDir(MutableCap),
    /// An immutable directory: an immutable (or literal) file holding serialised entries.
    ImmutableDir(FileCap),
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cap::File(cap) => cap.fmt(f),
            Cap::MutableFile(cap) => cap.fmt(f),
            Cap::MutableDir(cap) => write!(f, "URI:DIR2:{}", base32(&cap.write_key)),
            Cap::ImmutableDir(FileCap::Immutable(cap)) => {
                write!(f, "URI:DIR2-{}", cap.to_string().trim_start_matches("URI:"))
            }
            Cap::ImmutableDir(FileCap::Literal(cap)) => write!(f, "URI:DIR2-LIT:{}", base32(&cap.data)),
        }
    }
}

impl Cap {
    /// Parses what `Display` writes; `None` for anything else.
    pub fn parse(text: &str) -> Option<Cap> {
        let mut fields = text.split(':');
        if fields.next()? != "URI" {
            return None;
        }
        let kind = fields.next()?;
        let rest: Vec<&str> = fields.collect();
        let write_key = |rest: &[&str]| -> Option<MutableCap> {
            let [key] = rest else { return None };
            Some(MutableCap::from_write_key(from_base32(key)?.try_into().ok()?))
        };
        let literal = |rest: &[&str]| -> Option<FileCap> {
            let [data] = rest else { return None };
            let data = from_base32(data)?;
            (data.len() <= LITERAL_BYTES_MAX).then(|| FileCap::Literal(LiteralCap { data: Bytes::from(data) }))
        };
        let chk = |rest: &[&str]| -> Option<FileCap> {
            let [si, ueb, k, n, size] = rest else { return None };
            Some(FileCap::Immutable(ImmutableCap {
                storage_index: StorageIndex::parse(si)?,
                ueb_hash: from_base32(ueb)?.try_into().ok()?,
                shares_needed: k.parse().ok()?,
                shares_total: n.parse().ok()?,
                size: size.parse().ok()?,
            }))
        };
        match kind {
            "SSK" => write_key(&rest).map(Cap::MutableFile),
            "DIR2" => write_key(&rest).map(Cap::MutableDir),
            "LIT" => literal(&rest).map(Cap::File),
            "CHK" => chk(&rest).map(Cap::File),
            "DIR2-LIT" => literal(&rest).map(Cap::ImmutableDir),
            "DIR2-CHK" => chk(&rest).map(Cap::ImmutableDir),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_round_trip() {
        let mutable = MutableCap::from_write_key([7; 16]);
        let chk = ImmutableCap {
            storage_index: StorageIndex([3; 16]),
            ueb_hash: [9; 32],
            shares_needed: 3,
            shares_total: 10,
            size: 12345,
        };
        let lit = LiteralCap { data: Bytes::from_static(b"hello") };
        let caps = [
            Cap::MutableFile(mutable),
            Cap::MutableDir(mutable),
            Cap::File(FileCap::Immutable(chk)),
            Cap::File(FileCap::Literal(lit.clone())),
            Cap::ImmutableDir(FileCap::Immutable(chk)),
            Cap::ImmutableDir(FileCap::Literal(lit)),
        ];
        for cap in caps {
            assert_eq!(Cap::parse(&cap.to_string()), Some(cap.clone()), "{cap}");
        }
        assert_eq!(Cap::parse("URI:XYZ:abc"), None);
        assert_eq!(Cap::parse(""), None);
    }

    #[test]
    fn storage_index_prefix() {
        let si = MutableCap::from_write_key([1; 16]).storage_index;
        let prefix = si.share_prefix();
        assert!(prefix.starts_with("shares/"));
        assert_eq!(prefix.len(), "shares/".len() + 3 + 26 + 1);
    }
}
