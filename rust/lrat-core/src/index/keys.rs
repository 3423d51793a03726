//! Keys as the caller sees them (strings such as docids, or non-negative integers) and their mapping to
//! the 64-bit keys usearch stores. Integer keys are stored as they are; string keys get sequential ids,
//! and the id-to-string table is saved with the index.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::error::{IndexError, IndexResult};

/// The kind of key an index holds; fixed by the first `add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Unset,
    Int,
    Str,
}

impl KeyKind {
    pub fn code(self) -> u32 {
        match self {
            KeyKind::Unset => 0,
            KeyKind::Int => 1,
            KeyKind::Str => 2,
        }
    }

    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(KeyKind::Unset),
            1 => Some(KeyKind::Int),
            2 => Some(KeyKind::Str),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Unset => "none yet",
            KeyKind::Int => "integer",
            KeyKind::Str => "string",
        }
    }
}

/// A batch of keys passed by a caller.
#[derive(Debug, Clone)]
pub enum Keys {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Keys {
    pub fn len(&self) -> usize {
        match self {
            Keys::Int(v) => v.len(),
            Keys::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kind(&self) -> KeyKind {
        match self {
            Keys::Int(_) => KeyKind::Int,
            Keys::Str(_) => KeyKind::Str,
        }
    }

    fn describe(&self, i: usize) -> String {
        match self {
            Keys::Int(v) => v[i].to_string(),
            Keys::Str(v) => format!("{:?}", v[i]),
        }
    }
}

/// Keys of search results, in the caller's terms; a missing result (fewer matches than `k`) is `-1`
/// for integer keys and `None` for string keys.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultKeys {
    Int(Vec<i64>),
    Str(Vec<Option<Arc<str>>>),
}

/// The usearch key that marks "no result" in padded result rows.
pub const NO_KEY: u64 = u64::MAX;

#[derive(Debug, Clone)]
pub struct KeyMap {
    kind: KeyKind,
    ids: HashMap<Arc<str>, u64>,
    names: Vec<Option<Arc<str>>>,
}

impl KeyMap {
    /// Whether a usearch key found in a loaded graph is one this map can translate: any integer
    /// for integer keys, an entry of the table for string keys.
    pub fn knows(&self, key: u64) -> bool {
        self.kind != KeyKind::Str || key == NO_KEY || self.names.get(key as usize).is_some_and(Option::is_some)
    }
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap { kind: KeyKind::Unset, ids: HashMap::new(), names: Vec::new() }
    }
}

impl KeyMap {
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    fn check_kind(&self, keys: &Keys) -> IndexResult<()> {
        if self.kind != KeyKind::Unset && self.kind != keys.kind() {
            return Err(IndexError::KeyType(format!(
                "this index has {} keys; got {} keys",
                self.kind.name(),
                keys.kind().name()
            )));
        }
        Ok(())
    }

    fn int_id(key: i64) -> IndexResult<u64> {
        if key < 0 {
            return Err(IndexError::KeyType(format!("integer keys must be non-negative; got {key}")));
        }
        Ok(key as u64)
    }

    /// Assigns usearch keys to a batch of new keys. Rejects the whole batch, changing nothing, when a key
    /// repeats within it or is already present (`present` answers for a usearch key).
    pub fn insert(&mut self, keys: &Keys, present: impl Fn(u64) -> bool) -> IndexResult<Vec<u64>> {
        self.check_kind(keys)?;
        let ids = match keys {
            Keys::Int(values) => {
                let mut seen = HashSet::with_capacity(values.len());
                let mut ids = Vec::with_capacity(values.len());
                for (i, &value) in values.iter().enumerate() {
                    let id = Self::int_id(value)?;
                    if !seen.insert(id) {
                        return Err(IndexError::RepeatedKey(keys.describe(i)));
                    }
                    if present(id) {
                        return Err(IndexError::DuplicateKey(keys.describe(i)));
                    }
                    ids.push(id);
                }
                ids
            }
            Keys::Str(values) => {
                let mut seen: HashSet<&str> = HashSet::with_capacity(values.len());
                for (i, value) in values.iter().enumerate() {
                    if !seen.insert(value.as_str()) {
                        return Err(IndexError::RepeatedKey(keys.describe(i)));
                    }
                    if self.ids.contains_key(value.as_str()) {
                        return Err(IndexError::DuplicateKey(keys.describe(i)));
                    }
                }
                let first = self.names.len() as u64;
                self.ids.reserve(values.len());
                self.names.reserve(values.len());
                for (offset, value) in values.iter().enumerate() {
                    let name: Arc<str> = Arc::from(value.as_str());
                    self.ids.insert(name.clone(), first + offset as u64);
                    self.names.push(Some(name));
                }
                (first..first + values.len() as u64).collect()
            }
        };
        if !keys.is_empty() {
            self.kind = keys.kind();
        }
        Ok(ids)
    }

    /// The usearch keys of known keys, with `None` for keys never added (or removed). Keys of the other
    /// kind are an error.
    pub fn lookup(&self, keys: &Keys) -> IndexResult<Vec<Option<u64>>> {
        if self.kind == KeyKind::Unset {
            return Ok(vec![None; keys.len()]);
        }
        self.check_kind(keys)?;
        match keys {
            Keys::Int(values) => values.iter().map(|&v| if v < 0 { Ok(None) } else { Ok(Some(v as u64)) }).collect(),
            Keys::Str(values) => Ok(values.iter().map(|v| self.ids.get(v.as_str()).copied()).collect()),
        }
    }

    /// Forgets the string behind a removed usearch key (integer keys need nothing).
    pub fn forget(&mut self, id: u64) {
        if self.kind == KeyKind::Str {
            if let Some(slot) = self.names.get_mut(id as usize) {
                if let Some(name) = slot.take() {
                    self.ids.remove(&name);
                }
            }
        }
    }

    /// Describes the `i`-th key of a batch, for error messages.
    pub fn describe(keys: &Keys, i: usize) -> String {
        keys.describe(i)
    }

    /// Translates usearch keys of results (with `NO_KEY` for padding) to the caller's keys.
    pub fn to_result_keys(&self, ids: &[u64]) -> ResultKeys {
        match self.kind {
            KeyKind::Str => ResultKeys::Str(
                ids.iter()
                    .map(|&id| if id == NO_KEY { None } else { self.names.get(id as usize).and_then(|n| n.clone()) })
                    .collect(),
            ),
            KeyKind::Int | KeyKind::Unset => {
                ResultKeys::Int(ids.iter().map(|&id| if id == NO_KEY { -1 } else { id as i64 }).collect())
            }
        }
    }

    /// Serialised string table: count (u64), then per live entry its id (u64), length (u32) and UTF-8 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.kind != KeyKind::Str {
            return out;
        }
        out.extend_from_slice(&(self.ids.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.names.len() as u64).to_le_bytes());
        for (id, name) in self.names.iter().enumerate() {
            if let Some(name) = name {
                out.extend_from_slice(&(id as u64).to_le_bytes());
                out.extend_from_slice(&(name.len() as u32).to_le_bytes());
                out.extend_from_slice(name.as_bytes());
            }
        }
        out
    }

    /// Reads a table written by `to_bytes`; `Err` holds the reason it is malformed.
    pub fn from_bytes(kind: KeyKind, bytes: &[u8]) -> Result<Self, String> {
        let mut map = KeyMap { kind, ..KeyMap::default() };
        if kind != KeyKind::Str {
            if !bytes.is_empty() {
                return Err("integer-keyed index carries a string key table".into());
            }
            return Ok(map);
        }
        let mut cursor = Cursor { bytes, at: 0 };
        let live = cursor.u64()? as usize;
        let slots = cursor.u64()? as usize;
        if live > slots || slots > bytes.len() * 8 + 1024 {
            return Err(format!("key table claims {live} keys in {slots} slots"));
        }
        map.names = vec![None; slots];
        map.ids.reserve(live);
        for _ in 0..live {
            let id = cursor.u64()? as usize;
            let len = cursor.u32()? as usize;
            let raw = cursor.take(len)?;
            let name = std::str::from_utf8(raw).map_err(|_| format!("key {id} is not valid UTF-8"))?;
            if id >= slots || map.names[id].is_some() {
                return Err(format!("key table has a bad or repeated id {id}"));
            }
            let name: Arc<str> = Arc::from(name);
            if map.ids.insert(name.clone(), id as u64).is_some() {
                return Err(format!("key table repeats the key {name:?}"));
            }
            map.names[id] = Some(name);
        }
        if cursor.at != bytes.len() {
            return Err("key table has trailing bytes".into());
        }
        Ok(map)
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.at..end];
                self.at = end;
                Ok(out)
            }
            None => Err("key table is truncated".into()),
        }
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Keys {
        Keys::Str(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn string_keys_get_sequential_ids_and_round_trip() {
        let mut map = KeyMap::default();
        assert_eq!(map.insert(&strs(&["a", "b"]), |_| false).unwrap(), vec![0, 1]);
        assert_eq!(map.insert(&strs(&["c"]), |_| false).unwrap(), vec![2]);
        map.forget(1);
        let back = KeyMap::from_bytes(KeyKind::Str, &map.to_bytes()).unwrap();
        assert_eq!(back.lookup(&strs(&["a", "b", "c"])).unwrap(), vec![Some(0), None, Some(2)]);
        assert_eq!(back.to_result_keys(&[2, NO_KEY]), ResultKeys::Str(vec![Some(Arc::from("c")), None]));
        let mut back = back;
        assert_eq!(back.insert(&strs(&["b"]), |_| false).unwrap(), vec![3]);
    }

    #[test]
    fn duplicates_reject_the_whole_batch() {
        let mut map = KeyMap::default();
        map.insert(&strs(&["a"]), |_| false).unwrap();
        assert!(matches!(map.insert(&strs(&["x", "a"]), |_| false), Err(IndexError::DuplicateKey(k)) if k == "\"a\""));
        assert!(matches!(map.insert(&strs(&["y", "y"]), |_| false), Err(IndexError::RepeatedKey(_))));
        assert_eq!(map.lookup(&strs(&["x", "y"])).unwrap(), vec![None, None]);
        let mut ints = KeyMap::default();
        assert!(
            matches!(ints.insert(&Keys::Int(vec![1, 2]), |id| id == 2), Err(IndexError::DuplicateKey(k)) if k == "2")
        );
        assert_eq!(ints.kind(), KeyKind::Unset);
    }

    #[test]
    fn kinds_do_not_mix_and_negative_ints_are_rejected() {
        let mut map = KeyMap::default();
        map.insert(&Keys::Int(vec![5]), |_| false).unwrap();
        assert!(matches!(map.insert(&strs(&["a"]), |_| false), Err(IndexError::KeyType(_))));
        assert!(matches!(map.insert(&Keys::Int(vec![-1]), |_| false), Err(IndexError::KeyType(_))));
        assert_eq!(map.to_result_keys(&[5, NO_KEY]), ResultKeys::Int(vec![5, -1]));
    }

    #[test]
    fn malformed_tables_are_rejected() {
        let mut map = KeyMap::default();
        map.insert(&strs(&["alpha", "beta"]), |_| false).unwrap();
        let bytes = map.to_bytes();
        for cut in 0..bytes.len() {
            assert!(KeyMap::from_bytes(KeyKind::Str, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(KeyMap::from_bytes(KeyKind::Int, &bytes).is_err());
    }
}
