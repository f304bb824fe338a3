//! Faults beyond S3's error answers: grid nodes that crash and restart,
//! partitions between groups of nodes, and stored or answered objects that
//! come back wrong (bit flips, truncation, rolled-back and tampered reads).
//!
//! Pure descriptions with their validation, shared by the scenario model
//! (which reads them from a file) and the simulator (which applies them).
//! [`CorruptionDraw`] decides, per S3 request slot and from a stream of its
//! own, what corruption a request meets (common random numbers, as for
//! [`crate::FaultSchedule`]).

use std::fmt;
use std::time::Duration;

use rand::Rng;

use crate::model::ModelError;
use crate::rng::{slot_rng, sub_seed};

/// The longest a scheduled disruption may start after the run began or
/// last (100 days): longer is a mistake of units, and it keeps every
/// `Duration` sum far from overflow.
pub const DISRUPTION_SECONDS_MAX: u64 = 100 * 24 * 3600;

/// A node of a Tahoe-LAFS grid that a disruption can name: `storage-server.<i>`
/// or `gateway.<g>`, as the grid names its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GridNode {
    StorageServer(u32),
    Gateway(u32),
}

impl GridNode {
    /// Parses `storage-server.<i>` or `gateway.<g>` (decimal, no sign, no leading zeros but `0`).
    pub fn parse(name: &str) -> Option<GridNode> {
        let number = |digits: &str| {
            let plain = !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            if plain {
                digits.parse::<u32>().ok()
            } else {
                None
            }
        };
        if let Some(digits) = name.strip_prefix("storage-server.") {
            return number(digits).map(GridNode::StorageServer);
        }
        name.strip_prefix("gateway.").and_then(number).map(GridNode::Gateway)
    }

    /// Whether the node exists in a grid of `servers` storage servers and `gateways` gateways.
    pub fn exists_in(self, servers: u32, gateways: u32) -> bool {
        match self {
            GridNode::StorageServer(i) => i < servers,
            GridNode::Gateway(g) => g < gateways,
        }
    }
}

impl fmt::Display for GridNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GridNode::StorageServer(i) => write!(f, "storage-server.{i}"),
            GridNode::Gateway(g) => write!(f, "gateway.{g}"),
        }
    }
}

/// `node` crashes at `at` (virtual time from the run's start) and restarts
/// `down` later, with only what it kept durable (a storage server's S3
/// bucket; nothing of a gateway's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    pub node: GridNode,
    pub at: Duration,
    pub down: Duration,
}

/// Every message between a node of `side_a` and one of `side_b`, either
/// way, is lost from `start` for `duration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub side_a: Vec<GridNode>,
    pub side_b: Vec<GridNode>,
    pub start: Duration,
    pub duration: Duration,
}

/// Per-request probabilities of corruption at the S3 service, each drawn
/// independently (a request may meet several).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corruption {
    /// A PUT's stored body gets one bit flipped at rest (bit rot: it stays).
    pub bit_flip: f64,
    /// A PUT's stored body is cut short at rest (it stays).
    pub truncate: f64,
    /// A GET is answered with the version before the current one (a replica
    /// that rolled back); transient.
    pub stale_read: f64,
    /// A GET's answer has one byte altered in transit; transient.
    pub tampered_read: f64,
}

impl Corruption {
    /// Whether any kind has a chance to happen.
    pub fn any(&self) -> bool {
        self.fields().iter().any(|(_, p)| *p > 0.0)
    }

    /// `(name, probability)` of every kind, as the scenario file names them.
    pub fn fields(&self) -> [(&'static str, f64); 4] {
        [
            ("bit_flip", self.bit_flip),
            ("truncate", self.truncate),
            ("stale_read", self.stale_read),
            ("tampered_read", self.tampered_read),
        ]
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        for (field, p) in self.fields() {
            if !(0.0..=1.0).contains(&p) {
                return Err(ModelError { field, message: format!("must be a probability in [0, 1], got {p}") });
            }
        }
        Ok(())
    }
}

/// Everything of a scenario's faults that is not an S3 error answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disruptions {
    pub crashes: Vec<Crash>,
    pub partitions: Vec<Partition>,
    pub corruption: Corruption,
}

impl Disruptions {
    /// Whether any crash or partition is scheduled (corruption aside).
    pub fn schedules_any(&self) -> bool {
        !self.crashes.is_empty() || !self.partitions.is_empty()
    }

    /// Checks bounds and that every node exists in a grid of `servers`
    /// storage servers and `gateways` gateways. `field` is relative to the
    /// disruption: `crashes[i].node`, `partitions[i].between`, ...
    pub fn validate(&self, servers: u32, gateways: u32) -> Result<(), DisruptionError> {
        let error = |field: String, message: String| DisruptionError { field, message };
        let unknown = |node: GridNode| {
            format!(
                "no node {node} in this grid (it has storage-server.0..{} and gateway.0..{})",
                servers.saturating_sub(1),
                gateways.saturating_sub(1)
            )
        };
        for (i, crash) in self.crashes.iter().enumerate() {
            if !crash.node.exists_in(servers, gateways) {
                return Err(error(format!("crashes[{i}].node"), unknown(crash.node)));
            }
            bounded(&format!("crashes[{i}].at_s"), crash.at, false)?;
            bounded(&format!("crashes[{i}].down_s"), crash.down, true)?;
        }
        for (i, partition) in self.partitions.iter().enumerate() {
            let field = format!("partitions[{i}].between");
            for side in [&partition.side_a, &partition.side_b] {
                if side.is_empty() {
                    return Err(error(field, "each side needs at least one node".into()));
                }
                if let Some(node) = side.iter().find(|node| !node.exists_in(servers, gateways)) {
                    return Err(error(field, unknown(*node)));
                }
            }
            if let Some(node) = partition.side_a.iter().find(|node| partition.side_b.contains(node)) {
                return Err(error(field, format!("{node} is on both sides")));
            }
            bounded(&format!("partitions[{i}].start_s"), partition.start, false)?;
            bounded(&format!("partitions[{i}].duration_s"), partition.duration, true)?;
        }
        self.corruption.validate().map_err(|err| error(format!("corruption.{}", err.field), err.message))
    }
}

/// A time of a disruption: at most [`DISRUPTION_SECONDS_MAX`], and at
/// least 1 ms when `positive` (madsim's resolution).
fn bounded(field: &str, value: Duration, positive: bool) -> Result<(), DisruptionError> {
    let error = |message: String| Err(DisruptionError { field: field.to_owned(), message });
    if value > Duration::from_secs(DISRUPTION_SECONDS_MAX) {
        return error(format!("must be at most {DISRUPTION_SECONDS_MAX} s, got {} s", value.as_secs_f64()));
    }
    if positive && value < Duration::from_millis(1) {
        return error(format!("must be at least 0.001 s, got {} s", value.as_secs_f64()));
    }
    Ok(())
}

/// Why a set of disruptions cannot be used; `field` is a path such as `crashes[0].node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisruptionError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for DisruptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for DisruptionError {}

/// What corruption one S3 request meets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorruptionDecision {
    /// A PUT's body is stored with this bit (index into the body's bits, to
    /// be taken modulo its length) flipped.
    pub bit_flip: Option<u64>,
    /// A PUT's body is stored cut to this fraction of its length, in
    /// 1/2^32 (always shorter than the body).
    pub truncate: Option<u32>,
    /// A GET sees the previous version.
    pub stale_read: bool,
    /// A GET's answer has this byte (modulo the body's length) XORed with a non-zero mask.
    pub tampered_read: Option<(u64, u8)>,
}

/// A [`Corruption`] bound to a seed: the decision for request slot n comes
/// from slot n's own stream, so the corruption a request meets does not
/// depend on what earlier requests met, nor on any other stream.
#[derive(Clone, Debug)]
pub struct CorruptionDraw {
    corruption: Corruption,
    slot_seed: u64,
}

impl CorruptionDraw {
    /// `seed` is the component's sub-seed.
    pub fn new(corruption: Corruption, seed: u64) -> Self {
        CorruptionDraw { corruption, slot_seed: sub_seed(seed, "corruption") }
    }

    pub fn corruption(&self) -> &Corruption {
        &self.corruption
    }

    /// The corruption request `slot` meets (none at all when every probability is 0).
    pub fn decide(&self, slot: u64) -> CorruptionDecision {
        if !self.corruption.any() {
            return CorruptionDecision::default();
        }
        let mut rng = slot_rng(self.slot_seed, slot);
        // A fixed number of draws per slot, whatever happens, so each kind's
        // luck does not depend on the others' probabilities.
        let draws: [f64; 4] = [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
        let bit = rng.gen::<u64>();
        let cut = rng.gen::<u32>();
        let byte = rng.gen::<u64>();
        let mask = rng.gen_range(1..=u8::MAX);
        let c = &self.corruption;
        CorruptionDecision {
            bit_flip: (draws[0] < c.bit_flip).then_some(bit),
            truncate: (draws[1] < c.truncate).then_some(cut),
            stale_read: draws[2] < c.stale_read,
            tampered_read: (draws[3] < c.tampered_read).then_some((byte, mask)),
        }
    }
}

/// `body` with bit `bit` (modulo its bit length) flipped; empty stays empty.
pub fn flip_bit(body: &[u8], bit: u64) -> Vec<u8> {
    let mut out = body.to_vec();
    let bits = (out.len() as u64).saturating_mul(8);
    if bits > 0 {
        let bit = bit % bits;
        out[(bit / 8) as usize] ^= 1 << (bit % 8);
    }
    out
}

/// The length `body_len` is cut to: `fraction`/2^32 of it, always shorter
/// (an empty body stays empty).
pub fn truncated_len(body_len: usize, fraction: u32) -> usize {
    let cut = (body_len as u128 * u128::from(fraction)) >> 32;
    usize::try_from(cut).unwrap_or(0).min(body_len.saturating_sub(1))
}

/// `body` with byte `byte` (modulo its length) XORed with `mask`; empty stays empty.
pub fn tamper(body: &[u8], byte: u64, mask: u8) -> Vec<u8> {
    let mut out = body.to_vec();
    if !out.is_empty() {
        let at = (byte % out.len() as u64) as usize;
        out[at] ^= mask;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_round_trip_and_reject_junk() {
        for node in [GridNode::StorageServer(0), GridNode::StorageServer(12), GridNode::Gateway(3)] {
            assert_eq!(GridNode::parse(&node.to_string()), Some(node));
        }
        for bad in ["storage-server.", "storage-server.01", "gateway.-1", "gateway.x", "s3.0", "gateway.0 ", ""] {
            assert_eq!(GridNode::parse(bad), None, "{bad:?}");
        }
        assert!(GridNode::StorageServer(9).exists_in(10, 1));
        assert!(!GridNode::StorageServer(10).exists_in(10, 1));
        assert!(!GridNode::Gateway(1).exists_in(10, 1));
    }

    #[test]
    fn validation_names_the_field() {
        let crash = Crash { node: GridNode::StorageServer(10), at: Duration::ZERO, down: Duration::from_secs(1) };
        let disruptions = Disruptions { crashes: vec![crash], ..Disruptions::default() };
        assert_eq!(disruptions.validate(10, 1).unwrap_err().field, "crashes[0].node");
        let crash = Crash { node: GridNode::Gateway(0), at: Duration::ZERO, down: Duration::ZERO };
        let disruptions = Disruptions { crashes: vec![crash], ..Disruptions::default() };
        assert_eq!(disruptions.validate(10, 1).unwrap_err().field, "crashes[0].down_s");
        let partition = Partition {
            side_a: vec![GridNode::Gateway(0)],
            side_b: vec![GridNode::Gateway(0)],
            start: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        let disruptions = Disruptions { partitions: vec![partition], ..Disruptions::default() };
        assert!(disruptions.validate(10, 1).unwrap_err().message.contains("both sides"));
        let disruptions =
            Disruptions { corruption: Corruption { truncate: 1.5, ..Corruption::default() }, ..Disruptions::default() };
        assert_eq!(disruptions.validate(10, 1).unwrap_err().field, "corruption.truncate");
    }

    #[test]
    fn draws_are_per_slot_and_follow_the_probabilities() {
        let corruption = Corruption { bit_flip: 0.25, truncate: 0.0, stale_read: 1.0, tampered_read: 0.5 };
        let draw = CorruptionDraw::new(corruption, 7);
        let decisions: Vec<CorruptionDecision> = (0..4000).map(|slot| draw.decide(slot)).collect();
        assert_eq!(draw.decide(17), decisions[17]);
        let flips = decisions.iter().filter(|d| d.bit_flip.is_some()).count();
        assert!((800..1200).contains(&flips), "{flips}");
        assert!(decisions.iter().all(|d| d.truncate.is_none() && d.stale_read));
        let tampered = decisions.iter().filter(|d| d.tampered_read.is_some()).count();
        assert!((1800..2200).contains(&tampered), "{tampered}");
        assert_eq!(CorruptionDraw::new(Corruption::default(), 7).decide(3), CorruptionDecision::default());
    }

    #[test]
    fn corrupting_changes_the_body() {
        let body = b"hello world";
        assert_ne!(flip_bit(body, 12345), body);
        assert_eq!(flip_bit(&flip_bit(body, 99), 99), body);
        assert!(truncated_len(body.len(), u32::MAX) < body.len());
        assert_eq!(truncated_len(0, 5), 0);
        assert_ne!(tamper(body, 3, 0x80), body);
        assert!(flip_bit(b"", 3).is_empty() && tamper(b"", 3, 1).is_empty());
    }
}
