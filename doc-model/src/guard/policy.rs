//! Who may make which change (SPEC §6), decided from an update's [`Effects`].

use std::fmt;

use yrs::block::ClientID;

use super::structure::{Effects, Structure};
use crate::ids::UserId;
use crate::schema as key;

/// How a notebook is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everyone changes only the cells they wrote.
    Thread,
    /// Editors change every cell.
    Pair,
}

/// A person as refusals name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: UserId,
    pub name: String,
}

/// The notebook-wide rules at the moment of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub mode: Mode,
    /// Who holds a manual block on the notebook, if anyone.
    pub blocked_by: Option<Person>,
}

/// Who sends an update and what their role allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// `None` for anonymous readers.
    pub user: Option<UserId>,
    pub can_edit: bool,
    /// The project's owner may delete any cell (moderation).
    pub is_owner: bool,
}

/// Who a Yjs client id is bound to in this notebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Not used yet: the first user whose accepted update carries it gets it.
    Free,
    /// The server's own edits.
    Server,
    User(Person),
}

/// What the checks need to look up.
pub trait Lookup {
    /// Who client id `client` is bound to.
    fn binding(&self, client: ClientID) -> Binding;
    /// The author of the cell with this `id` (from the provenance map).
    fn author(&self, cell_id: &str) -> Option<Person>;
}

/// Why an update was refused; the text is what the sender is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ReadOnly,
    Blocked { holder: String },
    ForeignClient { client: u64, owner: String },
    ServerOnly { root: String },
    Schema(String),
    CellIdChange { cell: String },
    NoCellId,
    DuplicateCellId { cell: String },
    ForeignCell { cell: String, author: Option<String>, action: &'static str },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ReadOnly => write!(f, "read-only access: you may view this notebook but not change it"),
            Refusal::Blocked { holder } => {
                write!(f, "the notebook is blocked by {holder}; only they may change it")
            }
            Refusal::ForeignClient { client, owner } => {
                write!(f, "Yjs client id {client} belongs to {owner}; use your own client id")
            }
            Refusal::ServerOnly { root } => write!(f, "`{root}` is written only by the server"),
            Refusal::Schema(what) => write!(f, "not a notebook change: {what}"),
            Refusal::CellIdChange { cell } => write!(f, "cell {cell}: a cell's id cannot change"),
            Refusal::NoCellId => write!(f, "a new cell needs a string `id`"),
            Refusal::DuplicateCellId { cell } => write!(f, "cell id {cell} is already used by another cell"),
            Refusal::ForeignCell { cell, author: Some(author), action } => {
                write!(
                    f,
                    "cell {cell} belongs to {author}: in thread mode you may {action} only your own cells"
                )
            }
            Refusal::ForeignCell { cell, author: None, action } => {
                write!(f, "cell {cell} has no recorded author: only the project owner may {action} it")
            }
        }
    }
}

/// Decides whether `sender` may make the changes in `effects`. Call only for updates
/// whose effects are not empty.
pub fn check(
    effects: &Effects,
    structure: &Structure,
    sender: &Sender,
    rules: &Rules,
    lookup: &dyn Lookup,
) -> Result<(), Refusal> {
    let me = match (sender.can_edit, sender.user) {
        (true, Some(me)) => me,
        _ => return Err(Refusal::ReadOnly),
    };
    if let Some(holder) = &rules.blocked_by
        && holder.id != me
    {
        return Err(Refusal::Blocked { holder: holder.name.clone() });
    }
    for client in &effects.written_clients {
        match lookup.binding(*client) {
            Binding::Free => {}
            Binding::User(owner) if owner.id == me => {}
            Binding::User(owner) => {
                return Err(Refusal::ForeignClient { client: client.get(), owner: owner.name });
            }
            Binding::Server => {
                return Err(Refusal::ForeignClient { client: client.get(), owner: "the server".into() });
            }
        }
    }
    for root in &effects.roots {
        if &**root == key::PROVENANCE || &**root == key::TALKBOOK {
            return Err(Refusal::ServerOnly { root: root.to_string() });
        }
    }
    if let Some(error) = effects.schema_errors.first() {
        return Err(Refusal::Schema(error.clone()));
    }
    let name_of = |item: &yrs::ID| structure.cell_id(item).unwrap_or("without id").to_owned();
    if let Some(cell) = effects.renamed_cells.iter().next() {
        return Err(Refusal::CellIdChange { cell: name_of(cell) });
    }
    let thread = rules.mode == Mode::Thread;
    // May `me` change (or delete) the cell whose map is `item`?
    let allowed = |item: &yrs::ID, deleting: bool| -> Result<(), Refusal> {
        if !thread || (deleting && sender.is_owner) {
            return Ok(());
        }
        let cell = structure.cell_id(item);
        let author = cell.and_then(|id| lookup.author(id));
        match author {
            Some(author) if author.id == me => Ok(()),
            author => Err(Refusal::ForeignCell {
                cell: name_of(item),
                author: author.map(|a| a.name),
                action: if deleting { "delete" } else { "change" },
            }),
        }
    };
    for cell in &effects.deleted_cells {
        if effects.new_cells.iter().all(|c| c.item != *cell) {
            allowed(cell, true)?;
        }
    }
    for cell in &effects.changed_cells {
        allowed(cell, false)?;
    }
    for new in &effects.new_cells {
        if effects.deleted_cells.contains(&new.item) {
            continue;
        }
        let Some(id) = &new.cell_id else { return Err(Refusal::NoCellId) };
        // Moving a cell is deleting it and inserting it again with the same id, so an id in
        // use is fine when that cell goes away in the same update.
        let live_elsewhere = structure.cells_with_id(id).any(|item| !effects.deleted_cells.contains(&item));
        let repeated =
            effects.new_cells.iter().filter(|c| c.cell_id.as_deref() == Some(id.as_str())).count() > 1;
        if live_elsewhere || repeated {
            return Err(Refusal::DuplicateCellId { cell: id.clone() });
        }
        // A new cell under the id of someone else's cell (removed, or moved in this very
        // update) would carry their authorship with the sender's content; even the owner,
        // who may delete any cell, may not re-create one.
        if thread
            && let Some(author) = lookup.author(id)
            && author.id != me
        {
            return Err(Refusal::ForeignCell {
                cell: id.clone(),
                author: Some(author.name),
                action: "re-create",
            });
        }
    }
    Ok(())
}
