//! User-chosen names: account names (the identifier for TOTP sign-in) and display names of
//! anchors and passkeys.
//!
//! ```
//! use orbit_shared::auth::names::account_name;
//! assert_eq!(account_name("  Alice.W ").unwrap(), "alice.w");
//! assert_eq!(account_name("-x").unwrap_err().code().as_str(), "invalid_name");
//! ```

use orbit_protocol::ErrorCode;

/// Shortest and longest account name, in characters.
pub const ACCOUNT_NAME_MIN: usize = 3;
pub const ACCOUNT_NAME_MAX: usize = 32;

/// An account name that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a name is 3 to 32 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit")]
pub struct InvalidName;

impl InvalidName {
    /// The wire code (HTTP 400).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidName
    }
}

/// The canonical form of an account name: trimmed and lower-cased, so that names differing
/// only in case cannot both exist.
pub fn account_name(input: &str) -> Result<String, InvalidName> {
    let name = input.trim().to_ascii_lowercase();
    let valid = (ACCOUNT_NAME_MIN..=ACCOUNT_NAME_MAX).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(name)
    } else {
        Err(InvalidName)
    }
}

/// Longest anchor name, in bytes.
pub const ANCHOR_NAME_MAX: usize = 64;

/// A display name as typed (an anchor's): trimmed, control characters dropped, cut to `max`
/// bytes; `None` if nothing is left.
pub fn display_name(input: Option<&str>, max: usize) -> Option<String> {
    input
        .map(|s| clip(s.trim(), max).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A display name as stored: control characters removed, cut to at most `max` bytes on a
/// character boundary.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differing_in_case_are_one_account() {
        assert_eq!(account_name("Bob"), account_name("bOB"));
        assert_eq!(account_name(" bob\t").as_deref(), Ok("bob"));
    }

    #[test]
    fn lengths_are_bounded_at_both_ends() {
        assert_eq!(account_name("ab"), Err(InvalidName));
        assert!(account_name("abc").is_ok());
        assert!(account_name(&"a".repeat(32)).is_ok());
        assert_eq!(account_name(&"a".repeat(33)), Err(InvalidName));
    }

    #[test]
    fn lookalike_and_control_characters_are_refused() {
        for bad in [
            "_abc",
            ".abc",
            "al ice",
            "ålice",
            "alice\u{0}",
            "a/b/c",
            "аlice",
        ] {
            assert_eq!(account_name(bad), Err(InvalidName), "{bad:?}");
        }
        assert!(account_name("a.b_c-d9").is_ok());
    }

    #[test]
    fn display_names_are_trimmed_cut_and_never_empty() {
        assert_eq!(
            display_name(Some("  laptop \n"), 64).as_deref(),
            Some("laptop")
        );
        assert_eq!(display_name(Some(" \t "), 64), None);
        assert_eq!(display_name(None, 64), None);
        assert_eq!(display_name(Some("abcdef"), 3).as_deref(), Some("abc"));
        assert_eq!(display_name(Some("ab cd"), 3).as_deref(), Some("ab"));
    }

    #[test]
    fn clip_keeps_whole_characters_and_drops_controls() {
        assert_eq!(clip("ab\u{7}c", 10), "abc");
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("", 5), "");
    }
}
