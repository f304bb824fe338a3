//! `tahoe backup` of a directory tree: an immutable upload per file, an
//! immutable directory per directory (the snapshot), then two mutable
//! directory updates: add `Archives/<timestamp>` and replace `Latest`.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::dirnode::{AddChild, SetChild};
use super::Gateway;
use crate::cap::{Cap, MutableCap};
use crate::error::{Outcome, WriteError};
use crate::host::Host;

/// The backup target: a mutable root directory holding `Archives` (a
/// mutable directory of snapshots by timestamp) and `Latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupRoot {
    pub root: MutableCap,
    pub archives: MutableCap,
}

/// One entry of the tree to back up: a file, or a directory of files (one
/// level of nesting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupItem {
    File { name: String, contents: Bytes },
    Directory { name: String, files: Vec<(String, Bytes)> },
}

/// A backup that completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    pub root: BackupRoot,
    /// The immutable directory of this snapshot (`Latest` and `Archives/<timestamp>`).
    pub snapshot: Cap,
    /// Immutable uploads made (files and directories; literal ones included).
    pub uploads: u64,
    /// The root directory's seqnum after `Latest` was set: the version this
    /// backup published, for checkers.
    pub root_seqnum: u64,
}

impl<H: Host> Gateway<H> {
    /// Backs up `items` as snapshot `timestamp` under `root`, creating the
    /// root (and its `Archives`) on the first backup and storing it in
    /// `root` as soon as it exists. A failed upload ends the backup before
    /// any directory changes (`NotApplied`); a failure in the second
    /// directory update leaves the first applied (`Indeterminate`).
    pub async fn backup(
        &self,
        root: &mut Option<BackupRoot>,
        items: &[BackupItem],
        timestamp: &str,
    ) -> Result<BackupReport, WriteError> {
        // Uploads change nothing anyone can see until a directory links them.
        let uploads_only = |error: WriteError| WriteError { error: error.error, outcome: Outcome::NotApplied };
        let mut uploads = 0u64;
        let mut snapshot_entries = BTreeMap::new();
        for item in items {
            match item {
                BackupItem::File { name, contents } => {
                    let cap = self.upload(contents.clone()).await.map_err(uploads_only)?;
                    uploads += 1;
                    snapshot_entries.insert(name.clone(), Cap::File(cap));
                }
                BackupItem::Directory { name, files } => {
                    let mut entries = BTreeMap::new();
                    for (file, contents) in files {
                        let cap = self.upload(contents.clone()).await.map_err(uploads_only)?;
                        uploads += 1;
                        entries.insert(file.clone(), Cap::File(cap));
                    }
                    let dir = self.create_immutable_directory(&entries).await.map_err(uploads_only)?;
                    uploads += 1;
                    snapshot_entries.insert(name.clone(), dir);
                }
            }
        }
        let snapshot = self.create_immutable_directory(&snapshot_entries).await.map_err(uploads_only)?;
        uploads += 1;

        let target = match *root {
            Some(target) => target,
            None => {
                let archives = self.create_directory(&BTreeMap::new()).await?;
                let mut entries = BTreeMap::new();
                entries.insert("Archives".to_owned(), Cap::MutableDir(archives));
                let root_dir = self.create_directory(&entries).await?;
                let target = BackupRoot { root: root_dir, archives };
                *root = Some(target);
                target
            }
        };
        self.modify(&target.archives, &AddChild { name: timestamp.to_owned(), cap: snapshot.clone() }).await?;
        let latest = self
            .modify(&target.root, &SetChild { name: "Latest".to_owned(), cap: snapshot.clone() })
            .await
            .map_err(|error| WriteError { error: error.error, outcome: Outcome::Indeterminate })?;
        Ok(BackupReport { root: target, snapshot, uploads, root_seqnum: latest.seqnum })
    }
}
