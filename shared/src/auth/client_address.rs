//! Which client address the per-address rate limits count, and which source of it is trusted
//! (`ORBIT_CLIENT_ADDRESS`; docs/auth.md, "Client address").
//!
//! A per-address limit is only as good as the address: if the client can name it, every
//! attempt can come from a "new" address. On Cloudflare the edge overwrites `CF-Connecting-IP`
//! with the connecting address, so that header is the truth there (the default). Elsewhere a
//! client sends whatever header it likes, so the Worker must be told what to trust:
//!
//! * `peer`: workerd's own record of the TCP peer (`request.cf.clientIp`, `ip:port`), which
//!   self-hosted workerd sets when nothing in front of it supplies a `cf` object;
//! * `header:<Name>`: a header a trusted reverse proxy sets (and overwrites), such as
//!   `X-Real-IP`; for a list (`X-Forwarded-For`) the right-most entry, the one the proxy itself
//!   appended;
//! * `none`: nothing is trusted, so every client shares one bucket.
//!
//! Whatever the source, a missing or malformed value counts as [`UNKNOWN`], one bucket shared
//! by all such requests: fail closed, never a bucket the client picked. An unreadable setting
//! means `none` for the same reason.

use std::net::IpAddr;

use thiserror::Error;

/// The shared bucket of every request whose address is missing, malformed or not trusted.
pub const UNKNOWN: &str = "unknown";

/// Cloudflare's header, trusted by default.
pub const CLOUDFLARE_HEADER: &str = "CF-Connecting-IP";

/// Where the client address comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AddressSource {
    /// `CF-Connecting-IP`, which Cloudflare's edge sets (`cf-connecting-ip`, the default).
    #[default]
    Cloudflare,
    /// workerd's peer address (`peer`).
    Peer,
    /// A trusted proxy's header (`header:<Name>`).
    Header(String),
    /// Nothing trusted: one shared bucket (`none`).
    Untrusted,
}

/// An `ORBIT_CLIENT_ADDRESS` value that names no source.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressSourceError {
    #[error("`{0}` is not a client address source (expected cf-connecting-ip, peer, header:<Name> or none)")]
    Unknown(String),
    #[error("`{0}` is not an HTTP header name")]
    BadHeaderName(String),
}

impl AddressSource {
    /// Reads a setting; an empty one is the default.
    pub fn parse(setting: &str) -> Result<Self, AddressSourceError> {
        let setting = setting.trim();
        if let Some(name) = setting
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("header:"))
            .map(|_| setting[7..].trim())
        {
            return if is_header_name(name) {
                Ok(AddressSource::Header(name.to_string()))
            } else {
                Err(AddressSourceError::BadHeaderName(name.to_string()))
            };
        }
        match setting.to_ascii_lowercase().as_str() {
            "" | "cf-connecting-ip" => Ok(AddressSource::Cloudflare),
            "peer" => Ok(AddressSource::Peer),
            "none" => Ok(AddressSource::Untrusted),
            _ => Err(AddressSourceError::Unknown(setting.to_string())),
        }
    }

    /// The header to read, if this source is one.
    pub fn header(&self) -> Option<&str> {
        match self {
            AddressSource::Cloudflare => Some(CLOUDFLARE_HEADER),
            AddressSource::Header(name) => Some(name),
            AddressSource::Peer | AddressSource::Untrusted => None,
        }
    }

    /// The rate-limit id of a request: `header` is the value of [`AddressSource::header`] (if
    /// the request has it), `peer` workerd's peer address (if it gave one). Only the value the
    /// source names is looked at.
    pub fn client_id(&self, header: Option<&str>, peer: Option<&str>) -> String {
        let ip = match self {
            AddressSource::Cloudflare | AddressSource::Header(_) => header.and_then(last_entry),
            AddressSource::Peer => peer.and_then(parse_address),
            AddressSource::Untrusted => None,
        };
        ip.map_or_else(|| UNKNOWN.to_string(), bucket)
    }
}

/// The right-most entry of a comma-separated list (the one the nearest proxy added).
fn last_entry(value: &str) -> Option<IpAddr> {
    value.rsplit(',').next().and_then(parse_address)
}

/// An address as headers and workerd write one: `192.0.2.1`, `2001:db8::1`, optionally with a
/// port (`192.0.2.1:443`, `[2001:db8::1]:443`) or brackets (`[2001:db8::1]`).
pub fn parse_address(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        return inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // Only IPv4 can carry a bare `:port` (an IPv6 address without brackets parsed above).
    let (host, port) = value.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The bucket of an address: IPv4 as is, IPv6 by its /64 (one host usually owns a whole /64 and
/// could otherwise step around a limit by changing address), IPv4-mapped IPv6 as the IPv4.
pub fn bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// RFC 9110 token characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_bad_ones_are_refused() {
        assert_eq!(AddressSource::parse(""), Ok(AddressSource::Cloudflare));
        assert_eq!(
            AddressSource::parse(" CF-Connecting-IP "),
            Ok(AddressSource::Cloudflare)
        );
        assert_eq!(AddressSource::parse("peer"), Ok(AddressSource::Peer));
        assert_eq!(AddressSource::parse("NONE"), Ok(AddressSource::Untrusted));
        assert_eq!(
            AddressSource::parse("header: X-Real-IP"),
            Ok(AddressSource::Header("X-Real-IP".into()))
        );
        assert_eq!(
            AddressSource::parse("Header:X-Forwarded-For"),
            Ok(AddressSource::Header("X-Forwarded-For".into()))
        );
        assert_eq!(
            AddressSource::parse("header:"),
            Err(AddressSourceError::BadHeaderName(String::new()))
        );
        assert_eq!(
            AddressSource::parse("header:X Real"),
            Err(AddressSourceError::BadHeaderName("X Real".into()))
        );
        assert_eq!(
            AddressSource::parse("socket"),
            Err(AddressSourceError::Unknown("socket".into()))
        );
        assert_eq!(AddressSource::Peer.header(), None);
        assert_eq!(AddressSource::Cloudflare.header(), Some("CF-Connecting-IP"));
    }

    #[test]
    fn addresses_parse_with_or_without_ports() {
        let v4 = |s: &str| parse_address(s).map(|ip| ip.to_string());
        assert_eq!(v4(" 203.0.113.7 ").as_deref(), Some("203.0.113.7"));
        assert_eq!(v4("203.0.113.7:51234").as_deref(), Some("203.0.113.7"));
        assert_eq!(v4("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(v4("[2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(v4("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(v4("[::1]:8787").as_deref(), Some("::1"));
        for bad in [
            "",
            "unknown",
            "203.0.113",
            "203.0.113.7:",
            "203.0.113.7:port",
            "203.0.113.7:1234567",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[203.0.113.7]:1",
            "2001:db8::1:99999",
            "example.com:80",
            "203.0.113.7 198.51.100.1",
        ] {
            assert_eq!(parse_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ipv6_is_bucketed_by_its_64() {
        let id = |s: &str| AddressSource::Cloudflare.client_id(Some(s), None);
        assert_eq!(id("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(id("2001:db8:1:2::1"), id("2001:db8:1:2:ffff::9"));
        assert_ne!(id("2001:db8:1:2::1"), id("2001:db8:1:3::1"));
        assert_eq!(id("::ffff:198.51.100.1"), "198.51.100.1");
        assert_eq!(id("198.51.100.1"), "198.51.100.1");
    }

    #[test]
    fn a_missing_or_malformed_address_is_the_shared_bucket() {
        for source in [
            AddressSource::Cloudflare,
            AddressSource::Header("X-Real-IP".into()),
        ] {
            assert_eq!(source.client_id(None, Some("192.0.2.1:1")), UNKNOWN);
            assert_eq!(source.client_id(Some("spoofed-bucket-17"), None), UNKNOWN);
            assert_eq!(source.client_id(Some(&"é".repeat(50)), None), UNKNOWN);
            assert_eq!(source.client_id(Some(""), None), UNKNOWN);
        }
        assert_eq!(
            AddressSource::Peer.client_id(Some("192.0.2.1"), None),
            UNKNOWN
        );
        assert_eq!(
            AddressSource::Peer.client_id(None, Some("garbage")),
            UNKNOWN
        );
    }

    #[test]
    fn each_source_reads_only_what_it_trusts() {
        let header = Some("203.0.113.7");
        let peer = Some("[2001:db8:5:6::9]:50000");
        assert_eq!(
            AddressSource::Cloudflare.client_id(header, peer),
            "203.0.113.7"
        );
        assert_eq!(
            AddressSource::Peer.client_id(header, peer),
            "2001:db8:5:6::/64"
        );
        assert_eq!(AddressSource::Untrusted.client_id(header, peer), UNKNOWN);
    }

    #[test]
    fn a_forwarded_list_counts_its_right_most_entry() {
        let xff = AddressSource::Header("X-Forwarded-For".into());
        // The client wrote the first two entries; the proxy appended the last.
        assert_eq!(
            xff.client_id(Some("10.9.9.9, 198.51.100.20 ,192.0.2.44"), None),
            "192.0.2.44"
        );
        // A trailing empty entry is malformed, not a reason to look further left.
        assert_eq!(xff.client_id(Some("192.0.2.44, "), None), UNKNOWN);
    }
}
