//! The organization's key (`Keys`): read from TOUCHBASE_KEY, or a key file — by default the
//! SQLite store's path with `.key` added, made on first use with a fresh random key and
//! permissions for its owner only. Secrets derived from it sign webhooks (and links) and seal
//! the audit trail; it is never in the database, so a copy of the database alone cannot sign
//! as touchbase nor rewrite the trail unnoticed. Losing it changes every endpoint's secret and
//! leaves the trail's seals uncheckable: back it up with the store.
//!
//! A key file holds the current key on a line of its own and, after `touchbase key rotate`,
//! the keys it replaced, each on a line `retired tbkey_…`: they seal nothing more, and check
//! the audit records they sealed. Lines starting with `#` are comments. TOUCHBASE_KEY holds
//! the same text (lines or `,` between keys).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use touchbase_core::audit::KeyRing;
use touchbase_core::endpoint::Keys;

/// The keys of one key file: the current one and those it replaced.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub current: Keys,
    pub retired: Vec<Keys>,
}

impl KeyFile {
    /// Reads a key file's text.
    pub fn parse(text: &str) -> Result<KeyFile, String> {
        let mut current = None;
        let mut retired = Vec::new();
        let entries = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for entry in entries {
            match entry.strip_prefix("retired") {
                Some(key) if key.starts_with(char::is_whitespace) => {
                    retired.push(Keys::decode(key)?);
                }
                _ if current.is_some() => {
                    return Err(
                        "a key file holds one current key; the keys it replaced are on lines `retired tbkey_…`"
                            .to_owned(),
                    );
                }
                _ => current = Some(Keys::decode(entry)?),
            }
        }
        let current = current.ok_or(
            "no current key: a key file holds one line `tbkey_…` (`touchbase key new` writes one)",
        )?;
        Ok(KeyFile { current, retired })
    }

    fn render(&self) -> String {
        let mut text = format!("{}\n", self.current.encode());
        if !self.retired.is_empty() {
            text.push_str(
                "# keys replaced by `touchbase key rotate`: they check what they sealed\n",
            );
        }
        for key in &self.retired {
            text.push_str(&format!("retired {}\n", key.encode()));
        }
        text
    }

    /// The keys the audit trail is sealed and checked with.
    pub fn ring(&self) -> KeyRing {
        KeyRing::new(&self.current, &self.retired)
    }
}

/// Whether `db` names a PostgreSQL store.
pub fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Where the key of store `db` is, when no file is named.
fn default_file(db: &str) -> Option<PathBuf> {
    if is_postgres(db) {
        None
    } else {
        Some(PathBuf::from(format!("{db}.key")))
    }
}

/// The key for store `db`: TOUCHBASE_KEY, else `file`, else the default file (made when
/// absent, for a SQLite store).
pub fn load(db: &str, file: Option<&Path>) -> anyhow::Result<Keys> {
    Ok(load_file(db, file)?.current)
}

/// The keys of store `db`, retired ones included; `None` for a PostgreSQL store given no key
/// (its audit trail is then written unsealed, and `audit verify` says so).
pub fn load_optional(db: &str, file: Option<&Path>) -> anyhow::Result<Option<KeyFile>> {
    if is_postgres(db) && file.is_none() && std::env::var_os("TOUCHBASE_KEY").is_none() {
        return Ok(None);
    }
    load_file(db, file).map(Some)
}

fn load_file(db: &str, file: Option<&Path>) -> anyhow::Result<KeyFile> {
    if let Ok(text) = std::env::var("TOUCHBASE_KEY") {
        return KeyFile::parse(&text).map_err(|e| anyhow::anyhow!("TOUCHBASE_KEY: {e}"));
    }
    let (path, create) = match file {
        Some(p) => (p.to_path_buf(), false),
        None => match default_file(db) {
            Some(p) => (p, true),
            None => anyhow::bail!(
                "a PostgreSQL store needs the organization's key: give --key-file FILE (TOUCHBASE_KEY_FILE) \
                 or the key in TOUCHBASE_KEY; `touchbase key new --out FILE` writes one. Keep it outside the database"
            ),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => KeyFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let keys = fresh()?;
            write(&path, &keys)?;
            Ok(KeyFile {
                current: keys,
                retired: Vec::new(),
            })
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot read the key file {}; `touchbase key new --out FILE` writes one",
                path.display()
            )
        }),
    }
}

/// A new random key.
pub fn fresh() -> anyhow::Result<Keys> {
    let mut root = [0u8; 32];
    getrandom::fill(&mut root).map_err(|e| anyhow::anyhow!("drawing a random key: {e}"))?;
    Ok(Keys::from_bytes(root))
}

/// Options that make a file only its owner can read.
fn private() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Writes a key file that only its owner can read; refuses to overwrite one.
pub fn write(path: &Path, keys: &Keys) -> anyhow::Result<()> {
    let mut f = private().open(path).with_context(|| {
        format!(
            "cannot create the key file {} (is one there already?)",
            path.display()
        )
    })?;
    writeln!(f, "{}", keys.encode())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write the key file {}", path.display()))
}

/// `touchbase key rotate`: a new current key in the key file of store `db`, the old ones kept
/// as retired. The file is replaced whole (written beside it, then renamed). Returns the file.
pub fn rotate(db: &str, file: Option<&Path>) -> anyhow::Result<PathBuf> {
    if std::env::var_os("TOUCHBASE_KEY").is_some() {
        anyhow::bail!(
            "the key is in TOUCHBASE_KEY: rotate it where it is kept — a new key (`touchbase key new --out FILE`) \
             first, then the old one as `retired tbkey_…`"
        );
    }
    let path = match file {
        Some(p) => p.to_path_buf(),
        None => default_file(db).ok_or_else(|| {
            anyhow::anyhow!(
                "a PostgreSQL store's key file is named by --key-file FILE (TOUCHBASE_KEY_FILE)"
            )
        })?,
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let old = KeyFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut retired = vec![old.current];
    retired.extend(old.retired);
    let rotated = KeyFile {
        current: fresh()?,
        retired,
    };
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".new");
    let tmp = path.with_file_name(name);
    let _ = std::fs::remove_file(&tmp);
    let mut f = private()
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(rotated.render().as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .with_context(|| format!("cannot write the key file {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_holds_one_current_key_and_the_retired_ones() {
        let (a, b, c) = (
            Keys::from_bytes([1; 32]),
            Keys::from_bytes([2; 32]),
            Keys::from_bytes([3; 32]),
        );
        let file = KeyFile {
            current: a.clone(),
            retired: vec![b.clone(), c.clone()],
        };
        let back = KeyFile::parse(&file.render()).unwrap();
        assert_eq!(back.current.encode(), a.encode());
        assert_eq!(back.retired.len(), 2);
        assert!(back.ring().find(back.ring().current().id()).is_some());
        // A bare key, as older versions and `key new` write it.
        let bare = KeyFile::parse(&format!("{}\n", a.encode())).unwrap();
        assert!(bare.retired.is_empty());
        // TOUCHBASE_KEY on one line.
        let env = KeyFile::parse(&format!("{}, retired {}", a.encode(), b.encode())).unwrap();
        assert_eq!(env.retired[0].encode(), b.encode());
        assert!(KeyFile::parse(&format!("{}\n{}", a.encode(), b.encode())).is_err());
        assert!(KeyFile::parse(&format!("retired {}", a.encode())).is_err());
    }
}
