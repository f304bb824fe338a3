//! Integration tests of the Tahoe-LAFS-style grid, each inside a simulated
//! world: mutable files, immutable files, backups, error mapping, and the
//! known-bad designs each producing its failure while the safe one does not.

mod backup;
mod corruption;
mod crash;
mod errors;
mod immutable;
mod known_bad;
mod mutable;
mod support;
