//! The web client: the files Vite built into `web/dist` (wrangler.toml `[assets]`, binding
//! `ASSETS`), answered with Orbit's security headers ([`orbit_shared::web`]). A path that is
//! no file gets `index.html` (the binding's single-page-application fallback), so the client's
//! own routes (`/device?code=…`, `/thread/…`) load the app.

use worker::{Env, Request, Response, Result};

use orbit_protocol::ErrorCode;
use orbit_shared::web::client_headers;

use crate::http;

pub async fn serve(req: Request, env: &Env) -> Result<Response> {
    let Ok(assets) = env.assets("ASSETS") else {
        // A deployment built without the client (wrangler.toml without [assets]).
        return http::refusal(ErrorCode::NotFound, "this Orbit serves no web client");
    };
    let path = req.path();
    let answer = assets.fetch_request(req).await?;
    // A fetched answer's headers cannot be changed in place; a copy can.
    let headers = answer.headers().clone();
    for (name, value) in client_headers(&path) {
        headers.set(name, value)?;
    }
    Ok(answer.with_headers(headers))
}
