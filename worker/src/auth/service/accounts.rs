//! Accounts: names, and who may create one (SPEC §2; docs/auth.md "Accounts").
//!
//! **Names.** An account has a unique name chosen at sign-up: 3 to 32 characters `a-z 0-9 . _ -`,
//! starting with a letter or digit, compared case-insensitively (stored lower-case;
//! `orbit_shared::auth::names`). Passkey sign-in needs no name (discoverable credentials); TOTP
//! sign-in does, since a 6-digit code cannot identify anyone.
//!
//! **Who may create an account**: the first account, by anyone (bootstrap); after that anyone
//! while `ORBIT_OPEN_REGISTRATION=true`; otherwise only the holder of an unused, unexpired
//! invite made by a signed-in user. Sign-up is two steps (start, then confirm with a first
//! credential), and the rule is checked at both: at the start to answer early ([`admission`]),
//! and at the confirmation atomically, inside the batch that writes the account
//! ([`crate::auth::store::accounts`]).

use orbit_protocol::auth::SecurityEventKind;
use orbit_protocol::ErrorCode;
use orbit_shared::auth::hash::storage_hash;
use orbit_shared::auth::names::account_name;

use super::audit::{self, Event};
use crate::auth::ctx::Ctx;
use crate::auth::error::{AuthResult, Failure};
use crate::auth::store::accounts::{self, Admission, CreateAccountError, NewAccount};

/// The canonical form of a new account's name, if it is free: 400 `invalid_name`, 409
/// `name_taken`.
pub async fn free_name(ctx: &Ctx<'_>, input: &str) -> AuthResult<String> {
    let name = account_name(input)?;
    ensure_free(ctx, &name).await?;
    Ok(name)
}

/// 409 `name_taken` if an account has this (canonical) name.
pub async fn ensure_free(ctx: &Ctx<'_>, name: &str) -> AuthResult<()> {
    if accounts::name_taken(&ctx.store, name).await? {
        return Err(CreateAccountError::NameTaken.into());
    }
    Ok(())
}

/// The early check of a sign-up: may someone create an account now, with this invite (if any)?
/// Returns the invite's storage hash to carry to the confirmation. Refusals: 403
/// `registration_closed`, 403 `invite_invalid`.
pub async fn admission(ctx: &Ctx<'_>, invite: Option<&str>) -> AuthResult<Option<String>> {
    let invite = invite.map(str::trim).filter(|i| !i.is_empty());
    if ctx.config.open_registration {
        return Ok(None);
    }
    if let Some(invite) = invite {
        let hash = storage_hash(invite);
        return if accounts::invite_is_live(&ctx.store, &hash).await? {
            Ok(Some(hash))
        } else {
            Err(CreateAccountError::InviteInvalid.into())
        };
    }
    if accounts::any_account(&ctx.store).await? {
        Err(CreateAccountError::RegistrationClosed.into())
    } else {
        Ok(None)
    }
}

/// The account a sign-up confirms, under the rule as it stands now.
pub fn new_account(
    ctx: &Ctx<'_>,
    user_id: &str,
    name: &str,
    invite_hash: Option<&str>,
) -> NewAccount {
    NewAccount {
        user_id: user_id.to_string(),
        name: name.to_string(),
        admission: Admission::at_confirmation(ctx.config.open_registration, invite_hash),
    }
}

/// Records the outcome of creating `account` (`account_created`, or `registration_refused` when
/// the rule refused it) and returns it as the route's result.
pub fn created<E: Into<Failure>>(
    ctx: &Ctx<'_>,
    account: &NewAccount,
    outcome: Result<(), E>,
) -> AuthResult<()> {
    let failure = match outcome {
        Ok(()) => {
            audit::record(
                ctx,
                SecurityEventKind::AccountCreated,
                Event {
                    user_id: Some(&account.user_id),
                    detail: Some(&account.name),
                    ..Event::default()
                },
            );
            return Ok(());
        }
        Err(e) => e.into(),
    };
    if let Some(code @ (ErrorCode::InviteInvalid | ErrorCode::RegistrationClosed)) =
        failure.refusal_code()
    {
        audit::record(
            ctx,
            SecurityEventKind::RegistrationRefused,
            Event {
                detail: Some(code.as_str()),
                ..Event::default()
            },
        );
    }
    Err(failure)
}
