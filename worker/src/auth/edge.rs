//! Cloudflare's view of a request's connection (`request.cf`), read field by field from the
//! JavaScript object so that a value of an unexpected type is "unknown", never a panic. On
//! Cloudflare the edge fills it in; no header or body field of the request can. Elsewhere it
//! may be absent, or, under Miniflare (`wrangler dev`), a fixed placeholder that a client's
//! `MF-CF-Blob` header replaces: there `ORBIT_TRUST_REQUEST_CF=false` makes it unknown.

use js_sys::Reflect;
use wasm_bindgen::JsValue;
use worker::Request;

use orbit_shared::auth::device_origin::{origin, DeviceOrigin, Edge};

/// Where `req` came from; `address` is the rate-limit address id. `trust_cf`: whether
/// `request.cf` is Cloudflare's (else only the address is kept).
pub fn request_origin(req: &Request, address: &str, trust_cf: bool) -> DeviceOrigin {
    let cf = trust_cf
        .then(|| field(req.inner(), "cf"))
        .flatten()
        .filter(JsValue::is_object);
    let text = |name: &str| cf.as_ref().and_then(|cf| field(cf, name)?.as_string());
    let (country, city, network) = (text("country"), text("city"), text("asOrganization"));
    let asn = cf.as_ref().and_then(|cf| field(cf, "asn")?.as_f64());
    origin(
        Edge {
            country: country.as_deref(),
            city: city.as_deref(),
            network: network.as_deref(),
            asn,
        },
        address,
    )
}

fn field(object: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}
