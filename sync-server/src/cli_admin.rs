//! The administration commands: `migrate`, `user add|list|passwd`, `token create`,
//! `import` and `export`. Each opens the database itself (so they work with the server
//! stopped or running) and applies the same rules as the HTTP API, through [`accounts`]
//! and [`notebooks`].
//!
//! What a script wants to capture (a token, a notebook id, an exported file) goes to
//! standard output; everything said to people goes to standard error.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

use crate::accounts::{self, NewAccount};
use crate::config::DbConfig;
use crate::notebooks::{self, ImportRequest};
use crate::serve::{open_store, redact};
use crate::store::{DynStore, NotebookId, NotebookMode, ProjectId, User};

/// `talkbook user …`
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a password is generated and printed once.
    #[command(after_help = "Examples:\n  talkbook user add alice --display-name 'Alice Liddell'\n  \
                            printf '%s\\n' \"$PASSWORD\" | talkbook user add bob --admin --password-stdin")]
    Add(UserAdd),
    /// List every user.
    List {
        #[command(flatten)]
        db: DbConfig,
    },
    /// Set a user's password. Without --password-stdin a new one is generated and printed.
    Passwd(UserPasswd),
}

#[derive(Debug, clap::Args)]
pub struct UserAdd {
    /// Login name: 1-64 characters from a-z, 0-9, `_`, `.` and `-`.
    pub name: String,
    /// Name shown to other people (default: the login name).
    #[arg(long)]
    pub display_name: Option<String>,
    /// Make the user an instance administrator (manages users).
    #[arg(long)]
    pub admin: bool,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub db: DbConfig,
}

#[derive(Debug, clap::Args)]
pub struct UserPasswd {
    /// The user's login name.
    pub name: String,
    /// Read the new password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub db: DbConfig,
}

/// `talkbook token …`
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token for a user and print its secret (only) on standard
    /// output; it is not shown again.
    #[command(
        after_help = "Example:\n  TOKEN=$(talkbook token create alice --name ci --expires-days 90)\n  \
                            curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/api/me"
    )]
    Create(TokenCreate),
}

#[derive(Debug, clap::Args)]
pub struct TokenCreate {
    /// The login name of the token's owner.
    pub user: String,
    /// A label to recognise the token by in the user's token list.
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Days until the token expires (default: never).
    #[arg(long, value_name = "N")]
    pub expires_days: Option<u32>,
    #[command(flatten)]
    pub db: DbConfig,
}

/// `talkbook import`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  talkbook import analysis.ipynb --project 1 --user alice --name 'Q3 analysis'"
)]
pub struct ImportArgs {
    /// The .ipynb file (`-` for standard input).
    pub file: PathBuf,
    /// Id of the project that gets the notebook.
    #[arg(long, value_name = "ID")]
    pub project: i64,
    /// Login name of the importing user, who becomes the author of every cell.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Notebook name (default: the file's metadata.title, else "Imported notebook").
    #[arg(long)]
    pub name: Option<String>,
    /// How the notebook is shared: thread (everyone edits their own cells) or pair.
    #[arg(long, value_enum, default_value = "thread")]
    pub mode: Mode,
    #[command(flatten)]
    pub db: DbConfig,
}

/// `talkbook export`
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  talkbook export 7 -o analysis.ipynb")]
pub struct ExportArgs {
    /// Id of the notebook.
    pub notebook: i64,
    /// Write the file here instead of standard output (`-` is standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbConfig,
}

/// A notebook mode on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Thread,
    Pair,
}

impl From<Mode> for NotebookMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Thread => NotebookMode::Thread,
            Mode::Pair => NotebookMode::Pair,
        }
    }
}

/// `talkbook migrate`: opening the store runs the migrations.
pub fn migrate(db: &DbConfig) -> anyhow::Result<()> {
    run(async {
        open_store(db).await?;
        say(&format!("database {} is migrated to the current schema", redact(&db.url())))
    })
}

/// `talkbook user …`
pub fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => run(user_add(args)),
        UserCommand::List { db } => run(user_list(db)),
        UserCommand::Passwd(args) => run(user_passwd(args)),
    }
}

async fn user_add(args: UserAdd) -> anyhow::Result<()> {
    let (password, generated) = password(args.password_stdin)?;
    let store = open_store(&args.db).await?;
    let account = NewAccount {
        name: args.name,
        display_name: args.display_name,
        password: password.clone(),
        is_admin: args.admin,
    };
    let user = accounts::create_user(&store, account).await?;
    let role = if user.is_admin { ", administrator" } else { "" };
    let mut text = format!("created user {} (id {}{role})\n", user.name, user.id);
    if generated {
        text.push_str(&format!(
            "password: {password}\n(shown only now; change it with `talkbook user passwd {}`)\n",
            user.name
        ));
    }
    print_out(&text)
}

async fn user_list(db: DbConfig) -> anyhow::Result<()> {
    let store = open_store(&db).await?;
    let users = store.list_users().await?;
    let rows: Vec<[String; 5]> = users
        .iter()
        .map(|u| {
            let admin = if u.is_admin { "yes" } else { "no" };
            [
                u.id.to_string(),
                u.name.clone(),
                u.display_name.clone(),
                admin.to_owned(),
                u.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ]
        })
        .collect();
    print_out(&table(["ID", "NAME", "DISPLAY NAME", "ADMIN", "CREATED"], &rows))
}

async fn user_passwd(args: UserPasswd) -> anyhow::Result<()> {
    let (password, generated) = password(args.password_stdin)?;
    let store = open_store(&args.db).await?;
    let user = find_user(&store, &args.name).await?;
    accounts::set_password(&store, user.id, &password).await?;
    if generated {
        print_out(&format!("new password for {}: {password}\n", user.name))
    } else {
        say(&format!("password of {} changed", user.name))
    }
}

/// `talkbook token create`
pub fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => run(async move {
            let store = open_store(&args.db).await?;
            let user = find_user(&store, &args.user).await?;
            let (secret, token) =
                accounts::create_personal_token(&store, user.id, &args.name, args.expires_days).await?;
            let expiry = token.expires_at.map_or("never expires".to_owned(), |t| {
                format!("expires {}", t.format("%Y-%m-%d %H:%M UTC"))
            });
            say(&format!("created token `{}` for {} ({expiry})", token.name, user.name))?;
            print_out(&format!("{secret}\n"))
        }),
    }
}

/// `talkbook import`: prints the new notebook's id.
pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    run(async move {
        let bytes = read_input(&args.file)?;
        let store = open_store(&args.db).await?;
        let project = ProjectId(args.project);
        if store.project(project).await?.is_none() {
            bail!("project {project} does not exist");
        }
        let importer = find_user(&store, &args.user).await?;
        let request = ImportRequest {
            project,
            name: args.name.as_deref(),
            mode: args.mode.into(),
            importer: &importer,
            at: chrono::Utc::now(),
        };
        let imported = notebooks::import(&store, request, bytes)
            .await
            .with_context(|| format!("cannot import {}", args.file.display()))?;
        for warning in &imported.warnings {
            say(&format!("warning: {}: {warning}", args.file.display()))?;
        }
        let nb = &imported.notebook;
        say(&format!(
            "imported {} as notebook {} `{}` in project {}",
            args.file.display(),
            nb.id,
            nb.name,
            nb.project_id
        ))?;
        print_out(&format!("{}\n", nb.id))
    })
}

/// `talkbook export`: the notebook as committed in the database.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    run(async move {
        let store = open_store(&args.db).await?;
        let id = NotebookId(args.notebook);
        if store.notebook(id).await?.is_none() {
            bail!("notebook {id} does not exist");
        }
        let loaded = crate::rooms::load(&store, id).await?;
        let text = notebooks::export_state(&loaded.doc.encode_state())?;
        match &args.output {
            Some(path) if path != Path::new("-") => write_file(path, text.as_bytes()),
            _ => print_out(&text),
        }
    })
}

/// Runs one command's async body on a small runtime of its own.
pub(crate) fn run<T>(body: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(body)
}

async fn find_user(store: &DynStore, name: &str) -> anyhow::Result<User> {
    store.user_by_name(name).await?.ok_or_else(|| anyhow!("there is no user named `{name}`"))
}

/// The password to set: the first line of standard input, or a generated one.
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((accounts::generate_password(), true));
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the password from standard input")?;
    let line = input.lines().next().unwrap_or_default().to_owned();
    accounts::check_password(&line)?;
    Ok((line, false))
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("cannot read standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes through a temporary file and a rename, so a failure never leaves half a file.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let file_name = path.file_name().ok_or_else(|| anyhow!("{} is not a file name", path.display()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(".partial");
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    if let Err(err) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(err).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Text for scripts, on standard output.
pub(crate) fn print_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("cannot write to standard output")
}

/// A line for people, on standard error.
fn say(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stderr(), "{line}").context("cannot write to standard error")
}

/// A plain-text table with left-aligned columns two spaces apart.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_by_their_widest_cell() {
        let rows = [["1".to_owned(), "admin".to_owned()], ["12".to_owned(), "al".to_owned()]];
        assert_eq!(table(["ID", "NAME"], &rows), "ID  NAME\n1   admin\n12  al\n");
    }
}
