//! Where every item of a document lives: an index from clock ranges to the cell (or root)
//! they belong to, and what an update would change, worked out before it is applied.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use yrs::ID;
use yrs::block::ClientID;

use super::ranges::RangeSet;
use super::scan::{
    BlockKind, ContentSummary, ExplicitParent, ScannedBlock, ScannedItem, ScannedUpdate, TypeKind,
};
use crate::schema as key;

/// The type an item sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// A root type, by name.
    Root(Arc<str>),
    /// The type held by the item with this id.
    Type(ID),
    /// Garbage collected, or attached to garbage-collected content: the item holds nothing
    /// and changes nothing.
    Gone,
}

/// What part of the notebook an item belongs to, for deciding who may change it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The cell whose map is the item with this id, or anything nested inside it.
    Cell(ID),
    /// A root other than `cells`, or anything nested inside it.
    Root(Arc<str>),
    Nothing,
}

/// A run of consecutive clocks of one client with the same place in the document.
#[derive(Debug, Clone)]
struct Run {
    end: u32,
    parent: Parent,
    owner: Owner,
    key: Option<Arc<str>>,
    is_type: bool,
}

impl Run {
    fn is_cell(&self) -> bool {
        matches!(&self.parent, Parent::Root(name) if &**name == key::CELLS)
    }
}

/// One client's runs by the clock they start at. A sorted vector, not a `BTreeMap`: a
/// client's clocks only grow, so new runs go at the end, lookups are binary searches, and
/// the few runs of a small notebook take a few hundred bytes instead of a B-tree node
/// (about 850) per client, in every open room.
#[derive(Debug, Default)]
struct ClientRuns(Vec<(u32, Run)>);

impl ClientRuns {
    fn last(&self) -> Option<&Run> {
        self.0.last().map(|(_, run)| run)
    }

    /// The last run starting at or before `clock`, with its start.
    fn at_or_before(&self, clock: u32) -> Option<(u32, &Run)> {
        let after = self.0.partition_point(|(start, _)| *start <= clock);
        after.checked_sub(1).map(|i| (self.0[i].0, &self.0[i].1))
    }

    /// The last run starting before `clock`.
    fn before_mut(&mut self, clock: u32) -> Option<&mut Run> {
        let after = self.0.partition_point(|(start, _)| *start < clock);
        after.checked_sub(1).map(|i| &mut self.0[i].1)
    }

    /// Adds the run starting at `start`, replacing one that starts there.
    fn insert(&mut self, start: u32, run: Run) {
        match self.0.binary_search_by_key(&start, |(s, _)| *s) {
            Ok(i) => self.0[i].1 = run,
            Err(i) => self.0.insert(i, (start, run)),
        }
    }
}

/// An update that cannot be integrated as it stands: the server would have to hold it
/// back (yrs keeps such updates pending) or it is self-contradictory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error("it skips clocks {have}..{starts} of client {client} that the server does not have")]
    Gap { client: u64, have: u32, starts: u32 },
    #[error("it refers to item {client}:{clock}, which the server does not have")]
    UnknownItem { client: u64, clock: u32 },
    #[error("it deletes {client}:{start}..{end}, which the server does not have")]
    UnknownDelete { client: u64, start: u32, end: u32 },
    #[error("it nests content in item {client}:{clock}, which is not a shared type")]
    NotAType { client: u64, clock: u32 },
    #[error("its items refer to each other in a cycle")]
    Cycle,
}

/// A cell an update creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCell {
    /// The id of the item holding the cell's map.
    pub item: ID,
    /// The cell's `id` as the update writes it.
    pub cell_id: Option<String>,
}

/// What an update would change, by part of the notebook.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    /// Clients with new items in the update.
    pub written_clients: BTreeSet<ClientID>,
    pub new_cells: Vec<NewCell>,
    /// Existing cells whose content would change (inserted or deleted items).
    pub changed_cells: BTreeSet<ID>,
    /// Cells that would be removed.
    pub deleted_cells: BTreeSet<ID>,
    /// Existing cells whose `id` would be rewritten.
    pub renamed_cells: BTreeSet<ID>,
    /// Roots other than `cells` that would change.
    pub roots: BTreeSet<Arc<str>>,
    /// Content the notebook's schema has no place for.
    pub schema_errors: Vec<String>,
}

impl Effects {
    /// True when applying the update would change nothing (everything in it is already
    /// known, deleted or garbage).
    pub fn is_empty(&self) -> bool {
        self.written_clients.is_empty()
            && self.changed_cells.is_empty()
            && self.deleted_cells.is_empty()
            && self.roots.is_empty()
            && self.new_cells.is_empty()
    }
}

/// A new clock range an update brings, placed in the document.
#[derive(Debug, Clone)]
struct Part {
    client: ClientID,
    start: u32,
    end: u32,
    block: usize,
}

/// The analysis of one update against a [`Structure`]: its effects, and what to record
/// once it has been applied.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub effects: Effects,
    /// New clock ranges per client, contiguous from what the server had.
    new_ranges: Vec<(ClientID, Range<u32>)>,
    runs: Vec<(ClientID, u32, Run)>,
    /// Clock ranges that become deleted.
    deleted: Vec<(ClientID, Range<u32>)>,
    cell_ids: Vec<(ID, Arc<str>)>,
}

impl Analysis {
    /// The clock ranges this update would add, per client.
    pub fn new_ranges(&self) -> &[(ClientID, Range<u32>)] {
        &self.new_ranges
    }
}

/// The placement index of one document: for every clock range the server has integrated,
/// which cell or root it belongs to; which ranges are deleted; each cell's `id`.
///
/// It is kept beside the yrs document and fed every update the document integrates, so
/// an incoming update can be judged before it touches the document.
#[derive(Debug, Default)]
pub struct Structure {
    runs: HashMap<ClientID, ClientRuns>,
    deleted: RangeSet,
    /// Cell map item → the cell's `id`.
    cell_ids: HashMap<ID, Arc<str>>,
}

enum Located<'a> {
    /// A run the index has, with the clock it starts at.
    Known(u32, &'a Run),
    New(usize),
    Unknown,
}

/// What a part resolved to.
#[derive(Debug, Clone)]
struct Placed {
    parent: Parent,
    owner: Owner,
    key: Option<Arc<str>>,
    is_type: bool,
}

impl Structure {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next clock the server expects from `client`.
    pub fn clock(&self, client: ClientID) -> u32 {
        self.runs.get(&client).and_then(ClientRuns::last).map_or(0, |run| run.end)
    }

    /// The `id` of the cell whose map is the item `item`.
    pub fn cell_id(&self, item: &ID) -> Option<&str> {
        self.cell_ids.get(item).map(|s| &**s)
    }

    /// Whether the item with this id is deleted.
    pub fn is_deleted(&self, id: &ID) -> bool {
        self.deleted.contains(id.client, id.clock)
    }

    /// Live cells (map item → id) with this `id`.
    pub fn cells_with_id<'a>(&'a self, cell_id: &'a str) -> impl Iterator<Item = ID> + 'a {
        self.cell_ids
            .iter()
            .filter(move |(item, id)| &***id == cell_id && !self.is_deleted(item))
            .map(|(i, _)| *i)
    }

    /// Whether the server's document holds the item at `id` (in `run`) as garbage: yrs
    /// garbage-collects everything inside a deleted type, so content under a deleted
    /// ancestor is no longer an item anyone can attach to.
    fn is_garbage(&self, id: &ID, run: &Run) -> bool {
        if let Owner::Cell(cell) = &run.owner
            && cell != id
            && self.is_deleted(cell)
        {
            return true;
        }
        let mut parent = run.parent.clone();
        for _ in 0..64 {
            match parent {
                Parent::Gone => return true,
                Parent::Root(_) => return false,
                Parent::Type(holder) => {
                    if self.is_deleted(&holder) {
                        return true;
                    }
                    match self.run_at(&holder) {
                        Some((_, run)) => parent = run.parent.clone(),
                        None => return true,
                    }
                }
            }
        }
        false
    }

    /// The run holding `id`, with the clock it starts at.
    fn run_at(&self, id: &ID) -> Option<(u32, &Run)> {
        self.runs
            .get(&id.client)
            .and_then(|runs| runs.at_or_before(id.clock))
            .filter(|(_, run)| id.clock < run.end)
    }

    fn locate(&self, id: &ID, parts: &[Part], by_client: &HashMap<ClientID, Vec<usize>>) -> Located<'_> {
        if let Some((start, run)) = self.run_at(id) {
            return Located::Known(start, run);
        }
        if let Some(list) = by_client.get(&id.client) {
            let at = list.partition_point(|&p| parts[p].end <= id.clock);
            if let Some(&p) = list.get(at)
                && parts[p].start <= id.clock
            {
                return Located::New(p);
            }
        }
        Located::Unknown
    }

    /// Works out what `update` would change without applying it.
    pub fn analyze(&self, update: &ScannedUpdate) -> Result<Analysis, Unresolved> {
        let parts = self.new_parts(&update.blocks)?;
        let mut by_client: HashMap<ClientID, Vec<usize>> = HashMap::new();
        for (i, part) in parts.iter().enumerate() {
            by_client.entry(part.client).or_default().push(i);
        }
        let placed = self.place_all(&update.blocks, &parts, &by_client)?;

        let mut effects = Effects::default();
        let mut runs = Vec::with_capacity(parts.len());
        let mut deleted = Vec::new();
        let mut cell_ids = Vec::new();
        let mut new_cells: BTreeMap<ID, Option<String>> = BTreeMap::new();
        let mut new_ranges: Vec<(ClientID, Range<u32>)> = Vec::new();
        let created: std::collections::HashSet<ID> = parts
            .iter()
            .zip(&placed)
            .filter(|(part, place)| place.owner == Owner::Cell(ID::new(part.client, part.start)))
            .map(|(part, _)| ID::new(part.client, part.start))
            .collect();

        // New items.
        for (part, place) in parts.iter().zip(&placed) {
            let block = &update.blocks[part.block];
            let id = ID::new(part.client, part.start);
            match new_ranges.last_mut() {
                Some((c, r)) if *c == part.client && r.end == part.start => r.end = part.end,
                _ => new_ranges.push((part.client, part.start..part.end)),
            }
            effects.written_clients.insert(part.client);
            let item = match &block.kind {
                BlockKind::Item(item) => Some(item),
                _ => None,
            };
            let gone = place.parent == Parent::Gone
                || item.is_some_and(|i| i.content == ContentSummary::Deleted)
                || matches!(&place.parent, Parent::Type(p) if self.is_deleted(p));
            if gone {
                deleted.push((part.client, part.start..part.end));
            }
            runs.push((
                part.client,
                part.start,
                Run {
                    end: part.end,
                    parent: place.parent.clone(),
                    owner: place.owner.clone(),
                    key: place.key.clone(),
                    is_type: place.is_type,
                },
            ));
            let Some(item) = item else { continue };
            if let Some(error) = schema_error(&place.parent, item, part) {
                effects.schema_errors.push(error);
            }
            match &place.owner {
                Owner::Cell(cell) if *cell == id && place.parent != Parent::Gone => {
                    new_cells.entry(*cell).or_default();
                }
                Owner::Cell(cell) => {
                    let writes_id =
                        place.parent == Parent::Type(*cell) && place.key.as_deref() == Some(key::ID);
                    if writes_id && let ContentSummary::String(s) = &item.content {
                        cell_ids.push((*cell, Arc::from(s.as_str())));
                        if let Some(slot) = new_cells.get_mut(cell) {
                            *slot = Some(s.clone());
                        }
                    }
                    if !created.contains(cell) && !gone && !self.is_deleted(cell) {
                        effects.changed_cells.insert(*cell);
                        if writes_id {
                            effects.renamed_cells.insert(*cell);
                        }
                    }
                }
                Owner::Root(name) if !gone => {
                    effects.roots.insert(name.clone());
                }
                _ => {}
            }
        }
        for block in &update.blocks {
            if let BlockKind::Gc = block.kind {
                deleted.push((block.id.client, block.id.clock..block.end()));
            }
        }

        // Deletions: only what is not deleted already changes anything.
        let mut content_deletes = Vec::new();
        for (client, range) in &update.deletes {
            for missing in self.deleted.missing(*client, range.clone()) {
                let touched = self.runs_in(*client, missing.clone(), &parts, &by_client, &placed)?;
                deleted.push((*client, missing));
                for (start, run_is_cell, owner) in touched {
                    match owner {
                        Owner::Cell(cell) if run_is_cell && cell == ID::new(*client, start) => {
                            effects.deleted_cells.insert(cell);
                        }
                        Owner::Cell(cell) => content_deletes.push(cell),
                        Owner::Root(name) => {
                            effects.roots.insert(name);
                        }
                        Owner::Nothing => {}
                    }
                }
            }
        }
        for cell in content_deletes {
            let inert = self.is_deleted(&cell) || effects.deleted_cells.contains(&cell);
            if !inert && !created.contains(&cell) {
                effects.changed_cells.insert(cell);
            }
        }
        effects.new_cells = new_cells.into_iter().map(|(item, cell_id)| NewCell { item, cell_id }).collect();
        Ok(Analysis { effects, new_ranges, runs, deleted, cell_ids })
    }

    /// Records an analysed update after the document integrated it.
    pub fn commit(&mut self, analysis: Analysis) {
        for (client, start, run) in analysis.runs {
            let runs = self.runs.entry(client).or_default();
            if let Some(last) = runs.before_mut(start)
                && last.end == start
                && !last.is_type
                && !run.is_type
                && last.parent == run.parent
                && last.owner == run.owner
                && last.key == run.key
            {
                last.end = run.end;
                continue;
            }
            runs.insert(start, run);
        }
        for (client, range) in analysis.deleted {
            self.deleted.insert(client, range);
        }
        for (cell, id) in analysis.cell_ids {
            self.cell_ids.insert(cell, id);
        }
    }

    /// Analyses and records an update the server trusts (its own edits, the stored
    /// history). What cannot be placed is skipped and reported.
    pub fn record_trusted(&mut self, update: &ScannedUpdate) -> Result<(), Unresolved> {
        let analysis = self.analyze(update)?;
        self.commit(analysis);
        Ok(())
    }

    /// The new clock ranges of an update: for each client, blocks must continue from what
    /// the server has (or repeat it); anything already known changes nothing.
    fn new_parts(&self, blocks: &[ScannedBlock]) -> Result<Vec<Part>, Unresolved> {
        let mut next: HashMap<ClientID, u32> = HashMap::new();
        let mut parts = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let client = block.id.client;
            let cur = next.entry(client).or_insert_with(|| self.clock(client));
            if matches!(block.kind, BlockKind::Skip) || block.end() <= *cur {
                continue;
            }
            if block.id.clock > *cur {
                return Err(Unresolved::Gap { client: client.get(), have: *cur, starts: block.id.clock });
            }
            parts.push(Part { client, start: *cur, end: block.end(), block: i });
            *cur = block.end();
        }
        Ok(parts)
    }

    /// Places every new part, following origins and parents through the index and through
    /// the update itself (iteratively: origin chains can be long).
    fn place_all(
        &self,
        blocks: &[ScannedBlock],
        parts: &[Part],
        by_client: &HashMap<ClientID, Vec<usize>>,
    ) -> Result<Vec<Placed>, Unresolved> {
        #[derive(Clone)]
        enum State {
            Todo,
            Busy,
            Done(Placed),
        }
        let mut state = vec![State::Todo; parts.len()];
        for first in 0..parts.len() {
            let mut stack = vec![first];
            while let Some(&p) = stack.last() {
                if let State::Done(_) = state[p] {
                    stack.pop();
                    continue;
                }
                let placed = |q: usize| match &state[q] {
                    State::Done(placed) => Some(placed.clone()),
                    _ => None,
                };
                match self.place(&blocks[parts[p].block], &parts[p], parts, by_client, &placed)? {
                    Step::Placed(done) => {
                        state[p] = State::Done(done);
                        stack.pop();
                    }
                    Step::Needs(q) => {
                        if let State::Busy = state[q] {
                            return Err(Unresolved::Cycle);
                        }
                        state[p] = State::Busy;
                        stack.push(q);
                    }
                }
            }
        }
        Ok(state
            .into_iter()
            .map(|s| match s {
                State::Done(placed) => placed,
                _ => Placed { parent: Parent::Gone, owner: Owner::Nothing, key: None, is_type: false },
            })
            .collect())
    }

    fn place(
        &self,
        block: &ScannedBlock,
        part: &Part,
        parts: &[Part],
        by_client: &HashMap<ClientID, Vec<usize>>,
        placed: &dyn Fn(usize) -> Option<Placed>,
    ) -> Result<Step, Unresolved> {
        let item = match &block.kind {
            BlockKind::Item(item) => item,
            _ => return Ok(Step::Placed(Placed::gone())),
        };
        let is_type = matches!(item.content, ContentSummary::Type(_));
        let own_id = ID::new(part.client, part.start);
        // What the item's place is taken from: its explicit parent, else its neighbours.
        let (parent, key, inherited) = match &item.parent {
            Some(ExplicitParent::Root(name)) => (Parent::Root(name.clone()), item.key.clone(), None),
            Some(ExplicitParent::Type(pid)) => {
                let holder = match self.resolve(pid, parts, by_client, placed)? {
                    Resolved::Needs(q) => return Ok(Step::Needs(q)),
                    Resolved::At(holder) => holder,
                };
                // A deleted type holds nothing: yrs drops what is put into it.
                if holder.parent == Parent::Gone || self.is_deleted(pid) {
                    return Ok(Step::Placed(Placed::gone()));
                }
                if !holder.is_type {
                    return Err(Unresolved::NotAType { client: pid.client.get(), clock: pid.clock });
                }
                (Parent::Type(*pid), item.key.clone(), Some(holder.owner))
            }
            None => {
                // As yrs does: the parent is the left neighbour's if that is an item with a
                // known parent, else the right neighbour's; with neither the item becomes
                // garbage. Garbage (garbage-collected content) is not an item.
                let mut chosen = None;
                for side in [item.origin, item.right_origin].into_iter().flatten() {
                    match self.resolve(&side, parts, by_client, placed)? {
                        Resolved::Needs(q) => return Ok(Step::Needs(q)),
                        Resolved::At(at) if at.parent != Parent::Gone && chosen.is_none() => {
                            chosen = Some(at)
                        }
                        Resolved::At(_) => {}
                    }
                }
                let Some(side) = chosen else { return Ok(Step::Placed(Placed::gone())) };
                (side.parent, side.key, Some(side.owner))
            }
        };
        let owner = match (&parent, inherited) {
            (Parent::Root(name), _) if &**name == key::CELLS => Owner::Cell(own_id),
            (Parent::Root(name), _) => Owner::Root(name.clone()),
            (Parent::Type(_), Some(owner)) => owner,
            _ => Owner::Nothing,
        };
        Ok(Step::Placed(Placed { parent, owner, key, is_type }))
    }

    /// Where the item with `id` is: known to the index, placed already in this update, or
    /// still to be placed (`Needs`).
    fn resolve(
        &self,
        id: &ID,
        parts: &[Part],
        by_client: &HashMap<ClientID, Vec<usize>>,
        placed: &dyn Fn(usize) -> Option<Placed>,
    ) -> Result<Resolved, Unresolved> {
        match self.locate(id, parts, by_client) {
            Located::Known(_, run) if self.is_garbage(id, run) => Ok(Resolved::At(Placed::gone())),
            Located::Known(_, run) => Ok(Resolved::At(Placed {
                parent: run.parent.clone(),
                // Children of a cell map belong to that cell; the map item's own owner is
                // the cell too, so the rule is the same for every holder.
                owner: run.owner.clone(),
                key: run.key.clone(),
                is_type: run.is_type,
            })),
            Located::New(q) => Ok(match placed(q) {
                Some(at) => Resolved::At(at),
                None => Resolved::Needs(q),
            }),
            Located::Unknown => Err(Unresolved::UnknownItem { client: id.client.get(), clock: id.clock }),
        }
    }

    /// For a deleted range: each run it covers as (run start, whether the run is a cell
    /// map, owner). Every clock must be known.
    fn runs_in(
        &self,
        client: ClientID,
        range: Range<u32>,
        parts: &[Part],
        by_client: &HashMap<ClientID, Vec<usize>>,
        placed: &[Placed],
    ) -> Result<Vec<(u32, bool, Owner)>, Unresolved> {
        let mut out = Vec::new();
        let mut at = range.start;
        while at < range.end {
            match self.locate(&ID::new(client, at), parts, by_client) {
                Located::Known(start, run) => {
                    let owner = if self.is_garbage(&ID::new(client, at), run) {
                        Owner::Nothing
                    } else {
                        run.owner.clone()
                    };
                    out.push((start, run.is_cell(), owner));
                    at = run.end;
                }
                Located::New(p) => {
                    let place = &placed[p];
                    let is_cell = matches!(&place.parent, Parent::Root(n) if &**n == key::CELLS);
                    out.push((parts[p].start, is_cell, place.owner.clone()));
                    at = parts[p].end;
                }
                Located::Unknown => {
                    return Err(Unresolved::UnknownDelete {
                        client: client.get(),
                        start: at,
                        end: range.end,
                    });
                }
            }
        }
        Ok(out)
    }
}

enum Step {
    Placed(Placed),
    Needs(usize),
}

enum Resolved {
    At(Placed),
    Needs(usize),
}

impl Placed {
    fn gone() -> Self {
        Placed { parent: Parent::Gone, owner: Owner::Nothing, key: None, is_type: false }
    }
}

/// What the notebook's layout does not allow: anything but maps in `cells`, sub-documents.
fn schema_error(parent: &Parent, item: &ScannedItem, part: &Part) -> Option<String> {
    if item.content == ContentSummary::SubDocument {
        return Some("sub-documents are not part of a notebook".into());
    }
    let in_cells = matches!(parent, Parent::Root(name) if &**name == key::CELLS);
    if in_cells && (item.content != ContentSummary::Type(TypeKind::Map) || part.end - part.start != 1) {
        return Some("`cells` holds only cell maps".into());
    }
    None
}

#[cfg(test)]
mod client_runs_tests {
    use super::*;

    fn run(end: u32) -> Run {
        Run { end, parent: Parent::Gone, owner: Owner::Nothing, key: None, is_type: false }
    }

    #[test]
    fn lookups_find_the_run_a_clock_falls_in() {
        let mut runs = ClientRuns::default();
        runs.insert(0, run(5));
        runs.insert(10, run(12));
        runs.insert(5, run(10));
        let starts: Vec<u32> = runs.0.iter().map(|(start, _)| *start).collect();
        assert_eq!(starts, [0, 5, 10], "kept in clock order");
        assert_eq!(runs.at_or_before(0).map(|(start, r)| (start, r.end)), Some((0, 5)));
        assert_eq!(runs.at_or_before(7).map(|(start, r)| (start, r.end)), Some((5, 10)));
        assert_eq!(runs.at_or_before(99).map(|(start, _)| start), Some(10));
        assert_eq!(runs.last().map(|r| r.end), Some(12));
        // `before_mut` is strictly before: the run that starts at the clock is not it.
        assert_eq!(runs.before_mut(10).map(|r| r.end), Some(10));
        assert!(runs.before_mut(0).is_none());
        runs.insert(5, run(8));
        assert_eq!(runs.0.len(), 3, "a run starting at the same clock replaces the old one");
        assert_eq!(runs.at_or_before(6).map(|(_, r)| r.end), Some(8));
    }
}
