//! Where a pairing request came from, in words the requester cannot choose (RFC 8628 §5.4).
//!
//! A phisher can ask for a code with any name, hostname and platform ("Alice's MacBook") and
//! send the victim the approval link. What the phisher cannot set is how the platform saw the
//! connection: Cloudflare's `request.cf` (country, city, AS organisation and number, filled in
//! by the edge, never from a request header or body) and the client address bucket. The Worker
//! reads those raw values and [`origin`] cleans them into the [`DeviceOrigin`] stored with the
//! grant and shown on the approval page.

pub use orbit_protocol::auth::DeviceOrigin;

use super::names::display_name;

/// Longest city or network name kept, in bytes.
pub const ORIGIN_TEXT_MAX: usize = 64;

/// The raw values as the platform gave them; each absent where it gave none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Edge<'a> {
    pub country: Option<&'a str>,
    pub city: Option<&'a str>,
    pub network: Option<&'a str>,
    /// A JavaScript number.
    pub asn: Option<f64>,
}

/// The origin to store. `address` is the rate-limit address id (`"unknown"` when the platform
/// named none). Values that are not what the platform documents (a country that is not two
/// letters, an AS number that is not a positive integer, empty text) count as unknown.
pub fn origin(edge: Edge<'_>, address: &str) -> DeviceOrigin {
    let country = edge
        .country
        .map(str::trim)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_ascii_uppercase);
    let asn = edge
        .asn
        .filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= f64::from(u32::MAX))
        // In range and integral, so the conversion is exact.
        .map(|n| n as u32);
    DeviceOrigin {
        country,
        city: display_name(edge.city, ORIGIN_TEXT_MAX),
        network: display_name(edge.network, ORIGIN_TEXT_MAX),
        asn,
        address: Some(address.trim())
            .filter(|a| !a.is_empty() && *a != "unknown")
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_edge_says_is_kept_cleaned() {
        let o = origin(
            Edge {
                country: Some(" de "),
                city: Some("Berlin\u{7}"),
                network: Some(" Example Telecom "),
                asn: Some(64_500.0),
            },
            "203.0.113.7",
        );
        assert_eq!(
            o,
            DeviceOrigin {
                country: Some("DE".into()),
                city: Some("Berlin".into()),
                network: Some("Example Telecom".into()),
                asn: Some(64_500),
                address: Some("203.0.113.7".into()),
            }
        );
    }

    #[test]
    fn what_the_edge_does_not_say_is_unknown() {
        assert_eq!(origin(Edge::default(), "unknown"), DeviceOrigin::default());
        let odd = origin(
            Edge {
                country: Some("Germany"),
                city: Some("   "),
                network: Some(""),
                asn: Some(1.5),
            },
            "",
        );
        assert_eq!(odd, DeviceOrigin::default());
        for asn in [0.0, -3.0, f64::NAN, f64::INFINITY, 5e12] {
            let o = origin(
                Edge {
                    asn: Some(asn),
                    ..Edge::default()
                },
                "unknown",
            );
            assert_eq!(o.asn, None, "{asn}");
        }
        let long = "n".repeat(500);
        let o = origin(
            Edge {
                network: Some(&long),
                ..Edge::default()
            },
            "unknown",
        );
        assert_eq!(o.network.map(|n| n.len()), Some(ORIGIN_TEXT_MAX));
    }
}
