//! Users, their API tokens, and who a token belongs to (R22).

use touchbase_core::access::{SECRET_BYTES, Token, User, token_hash, token_id};
use touchbase_core::change::Entity;
use touchbase_core::{Actor, Kind, Permission, Role, validate};

use crate::{OpError, Store, update};

/// A token's secret, shown once when it is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub id: String,
    pub secret: String,
}

fn new_secret() -> Result<String, OpError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        OpError::Store(crate::StoreError::backend(
            "drawing a random token",
            std::io::Error::other(e.to_string()),
        ))
    })?;
    Ok(format!("tb_{}", touchbase_core::access::hex(&bytes)))
}

/// A token about to be issued: its secret (shown once), the hash it is stored under, its id.
struct Fresh {
    secret: String,
    hash: String,
    id: String,
}

impl Fresh {
    fn draw() -> Result<Fresh, OpError> {
        let secret = new_secret()?;
        let hash = token_hash(&secret);
        let id = token_id(&hash);
        Ok(Fresh { secret, hash, id })
    }

    /// The token as stored, for `user`, issued `now`.
    fn stored(&self, user: &str, now: &str) -> (String, Token) {
        let token = Token {
            id: self.id.clone(),
            user: user.to_owned(),
            created_at: now.to_owned(),
            revoked_at: None,
            last_used_at: None,
        };
        (self.hash.clone(), token)
    }

    fn issued(self) -> Issued {
        Issued {
            id: self.id,
            secret: self.secret,
        }
    }
}

fn bad_name(name: &str, rule: &str) -> OpError {
    touchbase_core::Violations(vec![touchbase_core::Violation::new(
        format!("user `{name}`"),
        "name",
        rule,
    )])
    .into()
}

/// Creates a user and issues its first token, in one write.
pub async fn add_user(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    role: Role,
    teams: Vec<String>,
) -> Result<Issued, OpError> {
    actor.require(Permission::Administer)?;
    if name == touchbase_core::access::LOCAL_ADMIN || name == touchbase_core::access::SERVER {
        return Err(bad_name(
            name,
            "is reserved for the command line acting on the store directly",
        ));
    }
    if !validate::is_key(name) {
        return Err(bad_name(name, validate::KEY_RULE));
    }
    let fresh = Fresh::draw()?;
    update(store, actor, "user.add", |state, now| {
        if state.user(name).is_some() {
            return Err(OpError::UserExists(name.to_owned()));
        }
        state.users.push(User {
            name: name.to_owned(),
            role,
            teams: teams.clone(),
            created_at: now.to_owned(),
        });
        if state.tokens.iter().any(|(_, t)| t.id == fresh.id) {
            return Err(OpError::Store(crate::StoreError::Conflict(
                "a token with this id exists already; issue again".to_owned(),
            )));
        }
        state.tokens.push(fresh.stored(name, now));
        Ok(())
    })
    .await?;
    Ok(fresh.issued())
}

/// Issues another token for an existing user.
pub async fn issue_token(store: &dyn Store, actor: &Actor, user: &str) -> Result<Issued, OpError> {
    actor.require(Permission::Administer)?;
    let fresh = Fresh::draw()?;
    update(store, actor, "token.issue", |state, now| {
        if state.user(user).is_none() {
            return Err(OpError::UserNotFound(user.to_owned()));
        }
        if state.tokens.iter().any(|(_, t)| t.id == fresh.id) {
            return Err(OpError::Store(crate::StoreError::Conflict(
                "a token with this id exists already; issue again".to_owned(),
            )));
        }
        state.tokens.push(fresh.stored(user, now));
        Ok(())
    })
    .await?;
    Ok(fresh.issued())
}

/// Revokes a token by its id (`tk_…`): it stops working at once for commands, and on a
/// running server within half a second (the server remembers checked tokens until the
/// store's version moves).
pub async fn revoke_token(store: &dyn Store, actor: &Actor, id: &str) -> Result<(), OpError> {
    actor.require(Permission::Administer)?;
    update(store, actor, "token.revoke", |state, now| {
        let (_, token) = state
            .tokens
            .iter_mut()
            .find(|(_, t)| t.id == id)
            .ok_or_else(|| OpError::TokenNotFound(id.to_owned()))?;
        if token.revoked_at.is_none() {
            token.revoked_at = Some(now.to_owned());
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// Records when tokens were last used (`(hash, instant)` pairs, RFC 3339), as the server that
/// noted them: one audited write for them all, setting each token's `last_used_at` when the
/// instant is later than the one on record. Tokens no longer on record are passed over.
pub async fn record_use(store: &dyn Store, used: &[(String, String)]) -> Result<(), OpError> {
    if used.is_empty() {
        return Ok(());
    }
    update(store, &Actor::server(), "token.use", |state, _| {
        for (hash, at) in used {
            if let Some((_, token)) = state.tokens.iter_mut().find(|(h, _)| h == hash) {
                let later = token.last_used_at.as_ref().is_none_or(|last| {
                    match (
                        last.parse::<jiff::Timestamp>(),
                        at.parse::<jiff::Timestamp>(),
                    ) {
                        (Ok(last), Ok(at)) => at > last,
                        _ => true,
                    }
                });
                if later {
                    token.last_used_at = Some(at.clone());
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// The users and their tokens (never their secrets).
pub async fn list(store: &dyn Store, actor: &Actor) -> Result<(Vec<User>, Vec<Token>), OpError> {
    actor.require(Permission::Administer)?;
    let state = crate::load(store).await?.value;
    Ok((
        state.users,
        state.tokens.into_iter().map(|(_, t)| t).collect(),
    ))
}

/// The actor a bearer token stands for: refused when unknown or revoked.
pub async fn authenticate(store: &dyn Store, secret: &str) -> Result<Actor, OpError> {
    let refuse = || {
        OpError::Unauthenticated("the token is unknown or revoked: ask an admin for a new one (`touchbase user add` or `touchbase token issue`)".to_owned())
    };
    let Some(Entity::Token(_, token)) = store.entity(Kind::Token, &token_hash(secret)).await?
    else {
        return Err(refuse());
    };
    if token.revoked_at.is_some() {
        return Err(refuse());
    }
    match store.entity(Kind::User, &token.user).await? {
        Some(Entity::User(user)) => Ok(Actor::of(&user)),
        _ => Err(refuse()),
    }
}

/// The actor for a user named on the command line (`--as NAME`).
pub async fn actor_named(store: &dyn Store, name: &str) -> Result<Actor, OpError> {
    match store.entity(Kind::User, name).await? {
        Some(Entity::User(user)) => Ok(Actor::of(&user)),
        _ => Err(OpError::UserNotFound(name.to_owned())),
    }
}
