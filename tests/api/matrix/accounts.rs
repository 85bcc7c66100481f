//! Matrix rows for accounts: signing in and out, the caller's own account and tokens,
//! and user administration.

use sync_server::store::{NewToken, TokenKind};

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
        // --- accounts ---
        Case {
            route: "POST /api/auth/login",
            rule: Rule::Anyone(200),
            run: |m, _, who| {
                let body = json!({"name": m.owner.user.name, "password": "pw"});
                let reply = m.api().post_json("/api/auth/login", m.auth(who), &body);
                if ok(reply.status) {
                    let token = reply.json()["token"].as_str().expect("token").to_owned();
                    m.api().get("/api/me", Auth::Bearer(&token)).expect(200);
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/auth/logout",
            rule: Rule::SignedIn(204),
            run: |m, _, who| {
                // A token of its own, so the caller's stays valid for the other rows.
                let token = m.user(who).map(|u| {
                    let (secret, hash) = sync_server::auth::new_token_secret();
                    let new = NewToken {
                        user_id: u.user.id,
                        kind: TokenKind::Personal,
                        name: "logout".into(),
                        hash,
                        expires_at: None,
                    };
                    m.block_on(m.store.create_token(&new)).expect("token");
                    secret
                });
                let auth = token.as_deref().map_or(Auth::None, Auth::Bearer);
                let status = m.api().post_json("/api/auth/logout", auth, &json!({})).status;
                if let Some(token) = &token {
                    let after = m.api().get("/api/me", Auth::Bearer(token)).status;
                    assert_eq!(after, if ok(status) { 401 } else { 200 }, "the token after logout");
                }
                status
            },
        },
        Case {
            route: "GET /api/me",
            rule: Rule::SignedIn(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/me", m.auth(who));
                if ok(reply.status) {
                    assert_eq!(reply.json()["id"], json!(m.user(who).expect("signed in").user.id.0));
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/me/tokens",
            rule: Rule::SignedIn(200),
            run: |m, _, who| m.api().get("/api/me/tokens", m.auth(who)).status,
        },
        Case {
            route: "POST /api/me/tokens",
            rule: Rule::SignedIn(201),
            run: |m, _, who| {
                let reply = m.api().post_json("/api/me/tokens", m.auth(who), &json!({"name": "matrix"}));
                if ok(reply.status) {
                    let token = reply.json()["token"].as_str().expect("secret").to_owned();
                    m.api().get("/api/me", Auth::Bearer(&token)).expect(200);
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/users",
            rule: Rule::Admin,
            run: |m, _, who| m.api().get("/api/users", m.auth(who)).status,
        },
        Case {
            route: "POST /api/users",
            rule: Rule::Admin,
            run: |m, _, who| {
                let name = m.unique("made-");
                let body = json!({"name": name, "password": "a-long-password"});
                let status = m.api().post_json("/api/users", m.auth(who), &body).status;
                let exists = m.block_on(m.store.user_by_name(&name)).expect("user").is_some();
                assert_eq!(exists, ok(status), "the user exists only if made");
                status
            },
        },
    ]
}
