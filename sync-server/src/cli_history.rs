//! `talkbook history` and `talkbook blame`: a notebook's authorship history from the
//! command line, read straight from the database (like `export`).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};

use crate::cli_admin::{print_out, run};
use crate::config::DbConfig;
use crate::history::{History, Point, rfc3339};
use crate::serve::open_store;
use crate::store::{DynStore, HistoryFilter, NotebookId, UserId};

/// Arguments of `talkbook history`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  talkbook history 12\n  talkbook history 12 --cell 3f2a --user alice --from 2026-11-23T09:00:00Z\n  talkbook history 12 --json | jq ."
)]
pub struct HistoryArgs {
    /// Id of the notebook.
    pub notebook: i64,
    /// Only events of this cell.
    #[arg(long)]
    pub cell: Option<String>,
    /// Only events of this user (login name).
    #[arg(long)]
    pub user: Option<String>,
    /// Only events that end at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// Only events that start at or before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Seconds between two edits of one user to the same cell that still make one event;
    /// used for history indexed by this command (the server's setting applies otherwise).
    #[arg(long, env = "TALKBOOK_HISTORY_GROUP_SECONDS", default_value_t = 60)]
    pub group_seconds: i64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbConfig,
}

/// Arguments of `talkbook blame`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  talkbook blame 12 3f2a\n  talkbook blame 12 3f2a --at 2026-11-23T12:00:00Z"
)]
pub struct BlameArgs {
    /// Id of the notebook.
    pub notebook: i64,
    /// Id of the cell.
    pub cell: String,
    /// The cell as it was right after this update of the log.
    #[arg(long, conflicts_with = "at")]
    pub seq: Option<i64>,
    /// The cell as it was at this time (RFC 3339).
    #[arg(long)]
    pub at: Option<DateTime<Utc>>,
    /// Runs, lines and deletions as one JSON object instead of annotated lines.
    #[arg(long)]
    pub json: bool,
    #[arg(long, env = "TALKBOOK_HISTORY_GROUP_SECONDS", default_value_t = 60, hide = true)]
    pub group_seconds: i64,
    #[command(flatten)]
    pub db: DbConfig,
}

pub fn history(args: HistoryArgs) -> anyhow::Result<()> {
    run(async move {
        let (store, history, id) = open(&args.db, args.notebook, args.group_seconds).await?;
        let user_id = match &args.user {
            Some(name) => Some(
                store.user_by_name(name).await?.ok_or_else(|| anyhow!("there is no user named `{name}`"))?.id,
            ),
            None => None,
        };
        history.catch_up(id).await?;
        let filter = HistoryFilter {
            cell_id: args.cell.clone(),
            user_id,
            from: args.from,
            to: args.to,
            limit: args.limit.max(1),
            ..HistoryFilter::default()
        };
        let events = store.history_events(id, &filter).await?;
        let names = names(&store, events.iter().map(|e| e.user_id)).await?;
        let mut out = String::new();
        for e in &events {
            let who = e.user_id.and_then(|u| names.get(&u)).map_or("(server)", String::as_str);
            if args.json {
                let line = serde_json::json!({
                    "id": format!("{}.{}", e.first_seq, e.part), "kind": e.kind, "cell_id": e.cell_id,
                    "user": e.user_id.and_then(|u| names.get(&u)), "first_at": rfc3339(e.first_at),
                    "last_at": rfc3339(e.last_at), "first_seq": e.first_seq, "last_seq": e.last_seq,
                    "updates": e.updates, "added": e.added, "removed": e.removed, "detail": e.detail,
                });
                out.push_str(&format!("{line}\n"));
            } else {
                let cell = e.cell_id.as_deref().unwrap_or("-");
                let counts = if e.kind == "source_edited" {
                    format!("  +{} −{}", e.added, e.removed)
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "{}  {:<12} {:<26} {}{counts}\n",
                    e.first_at.format("%Y-%m-%d %H:%M:%S"),
                    who,
                    e.kind,
                    cell
                ));
            }
        }
        if events.is_empty() && !args.json {
            eprintln!("no events match");
        }
        print_out(&out)
    })
}

pub fn blame(args: BlameArgs) -> anyhow::Result<()> {
    run(async move {
        let (store, history, id) = open(&args.db, args.notebook, args.group_seconds).await?;
        let point = match (args.seq, args.at) {
            (Some(seq), _) => Point::Seq(seq),
            (None, Some(at)) => Point::At(at),
            (None, None) => Point::Seq(store.last_seq(id).await?),
        };
        let seq = history.resolve(id, point).await?;
        let doc = history.state_at(id, seq).await?;
        let blame = history.blame(id, &doc, &args.cell).await?;
        let ids = blame
            .runs
            .iter()
            .map(|r| r.user)
            .chain(blame.lines.iter().flat_map(|l| l.touched_by.iter().map(|u| Some(*u))));
        let names = names(&store, ids).await?;
        let name =
            |u: Option<UserId>| u.and_then(|u| names.get(&u).cloned()).unwrap_or_else(|| "(server)".into());
        if args.json {
            let value = serde_json::json!({
                "cell_id": args.cell, "seq": seq, "source": blame.source,
                "runs": blame.runs.iter().map(|r| serde_json::json!({
                    "start": r.start, "end": r.end, "text": r.text, "user": name(r.user),
                    "first_at": r.first_at.map(rfc3339), "last_at": r.last_at.map(rfc3339)})).collect::<Vec<_>>(),
                "lines": blame.lines.iter().map(|l| serde_json::json!({
                    "line": l.line, "text": l.text, "author": name(l.author),
                    "touched_by": l.touched_by.iter().map(|u| name(Some(*u))).collect::<Vec<_>>(),
                    "last_at": l.last_at.map(rfc3339)})).collect::<Vec<_>>(),
            });
            return print_out(&format!("{value}\n"));
        }
        let width = blame.lines.iter().map(|l| name(l.author).len()).max().unwrap_or(0);
        let mut out = String::new();
        for line in &blame.lines {
            let others: Vec<String> =
                line.touched_by.iter().filter(|u| Some(**u) != line.author).map(|u| name(Some(*u))).collect();
            let also = if others.is_empty() { String::new() } else { format!(" (+{})", others.join(", ")) };
            let when =
                line.last_at.map_or_else(|| " ".repeat(16), |t| t.format("%Y-%m-%d %H:%M").to_string());
            out.push_str(&format!(
                "{:>4} {:<width$} {when} │ {}{also}\n",
                line.line,
                name(line.author),
                line.text
            ));
        }
        print_out(&out)
    })
}

async fn open(
    db: &DbConfig,
    notebook: i64,
    group_seconds: i64,
) -> anyhow::Result<(DynStore, Arc<History>, NotebookId)> {
    let store = open_store(db).await?;
    let id = NotebookId(notebook);
    if store.notebook(id).await?.is_none() {
        bail!("notebook {id} does not exist");
    }
    let history = Arc::new(History::new(store.clone(), chrono::Duration::seconds(group_seconds.max(0))));
    Ok((store, history, id))
}

async fn names(
    store: &DynStore,
    ids: impl Iterator<Item = Option<UserId>>,
) -> anyhow::Result<HashMap<UserId, String>> {
    let mut names = HashMap::new();
    for id in ids.flatten() {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id)
            && let Some(user) = store.user_by_id(id).await?
        {
            slot.insert(user.name);
        }
    }
    Ok(names)
}
