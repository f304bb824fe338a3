//! k-of-N erasure coding with Reed-Solomon over GF(2^8), as Tahoe-LAFS's
//! zfec: the data is padded to a multiple of k and split into k data blocks,
//! and N - k parity blocks are added; any k blocks give the data back.

use bytes::{Bytes, BytesMut};
use reed_solomon_erasure::galois_8::ReedSolomon;

/// An encoder/decoder for one (k, N). Building the Reed-Solomon matrix costs
/// far more than coding a small file, so the gateway keeps one.
pub struct Codec {
    needed: u8,
    total: u8,
    /// `None` when N == k: no parity, the blocks are the data's slices.
    rs: Option<ReedSolomon>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Codec({}-of-{})", self.needed, self.total)
    }
}

impl Codec {
    pub fn new(needed: u8, total: u8) -> Result<Codec, String> {
        if needed == 0 || total < needed {
            return Err(format!("cannot code {needed}-of-{total}"));
        }
        let parity = usize::from(total - needed);
        let rs = if parity == 0 {
            None
        } else {
            Some(ReedSolomon::new(usize::from(needed), parity).map_err(|e| format!("{e:?}"))?)
        };
        Ok(Codec { needed, total, rs })
    }

    pub fn needed(&self) -> u8 {
        self.needed
    }

    pub fn total(&self) -> u8 {
        self.total
    }

    /// The length of each block for `data_bytes` of data. At least one byte
    /// when parity is computed (the coder rejects empty shards).
    pub fn block_bytes(&self, data_bytes: u64) -> u64 {
        let k = u64::from(self.needed);
        let blocks = data_bytes.div_ceil(k);
        if self.rs.is_some() {
            blocks.max(1)
        } else {
            blocks
        }
    }

    /// N blocks of equal length; block i goes into share i.
    pub fn encode(&self, data: &Bytes) -> Vec<Bytes> {
        let k = usize::from(self.needed);
        let block = usize::try_from(self.block_bytes(data.len() as u64)).unwrap_or(usize::MAX);
        if k == 1 && self.rs.is_none() {
            // 1-of-1 (the 2012 set-up): the block is the data, no copy.
            return vec![data.clone()];
        }
        let mut padded = BytesMut::with_capacity(block * k);
        padded.extend_from_slice(data);
        padded.resize(block * k, 0);
        let padded = padded.freeze();
        let mut blocks: Vec<Bytes> = (0..k).map(|i| padded.slice(i * block..(i + 1) * block)).collect();
        if let Some(rs) = &self.rs {
            let data_shards: Vec<&[u8]> = blocks.iter().map(|b| &b[..]).collect();
            let mut parity: Vec<Vec<u8>> = vec![vec![0u8; block]; usize::from(self.total - self.needed)];
            // Equal, non-empty shard lengths and the right counts are
            // guaranteed above; an error would be a bug in this function.
            if rs.encode_sep(&data_shards, &mut parity).is_ok() {
                blocks.extend(parity.into_iter().map(Bytes::from));
            }
        }
        blocks
    }

    /// The data from at least k distinct blocks `(share number, block)`.
    pub fn decode(&self, blocks: &[(u8, Bytes)], data_bytes: u64) -> Result<Bytes, String> {
        let k = usize::from(self.needed);
        let data_len = usize::try_from(data_bytes).map_err(|_| "data length out of range".to_owned())?;
        let block = usize::try_from(self.block_bytes(data_bytes)).unwrap_or(usize::MAX);
        if block.checked_mul(k).is_none_or(|padded| padded < data_len) {
            return Err("data length does not fit the blocks".into());
        }
        let mut slots: Vec<Option<Bytes>> = vec![None; usize::from(self.total)];
        for (shnum, bytes) in blocks {
            let Some(slot) = slots.get_mut(usize::from(*shnum)) else {
                return Err(format!("share number {shnum} out of range"));
            };
            if bytes.len() != block {
                return Err(format!("block of share {shnum} has {} bytes, expected {block}", bytes.len()));
            }
            *slot = Some(bytes.clone());
        }
        if k == 1 && self.rs.is_none() {
            return match &slots[0] {
                Some(bytes) => Ok(bytes.slice(..data_len)),
                None => Err("share 0 missing".into()),
            };
        }
        // Fast path: the data blocks are all there, no arithmetic needed.
        if slots[..k].iter().all(Option::is_some) {
            let mut out = BytesMut::with_capacity(block * k);
            for bytes in slots[..k].iter().flatten() {
                out.extend_from_slice(bytes);
            }
            out.truncate(data_len);
            return Ok(out.freeze());
        }
        let Some(rs) = &self.rs else {
            return Err("a data block is missing and there is no parity".into());
        };
        let present = slots.iter().filter(|s| s.is_some()).count();
        if present < k {
            return Err(format!("{present} blocks, need {k}"));
        }
        let mut shards: Vec<Option<Vec<u8>>> = slots.into_iter().map(|s| s.map(|b| b.to_vec())).collect();
        rs.reconstruct_data(&mut shards).map_err(|e| format!("reconstruction failed: {e:?}"))?;
        let mut out = BytesMut::with_capacity(block * k);
        for shard in shards.iter().take(k) {
            match shard {
                Some(bytes) => out.extend_from_slice(bytes),
                None => return Err("reconstruction left a data block missing".into()),
            }
        }
        out.truncate(data_len);
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_one_is_the_data() {
        let codec = Codec::new(1, 1).unwrap();
        let data = Bytes::from_static(b"hello");
        let blocks = codec.encode(&data);
        assert_eq!(blocks, vec![data.clone()]);
        assert_eq!(codec.decode(&[(0, blocks[0].clone())], 5).unwrap(), data);
        let empty = codec.encode(&Bytes::new());
        assert_eq!(codec.decode(&[(0, empty[0].clone())], 0).unwrap(), Bytes::new());
    }

    #[test]
    fn three_of_ten_from_parity_only() {
        let codec = Codec::new(3, 10).unwrap();
        for len in [0usize, 1, 2, 3, 100, 1001] {
            let data = Bytes::from((0..len).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
            let blocks = codec.encode(&data);
            assert_eq!(blocks.len(), 10);
            let chosen: Vec<(u8, Bytes)> = [9u8, 4, 7].iter().map(|&i| (i, blocks[usize::from(i)].clone())).collect();
            assert_eq!(codec.decode(&chosen, len as u64).unwrap(), data, "len {len}");
        }
    }

    #[test]
    fn decode_rejects_bad_input() {
        let codec = Codec::new(3, 10).unwrap();
        assert!(codec.decode(&[(0, Bytes::from_static(b"a"))], 3).is_err());
        assert!(codec.decode(&[(200, Bytes::from_static(b"a"))], 3).is_err());
        assert!(codec.decode(&[], u64::MAX).is_err());
    }
}
