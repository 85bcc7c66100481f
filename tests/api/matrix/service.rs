//! Matrix rows for the service's own routes (OpenAPI, health, metrics) and the WebSocket
//! upgrade.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
        // --- the service ---
        Case {
            route: "GET /api/openapi.json",
            rule: Rule::Anyone(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/openapi.json", m.auth(who));
                assert!(reply.json()["openapi"].is_string());
                reply.status
            },
        },
        Case {
            route: "GET /healthz",
            rule: Rule::Anyone(200),
            run: |m, _, who| m.api().get("/healthz", m.auth(who)).status,
        },
        Case {
            route: "GET /readyz",
            rule: Rule::Anyone(200),
            run: |m, _, who| m.api().get("/readyz", m.auth(who)).status,
        },
        Case {
            route: "GET /metrics",
            rule: Rule::Anyone(200),
            run: |m, _, who| m.api().get("/metrics", m.auth(who)).status,
        },
        // --- the WebSocket ---
        Case {
            route: "GET /ws/{notebook_id}",
            rule: Rule::View(101),
            run: |m, scene, who| m.ws_status(scene.notebook, who),
        },
    ]
}
