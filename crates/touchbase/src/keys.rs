//! The organization's key (`Keys`): read from TOUCHBASE_KEY, or a key file — by default the
//! SQLite store's path with `.key` added, made on first use with a fresh random key and
//! permissions for its owner only. Secrets derived from it sign webhooks (and links); it is
//! never in the database, so a copy of the database alone cannot sign as touchbase. Losing it
//! changes every endpoint's secret: back it up with the store.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use touchbase_core::endpoint::Keys;

/// Where the key of store `db` is, when no file is named.
fn default_file(db: &str) -> Option<PathBuf> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        None
    } else {
        Some(PathBuf::from(format!("{db}.key")))
    }
}

/// The key for store `db`: TOUCHBASE_KEY, else `file`, else the default file (made when
/// absent, for a SQLite store).
pub fn load(db: &str, file: Option<&Path>) -> anyhow::Result<Keys> {
    if let Ok(text) = std::env::var("TOUCHBASE_KEY") {
        return Keys::decode(&text).map_err(|e| anyhow::anyhow!("TOUCHBASE_KEY: {e}"));
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
        Ok(text) => Keys::decode(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let keys = fresh()?;
            write(&path, &keys)?;
            Ok(keys)
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

/// Writes a key file that only its owner can read; refuses to overwrite one.
pub fn write(path: &Path, keys: &Keys) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| {
        format!(
            "cannot create the key file {} (is one there already?)",
            path.display()
        )
    })?;
    writeln!(f, "{}", keys.encode())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write the key file {}", path.display()))
}
