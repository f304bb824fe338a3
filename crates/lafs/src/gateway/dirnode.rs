//! Directories: a sorted list of (name, cap) entries serialised as
//! netstrings. A mutable directory is a mutable file holding them; an
//! immutable directory is an immutable upload of them. Tahoe-LAFS also
//! stores per-child metadata and encrypts the write caps; neither matters
//! to the retry questions asked here.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::modify::Modifier;
use super::Gateway;
use crate::cap::{Cap, MutableCap};
use crate::error::{GatewayError, WriteError};
use crate::host::Host;

/// Serialises entries in name order: `<len>:<name>,<len>:<cap>,` each.
pub fn serialize_entries(entries: &BTreeMap<String, Cap>) -> Bytes {
    let mut out = BytesMut::new();
    let mut netstring = |bytes: &[u8]| {
        out.put_slice(bytes.len().to_string().as_bytes());
        out.put_u8(b':');
        out.put_slice(bytes);
        out.put_u8(b',');
    };
    for (name, cap) in entries {
        netstring(name.as_bytes());
        netstring(cap.to_string().as_bytes());
    }
    out.freeze()
}

/// The inverse of [`serialize_entries`]; a malformed directory is an error, not a panic.
pub fn parse_entries(bytes: &[u8]) -> Result<BTreeMap<String, Cap>, GatewayError> {
    let malformed = |what: &str| GatewayError::unexpected(format!("malformed directory: {what}"));
    let mut rest = bytes;
    let next = |rest: &mut &[u8]| -> Result<String, GatewayError> {
        let colon = rest.iter().position(|b| *b == b':').ok_or_else(|| malformed("no length"))?;
        let len: usize = std::str::from_utf8(&rest[..colon])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed("bad length"))?;
        let end = (colon + 1).checked_add(len).ok_or_else(|| malformed("bad length"))?;
        let body = rest.get(colon + 1..end).ok_or_else(|| malformed("truncated"))?;
        if rest.get(end) != Some(&b',') {
            return Err(malformed("missing comma"));
        }
        let text = String::from_utf8(body.to_vec()).map_err(|_| malformed("not UTF-8"))?;
        *rest = &rest[end + 1..];
        Ok(text)
    };
    let mut entries = BTreeMap::new();
    while !rest.is_empty() {
        let name = next(&mut rest)?;
        let cap_text = next(&mut rest)?;
        let cap = Cap::parse(&cap_text).ok_or_else(|| malformed("unknown cap"))?;
        entries.insert(name, cap);
    }
    Ok(entries)
}

/// Adds a child; `ExistingChildError` (409) if the name is taken. Its
/// identity: the child is there with this cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddChild {
    pub name: String,
    pub cap: Cap,
}

impl Modifier for AddChild {
    fn apply(&self, current: &Bytes) -> Result<Option<Bytes>, GatewayError> {
        let mut entries = parse_entries(current)?;
        if entries.contains_key(&self.name) {
            return Err(GatewayError::ExistingChild { name: self.name.clone() });
        }
        entries.insert(self.name.clone(), self.cap.clone());
        Ok(Some(serialize_entries(&entries)))
    }

    fn is_applied(&self, current: &Bytes) -> bool {
        parse_entries(current).is_ok_and(|entries| entries.get(&self.name) == Some(&self.cap))
    }
}

/// Adds or replaces a child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetChild {
    pub name: String,
    pub cap: Cap,
}

impl Modifier for SetChild {
    fn apply(&self, current: &Bytes) -> Result<Option<Bytes>, GatewayError> {
        let mut entries = parse_entries(current)?;
        if entries.get(&self.name) == Some(&self.cap) {
            return Ok(None);
        }
        entries.insert(self.name.clone(), self.cap.clone());
        Ok(Some(serialize_entries(&entries)))
    }

    fn is_applied(&self, current: &Bytes) -> bool {
        parse_entries(current).is_ok_and(|entries| entries.get(&self.name) == Some(&self.cap))
    }
}

impl<H: Host> Gateway<H> {
    /// Creates a mutable directory with `entries`.
    pub async fn create_directory(&self, entries: &BTreeMap<String, Cap>) -> Result<MutableCap, WriteError> {
        self.create_mutable(serialize_entries(entries)).await
    }

    /// Uploads an immutable directory with `entries`.
    pub async fn create_immutable_directory(&self, entries: &BTreeMap<String, Cap>) -> Result<Cap, WriteError> {
        Ok(Cap::ImmutableDir(self.upload(serialize_entries(entries)).await?))
    }

    /// The entries of a directory.
    pub async fn list_directory(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError> {
        match dir {
            Cap::MutableDir(cap) => parse_entries(&self.get(cap).await?.contents),
            Cap::ImmutableDir(cap) => parse_entries(&self.download(cap).await?),
            Cap::File(_) | Cap::MutableFile(_) => Err(GatewayError::unexpected(format!("{dir} is not a directory"))),
        }
    }

    /// Adds child `name` to a mutable directory (`modify`; 409 if it exists).
    pub async fn add_child(&self, dir: &MutableCap, name: &str, cap: Cap) -> Result<(), WriteError> {
        self.modify(dir, &AddChild { name: name.to_owned(), cap }).await.map(|_| ())
    }

    /// Sets (adds or replaces) child `name` of a mutable directory.
    pub async fn set_child(&self, dir: &MutableCap, name: &str, cap: Cap) -> Result<(), WriteError> {
        self.modify(dir, &SetChild { name: name.to_owned(), cap }).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{FileCap, LiteralCap};

    #[test]
    fn entries_round_trip_and_reject_garbage() {
        let mut entries = BTreeMap::new();
        entries.insert("a:b,c".to_owned(), Cap::File(FileCap::Literal(LiteralCap { data: Bytes::from_static(b"x") })));
        entries.insert("Latest".to_owned(), Cap::MutableDir(MutableCap::from_write_key([1; 16])));
        let bytes = serialize_entries(&entries);
        assert_eq!(parse_entries(&bytes).unwrap(), entries);
        assert!(parse_entries(b"5:abc").is_err());
        assert!(parse_entries(b"1:a,3:xyz,").is_err());
        assert!(parse_entries(b"99999999999999999999:a,").is_err());
        assert!(parse_entries(b"18446744073709551615:a,").is_err());
        assert_eq!(parse_entries(b"").unwrap(), BTreeMap::new());
    }

    #[test]
    fn add_child_conflicts() {
        let cap = Cap::MutableDir(MutableCap::from_write_key([2; 16]));
        let add = AddChild { name: "x".into(), cap: cap.clone() };
        let once = add.apply(&Bytes::new()).unwrap().unwrap();
        assert!(add.is_applied(&once));
        assert_eq!(add.apply(&once).unwrap_err().web_status(), 409);
        let set = SetChild { name: "x".into(), cap };
        assert_eq!(set.apply(&once).unwrap(), None);
    }
}
