//! The SDMF-like mutable share: layout, building all N shares of a version,
//! parsing, and verification with the messages Tahoe-LAFS gives.
//!
//! Layout (big-endian), one segment per file, so one block per share:
//!
//! ```text
//!   0  version (u8, 0)        \
//!   1  seqnum (u64)            | the checkstring (57 bytes)
//!   9  root hash (32)          |
//!  41  salt (16)              /
//!  57  k (u8)   58  N (u8)
//!  59  data length (u64)   67  block length (u64)
//!  75  signature (32): HMAC-SHA256 over bytes 0..75 under the write key
//! 107  share hash chain: count (u8), then count x 32
//!      block hash tree: count (u8, 1), then count x 32
//!      block (block length)
//! ```
//!
//! The block hash tree has one leaf per block: `H(salt || block)` (as MDMF
//! salts each block). The share hash tree has one leaf per share, the root
//! of that share's block hash tree; its root is the "root hash". The data is
//! not encrypted: the salt still makes every version's root hash differ.

use bytes::{BufMut, Bytes, BytesMut};

use crate::cap::MutableCap;
use crate::erasure::Codec;
use crate::hash::{base32, hmac_sha256, root_from_chain, tagged_hash, Hash, MerkleTree};

/// Tahoe-LAFS's checkstring: version, seqnum, root hash, salt.
pub const CHECKSTRING_BYTES: usize = 57;
/// Everything the signature covers.
pub const SIGNED_BYTES: usize = 75;
const SIGNATURE_AT: usize = SIGNED_BYTES;
const CHAIN_AT: usize = SIGNATURE_AT + 32;

pub type Checkstring = [u8; CHECKSTRING_BYTES];

/// Identifies a version: shares with equal `VerInfo` are of one version.
/// Ordered so that the highest seqnum wins (then the root hash, as Tahoe's
/// tuple comparison does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VerInfo {
    pub seqnum: u64,
    pub root_hash: Hash,
    pub salt: [u8; 16],
    pub shares_needed: u8,
    pub shares_total: u8,
    pub data_bytes: u64,
    pub block_bytes: u64,
}

impl VerInfo {
    pub fn checkstring(&self) -> Checkstring {
        let mut out = [0u8; CHECKSTRING_BYTES];
        out[0] = 0;
        out[1..9].copy_from_slice(&self.seqnum.to_be_bytes());
        out[9..41].copy_from_slice(&self.root_hash);
        out[41..57].copy_from_slice(&self.salt);
        out
    }

    fn signed_bytes(&self) -> [u8; SIGNED_BYTES] {
        let mut out = [0u8; SIGNED_BYTES];
        out[..CHECKSTRING_BYTES].copy_from_slice(&self.checkstring());
        out[57] = self.shares_needed;
        out[58] = self.shares_total;
        out[59..67].copy_from_slice(&self.data_bytes.to_be_bytes());
        out[67..75].copy_from_slice(&self.block_bytes.to_be_bytes());
        out
    }
}

/// Everything before the block, parsed (what the servermap reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharePrefix {
    pub verinfo: VerInfo,
    pub signature: Hash,
    pub share_hash_chain: Vec<Hash>,
    pub block_hash_tree: Vec<Hash>,
    /// Where the block starts within the share.
    pub block_offset: u64,
}

/// The seqnum in a checkstring (for surprise detection and messages).
pub fn checkstring_seqnum(checkstring: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(checkstring.get(1..9)?.try_into().ok()?))
}

fn block_leaf(salt: &[u8; 16], block: &[u8]) -> Hash {
    tagged_hash("mutable block", &[salt, block])
}

/// All N shares of version `seqnum` of `data`, share i at index i.
pub fn build_shares(
    cap: &MutableCap,
    codec: &Codec,
    seqnum: u64,
    salt: [u8; 16],
    data: &Bytes,
) -> (VerInfo, Vec<Bytes>) {
    let blocks = codec.encode(data);
    let leaves: Vec<Hash> = blocks.iter().map(|block| block_leaf(&salt, block)).collect();
    let tree = MerkleTree::new(&leaves);
    let verinfo = VerInfo {
        seqnum,
        root_hash: tree.root(),
        salt,
        shares_needed: codec.needed(),
        shares_total: codec.total(),
        data_bytes: data.len() as u64,
        block_bytes: codec.block_bytes(data.len() as u64),
    };
    let signed = verinfo.signed_bytes();
    let signature = hmac_sha256(&cap.signing_key(), &[&signed]);
    let shares = blocks
        .iter()
        .zip(&leaves)
        .enumerate()
        .map(|(i, (block, leaf))| {
            let chain = tree.chain(i);
            let mut out = BytesMut::with_capacity(CHAIN_AT + 2 + (chain.len() + 1) * 32 + block.len());
            out.put_slice(&signed);
            out.put_slice(&signature);
            out.put_u8(u8::try_from(chain.len()).unwrap_or(u8::MAX));
            for hash in &chain {
                out.put_slice(hash);
            }
            out.put_u8(1);
            out.put_slice(leaf);
            out.put_slice(block);
            out.freeze()
        })
        .collect();
    (verinfo, shares)
}

/// Parses the prefix of a share (its first bytes suffice, the block need not be there).
pub fn parse_prefix(share: &[u8]) -> Result<SharePrefix, String> {
    let truncated = || "unparseable share: truncated prefix".to_owned();
    let header = share.get(..CHAIN_AT).ok_or_else(truncated)?;
    if header[0] != 0 {
        return Err(format!("unparseable share: unknown version {}", header[0]));
    }
    let u64_at = |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    let hash_at = |bytes: &[u8], at: usize| -> Option<Hash> { bytes.get(at..at + 32)?.try_into().ok() };
    let verinfo = VerInfo {
        seqnum: u64_at(1),
        root_hash: hash_at(header, 9).ok_or_else(truncated)?,
        salt: header[41..57].try_into().unwrap_or([0; 16]),
        shares_needed: header[57],
        shares_total: header[58],
        data_bytes: u64_at(59),
        block_bytes: u64_at(67),
    };
    let signature = hash_at(header, SIGNATURE_AT).ok_or_else(truncated)?;
    let mut at = CHAIN_AT;
    let read_hashes = |at: &mut usize| -> Result<Vec<Hash>, String> {
        let count = usize::from(*share.get(*at).ok_or_else(truncated)?);
        *at += 1;
        let mut hashes = Vec::with_capacity(count);
        for _ in 0..count {
            hashes.push(hash_at(share, *at).ok_or_else(truncated)?);
            *at += 32;
        }
        Ok(hashes)
    };
    let share_hash_chain = read_hashes(&mut at)?;
    let block_hash_tree = read_hashes(&mut at)?;
    if block_hash_tree.is_empty() {
        return Err("unparseable share: empty block hash tree".into());
    }
    Ok(SharePrefix { verinfo, signature, share_hash_chain, block_hash_tree, block_offset: at as u64 })
}

/// Whether the prefix is signed by the holder of `cap`'s write key.
pub fn signature_valid(cap: &MutableCap, prefix: &SharePrefix) -> bool {
    let expected = hmac_sha256(&cap.signing_key(), &[&prefix.verinfo.signed_bytes()]);
    // Not constant-time: nobody is timing this simulator.
    expected == prefix.signature
}

/// Checks `block` of share `shnum` against the share's block hash tree, the
/// tree's root against the share hash chain, and the chain against the root
/// hash. The error is the reason Tahoe-LAFS's `CorruptShareError` gives.
pub fn verify_block(prefix: &SharePrefix, shnum: u8, block: &[u8]) -> Result<(), String> {
    let verinfo = &prefix.verinfo;
    let leaf = block_leaf(&verinfo.salt, block);
    let existing = prefix.block_hash_tree.first().copied().unwrap_or([0; 32]);
    if leaf != existing || block.len() as u64 != verinfo.block_bytes {
        return Err(format!(
            "block hash tree failure: new hash {} does not match existing hash {} at [0 of 1] (leaf [0] of 1)",
            base32(&leaf),
            base32(&existing)
        ));
    }
    if shnum >= verinfo.shares_total {
        return Err(format!("share hash chain failure: share number {shnum} >= N {}", verinfo.shares_total));
    }
    let root = root_from_chain(usize::from(shnum), existing, &prefix.share_hash_chain);
    if root != verinfo.root_hash {
        return Err(format!(
            "share hash chain failure: computed root {} does not match root hash {}",
            base32(&root),
            base32(&verinfo.root_hash)
        ));
    }
    Ok(())
}

/// The block of a whole share (as much of it as is there: a torn share may be short).
pub fn block_of(prefix: &SharePrefix, share: &Bytes) -> Bytes {
    let start = usize::try_from(prefix.block_offset).unwrap_or(usize::MAX).min(share.len());
    let end = usize::try_from(prefix.block_offset.saturating_add(prefix.verinfo.block_bytes))
        .unwrap_or(usize::MAX)
        .min(share.len());
    share.slice(start..end.max(start))
}

/// Verifies a whole share: parse, signature, block, hash tree, root hash.
pub fn verify_share(cap: &MutableCap, shnum: u8, share: &Bytes) -> Result<(SharePrefix, Bytes), String> {
    let prefix = parse_prefix(share)?;
    if !signature_valid(cap, &prefix) {
        return Err("signature is invalid".into());
    }
    let block = block_of(&prefix, share);
    verify_block(&prefix, shnum, &block)?;
    Ok((prefix, block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_verify_and_tampering_is_caught() {
        let cap = MutableCap::from_write_key([5; 16]);
        let codec = Codec::new(3, 10).unwrap();
        let data = Bytes::from_static(b"the quick brown fox jumps over the lazy dog");
        let (verinfo, shares) = build_shares(&cap, &codec, 7, [1; 16], &data);
        assert_eq!(shares.len(), 10);
        for (i, share) in shares.iter().enumerate() {
            let (prefix, _) = verify_share(&cap, i as u8, share).unwrap();
            assert_eq!(prefix.verinfo, verinfo);
        }
        let mut tampered = shares[2].to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let err = verify_share(&cap, 2, &Bytes::from(tampered)).unwrap_err();
        assert!(err.starts_with("block hash tree failure: new hash "), "{err}");
        assert!(err.ends_with("at [0 of 1] (leaf [0] of 1)"), "{err}");
        // The right share under the wrong number fails the chain.
        assert!(verify_share(&cap, 3, &shares[2]).unwrap_err().starts_with("share hash chain failure"));
        // Another key's signature fails.
        let other = MutableCap::from_write_key([6; 16]);
        assert_eq!(verify_share(&other, 2, &shares[2]).unwrap_err(), "signature is invalid");
        assert!(parse_prefix(&shares[2][..50]).is_err());
    }
}
