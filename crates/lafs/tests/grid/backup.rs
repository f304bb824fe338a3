//! `tahoe backup`: 101 files (expt01), then the root lists `Latest` and
//! `Archives`, which lists one snapshot; a second backup adds a snapshot.

use bytes::Bytes;
use retrylab_faults::FaultModel;
use retrylab_lafs::{BackupItem, Cap, LafsConfig};

use crate::support::{grid, s3, sim, three_of_ten};

/// expt01: 101 files of 0, 8, .., 800 bytes.
fn files(count: usize) -> Vec<BackupItem> {
    (0..count)
        .map(|i| BackupItem::File { name: format!("file{i:04}"), contents: Bytes::from(format!("{i:07}\n").repeat(i)) })
        .collect()
}

fn backup_101(config: LafsConfig, seed: u64) {
    sim(seed, |world| async move {
        let grid = grid(&world, config, s3(FaultModel::default()));
        let gateway = grid.gateway();
        let mut root = None;
        let mut items = files(101);
        items.push(BackupItem::Directory {
            name: "sub".into(),
            files: vec![("a".into(), Bytes::from_static(b"small")), ("b".into(), Bytes::from(vec![7u8; 300]))],
        });
        let report = gateway.backup(&mut root, &items, "2012-05-08_01:33:00Z").await.unwrap();
        assert_eq!(report.uploads, 101 + 2 + 1 + 1);
        let target = root.expect("the first backup creates the root");
        let listing = gateway.list_directory(&Cap::MutableDir(target.root)).await.unwrap();
        assert_eq!(listing.keys().collect::<Vec<_>>(), ["Archives", "Latest"]);
        assert_eq!(listing["Latest"], report.snapshot);
        let archives = gateway.list_directory(&listing["Archives"]).await.unwrap();
        assert_eq!(archives.keys().collect::<Vec<_>>(), ["2012-05-08_01:33:00Z"]);
        let snapshot = gateway.list_directory(&report.snapshot).await.unwrap();
        assert_eq!(snapshot.len(), 102);
        for (i, item) in items.iter().enumerate().take(101) {
            let BackupItem::File { name, contents } = item else { unreachable!() };
            let Cap::File(cap) = &snapshot[name] else { panic!("{name} is not a file") };
            assert_eq!(&grid.download_immutable_at_rest(cap).unwrap(), contents, "file {i}");
        }
        let sub = grid.list_directory_at_rest(&snapshot["sub"]).unwrap();
        assert_eq!(sub.keys().collect::<Vec<_>>(), ["a", "b"]);

        // A second backup: a second archive, Latest replaced.
        let second = gateway.backup(&mut root, &files(3), "2012-05-09_00:00:00Z").await.unwrap();
        let listing = grid.list_directory_at_rest(&Cap::MutableDir(target.root)).unwrap();
        assert_eq!(listing["Latest"], second.snapshot);
        assert_eq!(grid.list_directory_at_rest(&listing["Archives"]).unwrap().len(), 2);
    });
}

#[test]
fn backup_of_101_files_one_of_one() {
    backup_101(LafsConfig::one_of_one(), 21);
}

#[test]
fn backup_of_101_files_three_of_ten() {
    backup_101(three_of_ten(), 22);
}
