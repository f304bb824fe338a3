//! Tagged SHA-256 hashes, HMAC signatures, base32 as Tahoe-LAFS renders it,
//! and the Merkle trees of a mutable file (block hash tree, share hash tree).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256 over a netstring of `tag` followed by `parts`. Tahoe-LAFS tags
/// every hash with its purpose (and doubles SHA-256; one round is enough
/// here, where nobody attacks the hashes), so that a hash of one kind can
/// never stand in for another.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(tag.len().to_string().as_bytes());
    hasher.update(b":");
    hasher.update(tag.as_bytes());
    hasher.update(b",");
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The first 16 bytes of a tagged hash (keys and storage indexes).
pub fn tagged_hash_16(tag: &str, parts: &[&[u8]]) -> [u8; 16] {
    let hash = tagged_hash(tag, parts);
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash[..16]);
    out
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> Hash {
    // HMAC accepts keys of any length, so this never fails; the fallback
    // keeps the function total without a panic path.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return tagged_hash("hmac fallback", message);
    };
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// RFC 4648 base32, lower case, no padding: how Tahoe-LAFS writes storage
/// indexes (16 bytes -> 26 characters) and hashes in messages.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = data_encoding::BASE32_NOPAD.encode(bytes);
    out.make_ascii_lowercase();
    out
}

/// The inverse of [`base32`]; `None` for anything that is not.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD.decode(text.to_ascii_uppercase().as_bytes()).ok()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    tagged_hash("merkle node", &[left, right])
}

fn empty_leaf_hash(index: usize) -> Hash {
    tagged_hash("merkle empty leaf", &[index.to_string().as_bytes()])
}

/// A complete binary Merkle tree over `leaves`, padded to a power of two
/// with per-position empty-leaf hashes (as Tahoe-LAFS's `hashtree`).
pub struct MerkleTree {
    /// `levels[0]` are the padded leaves; the last level is the root alone.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    pub fn new(leaves: &[Hash]) -> Self {
        let width = leaves.len().max(1).next_power_of_two();
        let mut level: Vec<Hash> =
            (0..width).map(|i| leaves.get(i).copied().unwrap_or_else(|| empty_leaf_hash(i))).collect();
        let mut levels = Vec::new();
        while level.len() > 1 {
            let next = level.chunks(2).map(|pair| node_hash(&pair[0], pair.get(1).unwrap_or(&pair[0]))).collect();
            levels.push(std::mem::replace(&mut level, next));
        }
        levels.push(level);
        MerkleTree { levels }
    }

    pub fn root(&self) -> Hash {
        self.levels.last().and_then(|level| level.first()).copied().unwrap_or([0; 32])
    }

    /// The sibling hashes from leaf `index` up to (not including) the root:
    /// what a share stores as its "share hash chain".
    pub fn chain(&self, index: usize) -> Vec<Hash> {
        let mut chain = Vec::with_capacity(self.levels.len().saturating_sub(1));
        let mut position = index;
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            chain.push(level.get(position ^ 1).copied().unwrap_or([0; 32]));
            position /= 2;
        }
        chain
    }
}

/// The root implied by `leaf` at `index` and its sibling `chain`.
pub fn root_from_chain(index: usize, leaf: Hash, chain: &[Hash]) -> Hash {
    let mut hash = leaf;
    let mut position = index;
    for sibling in chain {
        hash = if position & 1 == 0 { node_hash(&hash, sibling) } else { node_hash(sibling, &hash) };
        position /= 2;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_is_tahoe_style() {
        let si = [0xffu8; 16];
        let text = base32(&si);
        assert_eq!(text.len(), 26);
        assert_eq!(text, text.to_ascii_lowercase());
        assert_eq!(from_base32(&text).as_deref(), Some(&si[..]));
    }

    #[test]
    fn chains_lead_to_the_root() {
        for n in 1..=10usize {
            let leaves: Vec<Hash> = (0..n).map(|i| tagged_hash("leaf", &[&[i as u8]])).collect();
            let tree = MerkleTree::new(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                assert_eq!(root_from_chain(i, *leaf, &tree.chain(i)), tree.root(), "n {n} leaf {i}");
            }
        }
    }
}
