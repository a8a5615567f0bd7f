//! `touchbase user` and `touchbase token`: who may call the API, with which role (R22).

use serde::Serialize;
use touchbase_core::access::{Token, User};
use touchbase_core::{Actor, Role};
use touchbase_store::Store;
use touchbase_store::access::{self, Issued};

use crate::args::{TokenCommand, UserCommand};
use crate::output::{count, print_json, table, when};

pub async fn run(store: &dyn Store, actor: &Actor, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            teams,
            json,
        } => {
            let role: Role = role.into();
            let issued = access::add_user(store, actor, &name, role, teams.clone()).await?;
            if json {
                return print_json(&Shown::new(&name, role, &issued));
            }
            let teams = if teams.is_empty() {
                String::new()
            } else {
                format!(", teams {}", teams.join(", "))
            };
            println!("added user {name} ({role}{teams}).");
            print_token(&name, &issued);
        }
        UserCommand::List { json } => {
            let (users, tokens) = access::list(store, actor).await?;
            let listed: Vec<Listed> = users.iter().map(|u| Listed::new(u, &tokens)).collect();
            if json {
                return print_json(&listed);
            }
            let mut t = table(["name", "role", "teams", "tokens", "created"]);
            for u in &listed {
                let tokens: Vec<String> = u
                    .tokens
                    .iter()
                    .map(|t| match (&t.revoked_at, &t.last_used_at) {
                        (Some(_), _) => format!("{} (revoked)", t.id),
                        (None, Some(last)) => format!("{} (last used {})", t.id, when(last)),
                        (None, None) => format!("{} (never used)", t.id),
                    })
                    .collect();
                t.add_row([
                    u.name.clone(),
                    u.role.to_string(),
                    u.teams.join(", "),
                    tokens.join("\n"),
                    when(&u.created_at),
                ]);
            }
            if listed.is_empty() {
                println!("no users yet: `touchbase user add NAME --role ROLE`");
            } else {
                println!("{t}\n{}", count(listed.len(), "user", "users"));
            }
        }
    }
    Ok(())
}

pub async fn run_token(
    store: &dyn Store,
    actor: &Actor,
    command: TokenCommand,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue { user, json } => {
            let issued = access::issue_token(store, actor, &user).await?;
            if json {
                let role = access::actor_named(store, &user).await?.role;
                return print_json(&Shown::new(&user, role, &issued));
            }
            println!("issued another token for {user}.");
            print_token(&user, &issued);
        }
        TokenCommand::Revoke { token_id } => {
            access::revoke_token(store, actor, &token_id).await?;
            println!("revoked token {token_id}: it no longer works");
        }
        TokenCommand::List { json } => {
            let (_, tokens) = access::list(store, actor).await?;
            if json {
                return print_json(&tokens);
            }
            let mut t = table(["id", "user", "issued", "last used", "revoked"]);
            for token in &tokens {
                t.add_row([
                    token.id.clone(),
                    token.user.clone(),
                    when(&token.created_at),
                    token
                        .last_used_at
                        .as_deref()
                        .map_or("never".to_owned(), when),
                    token.revoked_at.as_deref().map_or(String::new(), when),
                ]);
            }
            if tokens.is_empty() {
                println!("no tokens yet: `touchbase user add NAME --role ROLE`");
            } else {
                println!(
                    "{t}\n{} (the last use is recorded by a running server, to the minute)",
                    count(tokens.len(), "token", "tokens")
                );
            }
        }
    }
    Ok(())
}

/// The one time a token's secret is shown.
fn print_token(user: &str, issued: &Issued) {
    println!(
        "Its API token {id} is shown only this once; keep it somewhere safe:\n\n    {secret}\n\n\
         Call the API with the header `Authorization: Bearer {secret}`.\n\
         Lost or leaked: `touchbase token revoke {id}`, then `touchbase token issue {user}`.",
        id = issued.id,
        secret = issued.secret,
    );
}

/// A token just issued, for `--json`.
#[derive(Serialize)]
struct Shown<'a> {
    name: &'a str,
    role: Role,
    token: &'a str,
    token_id: &'a str,
}

impl<'a> Shown<'a> {
    fn new(name: &'a str, role: Role, issued: &'a Issued) -> Self {
        Shown {
            name,
            role,
            token: &issued.secret,
            token_id: &issued.id,
        }
    }
}

/// A user and its tokens (never their secrets), for `user list`.
#[derive(Serialize)]
struct Listed {
    name: String,
    role: Role,
    teams: Vec<String>,
    created_at: String,
    tokens: Vec<ListedToken>,
}

#[derive(Serialize)]
struct ListedToken {
    id: String,
    created_at: String,
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<String>,
}

impl Listed {
    fn new(user: &User, tokens: &[Token]) -> Self {
        Listed {
            name: user.name.clone(),
            role: user.role,
            teams: user.teams.clone(),
            created_at: user.created_at.clone(),
            tokens: tokens
                .iter()
                .filter(|t| t.user == user.name)
                .map(|t| ListedToken {
                    id: t.id.clone(),
                    created_at: t.created_at.clone(),
                    revoked: t.revoked_at.is_some(),
                    revoked_at: t.revoked_at.clone(),
                    last_used_at: t.last_used_at.clone(),
                })
                .collect(),
        }
    }
}
