//! How a storage server keeps a share in S3: the object key, and the
//! container around the share (write enabler, lease, share data).
//!
//! Key: `shares/<SI[:2]>/<SI>/<share number>` (the 2012 prototype's), or,
//! under the chunked layout, chunk objects `<key>.<chunk index>`.
//!
//! Container (88 bytes of header, then the share data):
//! `magic (8) | write enabler (32) | lease renew secret (32) |
//! lease expiration, seconds of virtual time (u64 BE) | data length (u64 BE)`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::cap::StorageIndex;
use crate::hash::Hash;

pub const CONTAINER_HEADER_BYTES: usize = 88;
const MUTABLE_MAGIC: &[u8; 8] = b"RLMUTSH1";
const IMMUTABLE_MAGIC: &[u8; 8] = b"RLIMMSH1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Mutable,
    Immutable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerHeader {
    pub kind: ContainerKind,
    /// Zero for immutable shares (nobody writes them twice).
    pub write_enabler: Hash,
    pub lease_renew_secret: Hash,
    pub lease_expiration_s: u64,
    pub data_bytes: u64,
}

/// Header plus data, as one S3 object body (or the concatenation of chunks).
pub fn encode_container(header: &ContainerHeader, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(CONTAINER_HEADER_BYTES + data.len());
    out.put_slice(match header.kind {
        ContainerKind::Mutable => MUTABLE_MAGIC,
        ContainerKind::Immutable => IMMUTABLE_MAGIC,
    });
    out.put_slice(&header.write_enabler);
    out.put_slice(&header.lease_renew_secret);
    out.put_u64(header.lease_expiration_s);
    out.put_u64(data.len() as u64);
    out.put_slice(data);
    out.freeze()
}

/// The header and the share data. Data shorter than the header says is
/// returned as it is (a torn chunked share): the share's own hashes tell.
pub fn decode_container(object: &Bytes) -> Result<(ContainerHeader, Bytes), &'static str> {
    if object.len() < CONTAINER_HEADER_BYTES {
        return Err("container shorter than its header");
    }
    let kind = match &object[..8] {
        m if m == MUTABLE_MAGIC => ContainerKind::Mutable,
        m if m == IMMUTABLE_MAGIC => ContainerKind::Immutable,
        _ => return Err("container magic unknown"),
    };
    let hash_at = |at: usize| -> Hash {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&object[at..at + 32]);
        hash
    };
    let u64_at = |at: usize| -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&object[at..at + 8]);
        u64::from_be_bytes(bytes)
    };
    let header = ContainerHeader {
        kind,
        write_enabler: hash_at(8),
        lease_renew_secret: hash_at(40),
        lease_expiration_s: u64_at(72),
        data_bytes: u64_at(80),
    };
    let available = object.len() - CONTAINER_HEADER_BYTES;
    let data_len = usize::try_from(header.data_bytes).unwrap_or(usize::MAX).min(available);
    Ok((header, object.slice(CONTAINER_HEADER_BYTES..CONTAINER_HEADER_BYTES + data_len)))
}

/// `shares/<SI[:2]>/<SI>/<share number>`.
pub fn share_key(storage_index: &StorageIndex, share: u8) -> String {
    format!("{}{share}", storage_index.share_prefix())
}

/// `<share key>.<chunk index>`.
pub fn chunk_key(storage_index: &StorageIndex, share: u8, chunk: u32) -> String {
    format!("{}{share}.{chunk}", storage_index.share_prefix())
}

/// `<share key>.prev`: the version a share held before a publish replaced
/// it, kept while it is the newest version the writer could recover.
pub fn previous_key(storage_index: &StorageIndex, share: u8) -> String {
    format!("{}{share}.prev", storage_index.share_prefix())
}

/// One S3 object of a share: the whole share, chunk `n`, or the previous version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Piece {
    Whole,
    Chunk(u32),
    Previous,
}

/// The share number and piece a key under `prefix` names; `None` for keys
/// that are not shares of that index.
pub fn parse_share_key(prefix: &str, key: &str) -> Option<(u8, Piece)> {
    let rest = key.strip_prefix(prefix)?;
    match rest.split_once('.') {
        None => Some((rest.parse().ok()?, Piece::Whole)),
        Some((share, "prev")) => Some((share.parse().ok()?, Piece::Previous)),
        Some((share, chunk)) => Some((share.parse().ok()?, Piece::Chunk(chunk.parse().ok()?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_round_trip_and_torn() {
        let header = ContainerHeader {
            kind: ContainerKind::Mutable,
            write_enabler: [1; 32],
            lease_renew_secret: [2; 32],
            lease_expiration_s: 99,
            data_bytes: 5,
        };
        let object = encode_container(&header, b"hello");
        let (decoded, data) = decode_container(&object).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(&data[..], b"hello");
        let torn = object.slice(..object.len() - 2);
        assert_eq!(&decode_container(&torn).unwrap().1[..], b"hel");
        assert!(decode_container(&Bytes::from_static(b"short")).is_err());
    }

    #[test]
    fn keys_parse() {
        let si = StorageIndex([0; 16]);
        let prefix = si.share_prefix();
        assert_eq!(parse_share_key(&prefix, &share_key(&si, 7)), Some((7, Piece::Whole)));
        assert_eq!(parse_share_key(&prefix, &chunk_key(&si, 7, 3)), Some((7, Piece::Chunk(3))));
        assert_eq!(parse_share_key(&prefix, "shares/zz/other/1"), None);
        assert_eq!(parse_share_key(&prefix, &format!("{prefix}x")), None);
    }
}
