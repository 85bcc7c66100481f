//! A notebook built over a simulated day: time travel shows it exactly as it was at each
//! chosen moment, and the timeline tells the day's story.

use super::*;
use crate::support::fixture::{cell_ids, ids};

#[test]
fn time_travel_shows_each_moment_of_a_day_on_sqlite() {
    time_travel_shows_each_moment_of_a_day(Backend::Sqlite);
}

#[test]
fn time_travel_shows_each_moment_of_a_day_on_postgres() {
    time_travel_shows_each_moment_of_a_day(Backend::Postgres);
}

/// What one step of the day does, with Alice's and Bob's clients.
type Act = Box<dyn Fn(&mut YClient, &mut YClient)>;

fn time_travel_shows_each_moment_of_a_day(backend: Backend) {
    let h = Historic::new(backend, NotebookMode::Pair);
    let (alice, bob) = (&h.fx.alice, &h.fx.bob);
    let mut a = h.client("alice", alice);
    let mut b = h.client("bob", bob);
    // (time, what happens, a cell and the source it must show once committed)
    let steps: Vec<(&str, Act, &str, &str)> = vec![
        (
            "2027-03-01T08:00:00Z",
            Box::new(|a, _| {
                a.ok(json!({"cmd": "add_cell", "cell_id": "intro", "cell_type": "markdown", "source": "# Sales"}));
            }),
            "intro",
            "# Sales",
        ),
        (
            "2027-03-01T08:45:00Z",
            Box::new(|_, b| {
                b.ok(json!({"cmd": "add_cell", "cell_id": "load", "cell_type": "code", "source": "df = load()"}));
            }),
            "load",
            "df = load()",
        ),
        (
            "2027-03-01T09:30:00Z",
            Box::new(|a, _| type_text(a, "intro", 7, " report")),
            "intro",
            "# Sales report",
        ),
        (
            "2027-03-01T10:15:00Z",
            Box::new(|_, b| {
                b.ok(json!({"cmd": "set_metadata", "cell_id": "load", "key": "tags", "value": ["setup"]}));
            }),
            "load",
            "df = load()",
        ),
        (
            "2027-03-01T11:00:00Z",
            Box::new(|a, _| {
                a.ok(
                    json!({"cmd": "add_cell", "cell_id": "plot", "cell_type": "code", "source": "df.plot()"}),
                );
            }),
            "plot",
            "df.plot()",
        ),
        (
            "2027-03-01T12:30:00Z",
            Box::new(|_, b| {
                b.ok(json!({"cmd": "delete_text", "cell_id": "load", "index": 5, "length": 6}));
            }),
            "load",
            "df = ",
        ),
        (
            "2027-03-01T13:10:00Z",
            Box::new(|_, b| type_text(b, "load", 5, "read_csv('q1.csv')")),
            "load",
            "df = read_csv('q1.csv')",
        ),
        (
            "2027-03-01T14:00:00Z",
            Box::new(|a, _| {
                a.ok(json!({"cmd": "move_cell", "cell_id": "plot", "index": 0}));
            }),
            "plot",
            "df.plot()",
        ),
        (
            "2027-03-01T15:20:00Z",
            Box::new(|_, b| {
                b.ok(
                    json!({"cmd": "add_cell", "cell_id": "scratch", "cell_type": "code", "source": "1 + 1"}),
                );
            }),
            "scratch",
            "1 + 1",
        ),
        (
            "2027-03-01T16:05:00Z",
            Box::new(|a, _| {
                a.ok(json!({"cmd": "delete_cell", "cell_id": "intro"}));
            }),
            "scratch",
            "1 + 1",
        ),
        (
            "2027-03-01T17:40:00Z",
            Box::new(|a, _| type_text(a, "plot", 9, "  # by region")),
            "plot",
            "df.plot()  # by region",
        ),
        (
            "2027-03-01T18:30:00Z",
            Box::new(|_, b| {
                b.ok(json!({"cmd": "delete_cell", "cell_id": "scratch"}));
            }),
            "plot",
            "df.plot()  # by region",
        ),
    ];
    let mut recorded: Vec<(String, Value)> = Vec::new();
    for (time, act, cell, source) in &steps {
        h.at(time);
        act(&mut a, &mut b);
        h.settled(cell, source);
        // Moves and deletions change no source: wait until the server and both clients
        // also agree on which cells there are, in which order.
        let deadline = Instant::now() + PATIENCE;
        let exported = loop {
            let exported = h.export(alice, "");
            let order = ids(&exported["cells"]);
            if order == cell_ids(&a.dump()) && order == cell_ids(&b.dump()) {
                break exported;
            }
            assert!(Instant::now() < deadline, "clients and server never agreed after {time}");
            std::thread::sleep(Duration::from_millis(50));
        };
        recorded.push((time.to_string(), exported));
    }
    let times: Vec<DateTime<Utc>> = steps.iter().map(|s| s.0.parse().expect("RFC 3339")).collect();

    // Ten moments between the steps (and after the last): each equals what was recorded
    // right after the step before it.
    for i in [0, 1, 2, 3, 5, 6, 7, 8, 10, 11] {
        let moment = times[i] + chrono::Duration::minutes(20);
        let query = format!("?at={}", moment.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let reply = h.api.get(&format!("{}/ipynb{query}", h.nb()), Auth::Bearer(&alice.token));
        reply.expect(200);
        assert_eq!(cells(&reply.json()), cells(&recorded[i].1), "the notebook at {moment} (after step {i})");
        assert_eq!(reply.json()["metadata"], recorded[i].1["metadata"]);
        // The same point by sequence number gives the same notebook.
        let seq = reply.header("x-talkbook-seq").expect("seq header");
        assert_eq!(cells(&h.export(alice, &format!("?seq={seq}"))), cells(&recorded[i].1));
    }
    // Before the first edit the notebook had no cells yet; before it existed, nothing.
    assert_eq!(cells(&h.export(alice, "?at=2027-03-01T07:30:00Z")), json!([]));
    let reply = h.api.get(&format!("{}/ipynb?at=2020-01-01T00:00:00Z", h.nb()), Auth::Bearer(&alice.token));
    reply.expect(422);
    let reply = h.api.get(&format!("{}/ipynb?seq=999999", h.nb()), Auth::Bearer(&alice.token));
    reply.expect(422);

    // The timeline tells the day: kinds, cells, users and times in order.
    let events = h.timeline("?limit=1000")["events"].as_array().expect("array").clone();
    let story: Vec<(String, Option<String>, String, String)> = events
        .iter()
        // What the server writes when the notebook is created and first opened.
        .filter(|e| {
            !["mode_changed", "others_may_run_changed", "unblocked", "notebook_metadata_changed"]
                .contains(&e["kind"].as_str().unwrap_or_default())
        })
        .map(|e| {
            (
                e["kind"].as_str().expect("string").to_owned(),
                e["cell_id"].as_str().map(str::to_owned),
                login(&e["user"]).to_owned(),
                e["first_at"].as_str().expect("string")[11..16].to_owned(),
            )
        })
        .collect();
    let expected = [
        ("cell_created", "intro", "alice", "08:00"),
        ("cell_created", "load", "bob", "08:45"),
        ("source_edited", "intro", "alice", "09:30"),
        ("metadata_changed", "load", "bob", "10:15"),
        ("cell_created", "plot", "alice", "11:00"),
        ("source_edited", "load", "bob", "12:30"),
        ("source_edited", "load", "bob", "13:10"),
        ("cell_moved", "plot", "alice", "14:00"),
        ("cell_created", "scratch", "bob", "15:20"),
        ("cell_deleted", "intro", "alice", "16:05"),
        ("source_edited", "plot", "alice", "17:40"),
        ("cell_deleted", "scratch", "bob", "18:30"),
    ];
    let expected: Vec<(String, Option<String>, String, String)> = expected
        .iter()
        .map(|(k, c, u, t)| (k.to_string(), Some(c.to_string()), u.to_string(), t.to_string()))
        .collect();
    assert_eq!(story, expected, "{events:#?}");
    // Seven keystrokes of " report" are one event with their count.
    let report = events
        .iter()
        .find(|e| e["kind"] == "source_edited" && e["cell_id"] == "intro")
        .expect("the report edit");
    assert_eq!((report["added"].as_i64(), report["updates"].as_i64()), (Some(7), Some(7)), "{report}");

    // Filters and pages.
    let bobs = h.timeline("?user=bob&limit=1000")["events"].as_array().expect("array").clone();
    assert!(!bobs.is_empty() && bobs.iter().all(|e| login(&e["user"]) == "bob"));
    let load = h.timeline("?cell=load")["events"].as_array().expect("array").clone();
    assert_eq!(load.len(), 4, "{load:#?}");
    let afternoon = h.timeline("?from=2027-03-01T13:00:00Z&to=2027-03-01T16:00:00Z")["events"]
        .as_array()
        .expect("array")
        .clone();
    let kinds: Vec<&str> = afternoon.iter().map(|e| e["kind"].as_str().expect("string")).collect();
    assert_eq!(kinds, vec!["source_edited", "cell_moved", "cell_created"]);
    let mut paged = Vec::new();
    let mut query = "?limit=5".to_owned();
    loop {
        let page = h.timeline(&query);
        paged.extend(page["events"].as_array().expect("array").clone());
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=5&after={next}"),
            None => break,
        }
    }
    assert_eq!(paged, events, "pages of 5 add up to the whole timeline");
    let bad = h.api.get(&format!("{}/history?after=nonsense", h.nb()), Auth::Bearer(&alice.token));
    bad.expect(400);
    let unknown = h.api.get(&format!("{}/history?user=nobody", h.nb()), Auth::Bearer(&alice.token));
    unknown.expect(404);
}
