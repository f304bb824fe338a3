//! The checker for immutable uploads, each downloaded again at quiescence.

use serde::{Deserialize, Serialize};

use crate::{invariant, Outcome, Violation};

/// One immutable upload and, if it was acknowledged, its download at quiescence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ImmutableUpload {
    pub id: u64,
    pub outcome: Outcome,
    /// The digest of the bytes the client uploaded.
    pub expected_digest: [u8; 32],
    /// The download at quiescence of an Ok upload: its digest, or the error.
    pub downloaded: Option<Result<[u8; 32], String>>,
}

/// Every acknowledged upload downloads at quiescence with the digest it was uploaded with.
///
/// Fail and Info uploads are not checked: the client holds no capability it
/// was promised works. An Ok upload with no download recorded is
/// `malformed-history`, so a harness that forgets to download cannot pass.
pub fn check_immutable(uploads: &[ImmutableUpload]) -> Vec<Violation> {
    let mut out = Vec::new();
    for u in uploads.iter().filter(|u| u.outcome == Outcome::Ok) {
        match &u.downloaded {
            None => out.push(Violation::new(
                invariant::MALFORMED_HISTORY,
                format!("upload {} is Ok but was not downloaded at quiescence", u.id),
            )),
            Some(Err(error)) => out.push(Violation::new(
                invariant::ACKNOWLEDGED_UPLOAD_UNREADABLE,
                format!("upload {} was acknowledged but its download failed: {error}", u.id),
            )),
            Some(Ok(digest)) if *digest != u.expected_digest => out.push(Violation::new(
                invariant::ACKNOWLEDGED_UPLOAD_CORRUPT,
                format!("upload {} downloads with digest {}, expected {}", u.id, hex(digest), hex(&u.expected_digest)),
            )),
            Some(Ok(_)) => {}
        }
    }
    out
}

fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
