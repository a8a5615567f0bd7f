//! Who may do what (R22): users with roles, their API tokens, and the actor a write is
//! recorded under.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inventory::Point;

/// A user's role. Each role may do what the one before it may, except where [`Role::allows`]
/// says otherwise: an owner proposes and edits, an executive decides (R6: executives only), an
/// admin administers — users, tokens, settings, imports — but decides nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Analyst,
    Owner,
    Executive,
    Admin,
}

pub const ROLES: [Role; 5] = [
    Role::Viewer,
    Role::Analyst,
    Role::Owner,
    Role::Executive,
    Role::Admin,
];

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the inventory and the scorecards.
    Read,
    /// Read everything (audit trail, proposals, undocumented points), run reports and exports.
    Export,
    /// Propose new points and changes, edit the points one owns, take approved points live.
    Propose,
    /// Send interaction events in, replay rejects.
    Ingest,
    /// Approve or reject proposals: executives only (R6), never an admin.
    Decide,
    /// Users, tokens, settings, whole-inventory imports and baselines.
    Administer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Owner => "owner",
            Role::Executive => "executive",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        ROLES.into_iter().find(|r| r.as_str() == s)
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            // Administrators administer; sign-off is the executives' alone (R6).
            Role::Admin => !matches!(permission, Decide),
            Role::Executive => matches!(permission, Read | Export | Propose | Ingest | Decide),
            Role::Owner => matches!(permission, Read | Export | Propose | Ingest),
            Role::Analyst => matches!(permission, Read | Export),
            Role::Viewer => matches!(permission, Read),
        }
    }

    /// The roles that have `permission`, for messages.
    pub fn with(permission: Permission) -> Vec<Role> {
        ROLES.into_iter().filter(|r| r.allows(permission)).collect()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person or system that uses touchbase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The owner teams this user acts for: the user owns the points whose `owner` is its name
    /// or one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    pub created_at: String,
}

/// An API token, stored under the SHA-256 of its secret; the secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// The public handle used to revoke it: `tk_` and the first 32 hex digits (128 bits) of
    /// the hash, so two tokens never share one (tokens issued before had 8 digits).
    pub id: String,
    pub user: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When the API last saw it, to the minute: a server notes each use in memory and records
    /// them at most once a minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

/// How many random bytes a token's secret has: 192 bits, beyond guessing.
pub const SECRET_BYTES: usize = 24;

/// How many hex digits of a token's hash its id carries (128 bits).
pub const ID_DIGITS: usize = 32;

/// The id of the token whose hash is `hash`.
pub fn token_id(hash: &str) -> String {
    format!("tk_{}", &hash[..ID_DIGITS.min(hash.len())])
}

/// The hex SHA-256 of a token's secret: the key a token is stored under.
pub fn token_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Lowercase hex of the SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Who is acting: recorded in the audit trail with every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    pub teams: Vec<String>,
}

/// The name the CLI acts under unless `--as` says otherwise.
pub const LOCAL_ADMIN: &str = "local-admin";

/// The name a server records its own bookkeeping under (the last use of tokens).
pub const SERVER: &str = "touchbase-server";

impl Actor {
    /// The CLI acting on the store directly, as the local administrator.
    pub fn local_admin() -> Actor {
        Actor {
            name: LOCAL_ADMIN.to_owned(),
            role: Role::Admin,
            teams: Vec::new(),
        }
    }

    /// A server recording its own bookkeeping (never a user: the name is reserved).
    pub fn server() -> Actor {
        Actor {
            name: SERVER.to_owned(),
            role: Role::Admin,
            teams: Vec::new(),
        }
    }

    pub fn of(user: &User) -> Actor {
        Actor {
            name: user.name.clone(),
            role: user.role,
            teams: user.teams.clone(),
        }
    }

    /// Whether this actor may edit `point` as its owner (an admin may edit any).
    pub fn owns(&self, point: &Point) -> bool {
        self.role == Role::Admin || point.owner == self.name || self.teams.contains(&point.owner)
    }

    /// `Ok` when the actor's role has `permission`, else the message saying which roles do.
    pub fn require(&self, permission: Permission) -> Result<(), Denied> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(Denied::role(self, permission))
        }
    }
}

/// A refusal for lack of rights: what was needed and what the actor has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Denied {
    pub fn role(actor: &Actor, permission: Permission) -> Denied {
        let roles: Vec<&str> = Role::with(permission)
            .into_iter()
            .map(Role::as_str)
            .collect();
        let why = if permission == Permission::Decide && actor.role == Role::Admin {
            ": administrators administer, only executives sign off (R6)"
        } else {
            ""
        };
        Denied(format!(
            "this needs the role {}; {} has the role {}{why}",
            roles.join(" or "),
            actor.name,
            actor.role
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, false, false, false, false, false]),
            (Role::Analyst, [true, true, false, false, false, false]),
            (Role::Owner, [true, true, true, true, false, false]),
            (Role::Executive, [true, true, true, true, true, false]),
            (Role::Admin, [true, true, true, true, false, true]),
        ];
        for (role, expected) in table {
            let got = [Read, Export, Propose, Ingest, Decide, Administer].map(|p| role.allows(p));
            assert_eq!(got, expected, "{role}");
        }
    }

    #[test]
    fn denial_names_the_roles_needed() {
        let viewer = Actor {
            name: "vi".into(),
            role: Role::Viewer,
            teams: vec![],
        };
        assert_eq!(
            viewer.require(Permission::Decide).unwrap_err().to_string(),
            "this needs the role executive; vi has the role viewer"
        );
    }

    #[test]
    fn admins_administer_but_do_not_decide() {
        let admin = Actor::local_admin();
        assert!(admin.require(Permission::Administer).is_ok());
        assert_eq!(
            admin.require(Permission::Decide).unwrap_err().to_string(),
            "this needs the role executive; local-admin has the role admin: administrators administer, only executives sign off (R6)"
        );
        assert_eq!(Role::with(Permission::Decide), [Role::Executive]);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
