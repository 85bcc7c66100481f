//! The WebSocket protocol at its edges: authentication on the upgrade, close codes for bad
//! input, slow readers, awareness identity, and no harm to the other clients in the room.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::fixture::*;
use support::server::*;
use support::yclient::{Kind, YClient};
use tokio_tungstenite::tungstenite::{self, Message};

/// Opens a raw WebSocket to a notebook and returns the HTTP status of a refused upgrade.
async fn upgrade_status(url: &str) -> Option<u16> {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => None,
        Err(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
        Err(e) => panic!("unexpected error connecting to {url}: {e}"),
    }
}

#[test]
fn the_upgrade_needs_a_valid_token_and_an_existing_notebook() {
    let fx = Fixture::new(Backend::Sqlite);
    let base = fx.server.ws();
    let nb = fx.notebook;
    fx.rt.block_on(async {
        assert_eq!(upgrade_status(&format!("{base}/{nb}")).await, Some(401), "no token");
        assert_eq!(
            upgrade_status(&format!("{base}/{nb}?token=tb_not_a_real_token")).await,
            Some(401),
            "bad token"
        );
        let token = &fx.alice.token;
        assert_eq!(
            upgrade_status(&format!("{base}/999999?token={token}")).await,
            Some(404),
            "unknown notebook"
        );
        assert_eq!(
            upgrade_status(&format!("{base}/not-a-number?token={token}")).await,
            Some(404),
            "malformed id"
        );
        assert_eq!(upgrade_status(&format!("{base}/{nb}?token={token}")).await, None, "valid token");
    });
    // The refusal is the API's JSON error shape.
    let (status, body) = fx.server.http_get(
        &format!("/ws/{nb}"),
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    );
    assert_eq!(status, 401);
    let body: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(body["error"]["code"], "unauthenticated");
}

fn connections(server: &TestServer) -> u64 {
    server.metric("talkbook_connections").expect("talkbook_connections metric")
}

/// Two good clients keep editing while bad ones are thrown out with their close codes.
fn bad_input_is_closed_and_harms_no_one(backend: Backend) {
    let fx = Fixture::with_env(backend, &[("TALKBOOK_MAX_MESSAGE_BYTES", "4096")]);
    let mut good = fx.client(Kind::Js, "good", &fx.alice);
    let mut peer = fx.client(Kind::Python, "peer", &fx.bob);
    good.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "", "cell_id": "live"}));
    peer.ok(json!({"cmd": "wait_cells", "count": 1}));
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("malformed sync message", vec![0x00, 0x05], 4400),
        ("unknown message type", vec![0x07, 0x00], 4400),
        ("update that does not decode", vec![0x00, 0x02, 0x03, 0xff, 0xff, 0xff], 4400),
        ("truncated frame", vec![0x00, 0x02, 0x20, 0x01], 4400),
        (
            "oversized message",
            {
                let mut m = vec![0x00, 0x02];
                m.extend([0x80, 0x50]);
                m.extend(vec![0u8; 10_240]);
                m
            },
            4413,
        ),
    ];
    for (i, (what, frame, code)) in cases.into_iter().enumerate() {
        let mut bad = fx.client(Kind::Js, &format!("bad{i}"), &fx.bob);
        bad.ok(json!({"cmd": "set_reconnect", "enabled": false}));
        bad.ok(json!({"cmd": "send_raw", "data": STANDARD.encode(&frame)}));
        let close = bad.expect_close(code);
        assert!(
            close["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{what}: close {code} without a reason"
        );
        // The room is unharmed: the good clients still edit and see each other.
        let marker = format!("after {i} ");
        good.ok(json!({"cmd": "insert_text", "cell_id": "live", "index": 0, "text": marker}));
        peer.ok(json!({"cmd": "wait_for", "cell_id": "live", "contains": marker}));
    }
    let stored = fx.stored();
    assert!(stored.read().cells[0].source.contains("after 4 "));
}

#[test]
fn bad_input_is_closed_and_harms_no_one_on_sqlite() {
    bad_input_is_closed_and_harms_no_one(Backend::Sqlite);
}

#[test]
fn bad_input_is_closed_and_harms_no_one_on_postgres() {
    bad_input_is_closed_and_harms_no_one(Backend::Postgres);
}

#[test]
fn text_frames_are_refused_with_4400() {
    let fx = Fixture::new(Backend::Sqlite);
    let url = format!("{}/{}?token={}", fx.server.ws(), fx.notebook, fx.alice.token);
    fx.rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
        ws.send(Message::text("hello")).await.expect("send");
        let code = loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        assert_eq!(code, 4400);
    });
}

/// A client that never reads its socket is disconnected once its queue is full; the
/// others are not slowed down or harmed.
#[test]
fn a_client_that_never_reads_is_disconnected_and_others_continue() {
    let fx = Fixture::with_env(Backend::Sqlite, &[("TALKBOOK_OUTBOUND_QUEUE", "8")]);
    let url = format!("{}/{}?token={}", fx.server.ws(), fx.notebook, fx.bob.token);
    let mut writer = fx.client(Kind::Js, "writer", &fx.alice);
    let mut reader = fx.client(Kind::Js, "reader", &fx.bob);
    writer.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "", "cell_id": "flood"}));
    let slow = fx.rt.block_on(async {
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
        ws
    });
    // The upgrade returns before the server has registered the connection.
    for _ in 0..500 {
        if connections(&fx.server) == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(connections(&fx.server), 3);
    // Big edits fill the slow client's TCP buffers, then its bounded queue.
    let chunk = "x".repeat(20_000);
    let mut disconnected = false;
    for i in 0..2000 {
        writer
            .ok(json!({"cmd": "insert_text", "cell_id": "flood", "index": 0, "text": format!("{i}{chunk}")}));
        if i % 50 == 49 && connections(&fx.server) == 2 {
            disconnected = true;
            break;
        }
    }
    assert!(disconnected, "the slow client was never disconnected");
    writer.ok(json!({"cmd": "insert_text", "cell_id": "flood", "index": 0, "text": "still fine "}));
    reader.ok(json!({"cmd": "wait_for", "cell_id": "flood", "contains": "still fine "}));
    drop(slow);
}

#[test]
fn awareness_is_relayed_with_the_user_stamped_by_the_server() {
    let fx = Fixture::new(Backend::Sqlite);
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    let mut b = fx.client(Kind::Python, "b", &fx.bob);
    // Bob claims to be Alice; the server overwrites the claim with his own identity.
    b.ok(json!({"cmd": "awareness", "state": {"user": {"name": "alice (display)", "id": fx.alice.user.id.0}, "cursor": 7}}));
    let peers = loop {
        let peers = a.ok(json!({"cmd": "peers"}))["peers"].clone();
        if peers.as_array().is_some_and(|p| p.iter().any(|p| p["state"]["cursor"] == json!(7))) {
            break peers;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let bob =
        peers.as_array().expect("peers").iter().find(|p| p["state"]["cursor"] == json!(7)).expect("bob");
    assert_eq!(bob["state"]["user"]["id"], json!(fx.bob.user.id.0));
    assert_eq!(bob["state"]["user"]["login"], json!("bob"));
    assert_eq!(bob["state"]["user"]["name"], json!("bob (display)"));
    // Leaving removes the state for everyone.
    drop(b);
    for _ in 0..500 {
        let peers = a.ok(json!({"cmd": "peers"}))["peers"].clone();
        if !peers.as_array().is_some_and(|p| p.iter().any(|p| p["state"]["cursor"] == json!(7))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("bob's awareness state outlived his connection");
}

#[test]
fn shutdown_closes_connections_with_1001() {
    let mut fx = Fixture::new(Backend::Sqlite);
    let mut a: YClient = fx.client(Kind::Js, "a", &fx.alice);
    a.ok(json!({"cmd": "set_reconnect", "enabled": false}));
    assert!(fx.server.stop().success());
    let close = a.expect_close(1001);
    assert_eq!(close["reason"], json!("server shutting down"));
}
