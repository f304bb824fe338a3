//! retrylab-design: the design switches of the system under test, one definition shared by
//! the scenario file (`retrylab-scenario`) and the simulated grid (`retrylab-lafs`).
//!
//! `Design::default()` is the safe design; every other value of a switch is a
//! known-bad design with a scenario in `sim-scenarios/known-bad/`.

/// A switch value spelled by name in a scenario file: the names live here,
/// beside the values, so the loader, the writer and the error messages all
/// read the one list.
pub trait Named: Sized + Copy + 'static {
    /// Every value's name, in declaration order.
    const NAMES: &'static [&'static str];
    /// This value's name.
    fn name(self) -> &'static str;
    /// The value of `name`, if it is one.
    fn from_name(name: &str) -> Option<Self>;
}

/// Implements [`Named`] for a field-less switch enum from its
/// `Variant = "name"` pairs.
macro_rules! named {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl Named for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

/// Design switches. `Design::default()` is the safe design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Design {
    /// How a mutable share is laid out in S3.
    pub share_layout: ShareLayout,
    /// Serialise operations on one storage index within a server.
    pub per_index_lock: bool,
    /// How a server finds the shares of a storage index.
    pub listing: Listing,
    /// How a server makes a mutable write conditional on what it tested.
    pub write_check: WriteCheck,
    /// Whether a server checks that a GET returned the object its listing names.
    pub read_check: ReadCheck,
    /// What the gateway does when a modify (read-modify-write) fails.
    pub modify_retry: ModifyRetry,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            share_layout: ShareLayout::Whole,
            per_index_lock: true,
            listing: Listing::Prefixed,
            write_check: WriteCheck::IfMatch,
            read_check: ReadCheck::ListedEtag,
            modify_retry: ModifyRetry::Reconcile,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareLayout {
    /// One S3 object per share (safe).
    Whole,
    /// Known-bad 1 (the write hole, Tahoe-LAFS #1755): a mutable share split
    /// into chunk objects `<key>.<chunk index>` of at most `chunk_bytes`,
    /// written one PUT at a time with no commit step.
    Chunked { chunk_bytes: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// LIST with the prefix `shares/<SI[:2]>/<SI>/`, following continuation tokens (safe).
    Prefixed,
    /// Known-bad 3 (Tahoe-LAFS #1678): LIST the whole bucket without a
    /// prefix, read only the first page of 1,000 keys, then filter.
    WholeBucketFirstPage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteCheck {
    /// PUT with `If-Match: <etag of the share tested>` (`If-None-Match: *`
    /// for a share that did not exist); a 412 means the read was stale or
    /// raced, and the tests are re-run on a fresh read (safe).
    IfMatch,
    /// Known-bad 2: trust the (possibly stale) read and overwrite blindly.
    Blind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadCheck {
    /// GET a share again until its ETag is the one the (current) listing
    /// names, so no stale object is served or tested against (safe).
    ListedEtag,
    /// Known-bad 5: serve whatever a GET returned, which under 2012
    /// eventual consistency may be the object a PUT replaced.
    TrustGet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModifyRetry {
    /// After an indeterminate failure, re-read and check whether the modify
    /// already landed before applying it again (safe).
    Reconcile,
    /// Known-bad 4: re-run the whole read-modify-write after an ambiguous
    /// 500, so a modify that did land is applied twice.
    Replay,
}

/// A storage server's capacity: how many requests it serves at once, how
/// many may wait for a slot, and for how long. One definition for the
/// scenario file's `[lafs]` fields and the simulated server's admission gate.
///
/// The default is unlimited: no gate at all, every request runs at once (the
/// model before capacity existed, so existing scenarios run as they did).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCapacity {
    /// Requests a server runs at once; `None`: no limit (and so no queue).
    pub concurrency_max: Option<u32>,
    /// Requests that may wait for a slot, first come first served; an
    /// arrival that finds this many waiting is rejected at once (load
    /// shedding). `None`: no bound.
    pub queue_max: Option<u32>,
    /// A request that has waited this long for a slot is rejected. `None`:
    /// it waits as long as it takes.
    pub queue_timeout: Option<std::time::Duration>,
}

impl ServerCapacity {
    /// Whether requests are admitted at once, always (no gate).
    pub fn is_unlimited(&self) -> bool {
        self.concurrency_max.is_none()
    }
}

named!(Listing { Prefixed = "prefixed", WholeBucketFirstPage = "whole-bucket-first-page" });
named!(WriteCheck { IfMatch = "if-match", Blind = "blind" });
named!(ReadCheck { ListedEtag = "listed-etag", TrustGet = "trust-get" });
named!(ModifyRetry { Reconcile = "reconcile", Replay = "replay" });

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Named + PartialEq + std::fmt::Debug>() {
        for name in T::NAMES {
            let value = T::from_name(name).unwrap();
            assert_eq!(value.name(), *name);
        }
        assert_eq!(T::from_name("no-such-value"), None);
    }

    #[test]
    fn every_name_names_its_value() {
        round_trips::<Listing>();
        round_trips::<WriteCheck>();
        round_trips::<ReadCheck>();
        round_trips::<ModifyRetry>();
    }
}
