//! Storage tests: project files and folders, and file blocks (SPEC §2, §9).

use sync_server::store::{
    BlockReason, DynStore, FileBlock, FileContent, FileEntry, FileKind, FilePath, FileTreeError, Project,
    StoreError, User, hex,
};

use super::fixtures::*;

fn path(raw: &str) -> FilePath {
    FilePath::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

fn bytes(text: &str) -> FileContent {
    FileContent::new(text.as_bytes().to_vec())
}

/// A user and their project, with no files yet.
async fn one_project(store: &DynStore) -> (User, Project) {
    let alice = user(store, "alice").await;
    let project = project(store, &alice, "analysis").await;
    (alice, project)
}

async fn write(store: &DynStore, project: &Project, raw: &str, text: &str, by: &User) -> FileEntry {
    store.write_file(project.id, &path(raw), &bytes(text), by.id, at(0)).await.expect("write").entry
}

/// Every path of the project, in tree order, with `/` after folders.
async fn tree(store: &DynStore, project: &Project) -> Vec<String> {
    let entries = store.list_files(project.id, None, true).await.expect("list");
    entries
        .into_iter()
        .map(|e| match e.kind {
            FileKind::Folder => format!("{}/", e.path),
            FileKind::File => e.path.to_string(),
        })
        .collect()
}

async fn text_of(store: &DynStore, project: &Project, raw: &str) -> Option<String> {
    let found = store.file_content(project.id, &path(raw)).await.expect("read");
    found.map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
}

fn assert_blocked<T: std::fmt::Debug>(result: Result<T, StoreError>, file: &str, held: &FileBlock) {
    match result {
        Err(StoreError::FileBlocked { path, block }) => {
            assert_eq!((path.as_str(), &block), (file, held));
        }
        other => panic!("expected FileBlocked on {file}, got {other:?}"),
    }
}

fn assert_tree_error<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: FileTreeError) {
    match result {
        Err(StoreError::FileTree(e)) => assert_eq!(e, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

pub async fn files_are_written_read_and_replaced_with_their_hash(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let bob = user(&store, "bob").await;
    let content: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let first = FileContent::new(content.clone());
    let made =
        store.write_file(project.id, &path("data.bin"), &first, alice.id, at(1_000)).await.expect("write");
    assert!(made.created);
    let entry = made.entry;
    assert_eq!(
        (entry.path.as_str(), entry.kind, entry.size, entry.sha256, entry.updated_by, entry.block.clone()),
        ("data.bin", FileKind::File, 70_000, Some(first.sha256()), alice.id, None)
    );
    assert_eq!((entry.created_at, entry.updated_at), (at(1_000), at(1_000)));
    let (read, stored) =
        store.file_content(project.id, &path("data.bin")).await.expect("read").expect("found");
    assert_eq!((read, stored), (entry.clone(), content));

    let replaced = store
        .write_file(project.id, &path("data.bin"), &bytes("short"), bob.id, at(2_000))
        .await
        .expect("replace");
    assert!(!replaced.created);
    let after = replaced.entry;
    assert_eq!((after.id, after.created_at), (entry.id, at(1_000)), "the same entry");
    assert_eq!((after.size, after.updated_at, after.updated_by), (5, at(2_000), bob.id));
    assert_eq!(
        after.sha256.map(|s| hex(&s)).as_deref(),
        Some("f9b0078b5df596d2ea19010c001bbd009e651de2c57e8fb7e355f31eb9d3f739"),
        "sha256(\"short\")"
    );
    assert_eq!(text_of(&store, &project, "data.bin").await.as_deref(), Some("short"));
    assert_eq!(store.file_entry(project.id, &path("data.bin")).await.expect("entry"), Some(after));

    // Empty files are files.
    let empty = write(&store, &project, "empty.txt", "", &alice).await;
    assert_eq!((empty.size, empty.kind), (0, FileKind::File));
    assert_eq!(text_of(&store, &project, "empty.txt").await.as_deref(), Some(""));
    assert_eq!(store.file_entry(project.id, &path("missing")).await.expect("entry"), None);
    assert_eq!(store.file_content(project.id, &path("missing")).await.expect("read"), None);
}

pub async fn writing_creates_the_folders_above_and_lists_them(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    write(&store, &project, "data/2024/raw.csv", "a,b", &alice).await;
    assert_eq!(tree(&store, &project).await, ["data/", "data/2024/", "data/2024/raw.csv"]);
    let folder = store.file_entry(project.id, &path("data/2024")).await.expect("entry").expect("folder");
    assert_eq!(
        (folder.kind, folder.size, folder.sha256, folder.updated_by, folder.updated_at),
        (FileKind::Folder, 0, None, alice.id, at(0))
    );
    assert_tree_error(
        store.file_content(project.id, &path("data")).await,
        FileTreeError::IsAFolder(path("data")),
    );

    // A file cannot hold entries, and a folder cannot be written as a file.
    assert_tree_error(
        store.write_file(project.id, &path("data/2024/raw.csv/x"), &bytes("x"), alice.id, at(0)).await,
        FileTreeError::NotAFolder(path("data/2024/raw.csv")),
    );
    assert_tree_error(
        store.write_file(project.id, &path("data/2024"), &bytes("x"), alice.id, at(0)).await,
        FileTreeError::IsAFolder(path("data/2024")),
    );
    assert_tree_error(
        store.create_folder(project.id, &path("data/2024/raw.csv/sub"), alice.id, at(0)).await,
        FileTreeError::NotAFolder(path("data/2024/raw.csv")),
    );
    assert_eq!(tree(&store, &project).await, ["data/", "data/2024/", "data/2024/raw.csv"], "nothing changed");

    let made = store.create_folder(project.id, &path("empty/deep"), alice.id, at(5)).await.expect("folder");
    assert_eq!((made.kind, made.path.as_str()), (FileKind::Folder, "empty/deep"));
    assert_conflict(
        store.create_folder(project.id, &path("empty/deep"), alice.id, at(5)).await,
        "empty/deep",
    );
    assert_conflict(
        store.create_folder(project.id, &path("data/2024/raw.csv"), alice.id, at(5)).await,
        "raw.csv",
    );
    assert_eq!(
        tree(&store, &project).await,
        ["data/", "data/2024/", "data/2024/raw.csv", "empty/", "empty/deep/"]
    );
    // An unknown project has nothing and takes nothing.
    let ghost = sync_server::store::ProjectId(project.id.0 + 1000);
    assert_eq!(store.list_files(ghost, None, true).await.expect("list"), vec![]);
    assert_not_found(store.write_file(ghost, &path("a/b"), &bytes("x"), alice.id, at(0)).await);
}

pub async fn listing_is_direct_or_recursive_in_tree_order(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    for name in ["b.txt", "a b.txt", "a/z.txt", "a/b/c.txt", "a.txt", "ab/x", "a/a.txt"] {
        write(&store, &project, name, name, &alice).await;
    }
    let names = |entries: Vec<FileEntry>| entries.into_iter().map(|e| e.path.to_string()).collect::<Vec<_>>();
    let top = store.list_files(project.id, None, false).await.expect("top");
    assert_eq!(names(top), ["a", "a b.txt", "a.txt", "ab", "b.txt"]);
    let all = store.list_files(project.id, None, true).await.expect("all");
    assert_eq!(
        names(all),
        ["a", "a/a.txt", "a/b", "a/b/c.txt", "a/z.txt", "a b.txt", "a.txt", "ab", "ab/x", "b.txt"]
    );
    let a = store.list_files(project.id, Some(&path("a")), false).await.expect("a");
    assert_eq!(names(a), ["a/a.txt", "a/b", "a/z.txt"], "not `a b.txt`, `ab` or `a.txt`");
    let a_all = store.list_files(project.id, Some(&path("a/")), true).await.expect("a recursive");
    assert_eq!(names(a_all), ["a/a.txt", "a/b", "a/b/c.txt", "a/z.txt"]);
    let file = store.list_files(project.id, Some(&path("a/z.txt")), false).await.expect("a file");
    assert_eq!(names(file), ["a/z.txt"], "a file lists itself");
    assert_not_found(store.list_files(project.id, Some(&path("nope")), false).await);
}

pub async fn a_folder_moves_with_its_contents_in_one_step(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let bob = user(&store, "bob").await;
    let raw = write(&store, &project, "data/raw.csv", "1,2", &alice).await;
    write(&store, &project, "data/sub/deep.txt", "deep", &alice).await;
    write(&store, &project, "data.txt", "beside", &alice).await;
    write(&store, &project, "database/x", "prefix, not inside", &alice).await;

    let moved =
        store.move_file(project.id, &path("data"), &path("archive/2024"), bob.id, at(9)).await.expect("move");
    assert_eq!((moved.path.as_str(), moved.kind), ("archive/2024", FileKind::Folder));
    assert_eq!(
        tree(&store, &project).await,
        [
            "archive/",
            "archive/2024/",
            "archive/2024/raw.csv",
            "archive/2024/sub/",
            "archive/2024/sub/deep.txt",
            "data.txt",
            "database/",
            "database/x"
        ]
    );
    // Moving keeps the entry: its id, bytes and last change.
    let after =
        store.file_entry(project.id, &path("archive/2024/raw.csv")).await.expect("entry").expect("moved");
    assert_eq!(
        (after.id, after.sha256, after.updated_by, after.updated_at),
        (raw.id, raw.sha256, alice.id, at(0))
    );
    assert_eq!(text_of(&store, &project, "archive/2024/sub/deep.txt").await.as_deref(), Some("deep"));
    // The folder made on the way is the mover's.
    let made = store.file_entry(project.id, &path("archive")).await.expect("entry").expect("made");
    assert_eq!((made.updated_by, made.updated_at), (bob.id, at(9)));

    // A file is renamed the same way.
    store.move_file(project.id, &path("data.txt"), &path("notes.txt"), bob.id, at(10)).await.expect("rename");
    assert_eq!(text_of(&store, &project, "notes.txt").await.as_deref(), Some("beside"));
    assert_eq!(text_of(&store, &project, "data.txt").await, None);
}

pub async fn copies_are_new_entries_by_the_copier(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let bob = user(&store, "bob").await;
    let original = write(&store, &project, "src/a.py", "print(1)", &alice).await;
    store.create_folder(project.id, &path("src/empty"), alice.id, at(0)).await.expect("folder");

    let copy =
        store.copy_file(project.id, &path("src"), &path("backup/src"), bob.id, at(50)).await.expect("copy");
    assert_eq!((copy.path.as_str(), copy.kind, copy.updated_by), ("backup/src", FileKind::Folder, bob.id));
    assert_eq!(
        tree(&store, &project).await,
        ["backup/", "backup/src/", "backup/src/a.py", "backup/src/empty/", "src/", "src/a.py", "src/empty/"]
    );
    let copied =
        store.file_entry(project.id, &path("backup/src/a.py")).await.expect("entry").expect("copied");
    assert_ne!(copied.id, original.id);
    assert_eq!(
        (copied.sha256, copied.size, copied.updated_by, copied.updated_at, copied.created_at),
        (original.sha256, original.size, bob.id, at(50), at(50))
    );
    assert_eq!(text_of(&store, &project, "backup/src/a.py").await.as_deref(), Some("print(1)"));

    // The copy and the original are independent.
    write(&store, &project, "backup/src/a.py", "print(2)", &bob).await;
    assert_eq!(text_of(&store, &project, "src/a.py").await.as_deref(), Some("print(1)"));
    let single =
        store.copy_file(project.id, &path("src/a.py"), &path("b.py"), bob.id, at(60)).await.expect("copy");
    assert_eq!((single.kind, single.size), (FileKind::File, 8));
}

pub async fn deleting_a_folder_deletes_everything_in_it(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    write(&store, &project, "out/a.csv", "a", &alice).await;
    write(&store, &project, "out/plots/b.png", "b", &alice).await;
    write(&store, &project, "out.txt", "kept", &alice).await;
    write(&store, &project, "outer/c", "kept", &alice).await;
    assert_eq!(store.delete_file(project.id, &path("out"), alice.id).await.expect("delete"), 4);
    assert_eq!(tree(&store, &project).await, ["out.txt", "outer/", "outer/c"]);
    assert_eq!(store.delete_file(project.id, &path("out.txt"), alice.id).await.expect("delete"), 1);
    assert_not_found(store.delete_file(project.id, &path("out.txt"), alice.id).await);
    assert_not_found(store.delete_file(project.id, &path("out"), alice.id).await);
    assert_eq!(tree(&store, &project).await, ["outer/", "outer/c"]);
}

pub async fn moves_and_copies_refuse_what_the_tree_cannot_take(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    write(&store, &project, "a/x.txt", "x", &alice).await;
    write(&store, &project, "b.txt", "b", &alice).await;
    let before = tree(&store, &project).await;
    for (from, to) in [("a", "a/inner"), ("a", "a/x.txt/deeper")] {
        let into = FileTreeError::IntoItself { from: path(from), to: path(to) };
        assert_tree_error(
            store.move_file(project.id, &path(from), &path(to), alice.id, at(0)).await,
            into.clone(),
        );
        assert_tree_error(store.copy_file(project.id, &path(from), &path(to), alice.id, at(0)).await, into);
    }
    assert_conflict(
        store.move_file(project.id, &path("b.txt"), &path("a/x.txt"), alice.id, at(0)).await,
        "a/x.txt",
    );
    assert_conflict(store.move_file(project.id, &path("a"), &path("b.txt"), alice.id, at(0)).await, "b.txt");
    assert_conflict(store.copy_file(project.id, &path("b.txt"), &path("a"), alice.id, at(0)).await, "`a`");
    assert_conflict(
        store.move_file(project.id, &path("b.txt"), &path("b.txt"), alice.id, at(0)).await,
        "b.txt",
    );
    assert_tree_error(
        store.move_file(project.id, &path("a"), &path("b.txt/a"), alice.id, at(0)).await,
        FileTreeError::NotAFolder(path("b.txt")),
    );
    assert_not_found(store.move_file(project.id, &path("nope"), &path("c"), alice.id, at(0)).await);
    assert_not_found(store.copy_file(project.id, &path("nope"), &path("c"), alice.id, at(0)).await);
    assert_eq!(tree(&store, &project).await, before, "nothing changed");
}

pub async fn a_file_block_is_held_by_one_user_and_keeps_its_time(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let bob = user(&store, "bob").await;
    write(&store, &project, "f.py", "x = 1", &alice).await;
    let f = path("f.py");
    let held = FileBlock { holder: alice.id, since: at(1_000), reason: BlockReason::Manual };
    let blocked =
        store.block_file(project.id, &f, alice.id, BlockReason::Manual, at(1_000)).await.expect("block");
    assert_eq!(blocked.block, Some(held.clone()));
    let again =
        store.block_file(project.id, &f, alice.id, BlockReason::Manual, at(5_000)).await.expect("again");
    assert_eq!(again.block, Some(held.clone()), "the original time stays");
    let refused =
        store.block_file(project.id, &f, bob.id, BlockReason::Manual, at(6_000)).await.expect("bob");
    assert_eq!(refused.block, Some(held.clone()), "bob sees alice's block");
    // Listings show it.
    let listed = store.list_files(project.id, None, false).await.expect("list");
    assert_eq!(listed[0].block, Some(held.clone()));

    // Only the holder's block of that reason is lifted.
    let still = store.unblock_file(project.id, &f, bob.id, BlockReason::Manual).await.expect("bob unblocks");
    assert_eq!(still.block, Some(held.clone()));
    let still =
        store.unblock_file(project.id, &f, alice.id, BlockReason::Console).await.expect("wrong reason");
    assert_eq!(still.block, Some(held));
    let free = store.unblock_file(project.id, &f, alice.id, BlockReason::Manual).await.expect("unblock");
    assert_eq!(free.block, None);
    let bobs =
        store.block_file(project.id, &f, bob.id, BlockReason::Manual, at(7_000)).await.expect("bob blocks");
    assert_eq!(bobs.block.map(|b| (b.holder, b.since)), Some((bob.id, at(7_000))));

    // Folders are not blocked; missing files neither.
    store.create_folder(project.id, &path("dir"), alice.id, at(0)).await.expect("folder");
    assert_tree_error(
        store.block_file(project.id, &path("dir"), alice.id, BlockReason::Manual, at(0)).await,
        FileTreeError::IsAFolder(path("dir")),
    );
    assert_not_found(store.block_file(project.id, &path("nope"), alice.id, BlockReason::Manual, at(0)).await);
    assert_not_found(store.unblock_file(project.id, &path("nope"), alice.id, BlockReason::Manual).await);
}

pub async fn a_console_block_replaces_the_holders_manual_one_and_stays(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    write(&store, &project, "run.py", "print()", &alice).await;
    let f = path("run.py");
    store.block_file(project.id, &f, alice.id, BlockReason::Manual, at(1)).await.expect("manual");
    let console =
        store.block_file(project.id, &f, alice.id, BlockReason::Console, at(2)).await.expect("console");
    let held = FileBlock { holder: alice.id, since: at(1), reason: BlockReason::Console };
    assert_eq!(console.block, Some(held.clone()));
    let manual =
        store.block_file(project.id, &f, alice.id, BlockReason::Manual, at(3)).await.expect("manual again");
    assert_eq!(manual.block, Some(held.clone()), "a manual request never downgrades a console's block");
    let still =
        store.unblock_file(project.id, &f, alice.id, BlockReason::Manual).await.expect("manual unblock");
    assert_eq!(still.block, Some(held), "a console's block is not lifted as a manual one");
    let free =
        store.unblock_file(project.id, &f, alice.id, BlockReason::Console).await.expect("console closes");
    assert_eq!(free.block, None);
}

pub async fn of_concurrent_file_block_requests_exactly_one_wins(store: DynStore) {
    const USERS: usize = 8;
    let (alice, project) = one_project(&store).await;
    write(&store, &project, "contested.csv", "x", &alice).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(user(&store, &format!("u{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let store = store.clone();
        let (project, id) = (project.id, u.id);
        tasks.push(tokio::spawn(async move {
            let after = store
                .block_file(project, &path("contested.csv"), id, BlockReason::Manual, at(i as i64))
                .await
                .expect("block");
            after.block.expect("blocked by someone").holder == id
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task"));
    }
    assert_eq!(winners, 1, "exactly one of {USERS} concurrent requests holds the block");
}

pub async fn changes_to_a_file_blocked_by_someone_else_are_refused(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let bob = user(&store, "bob").await;
    write(&store, &project, "work/model.py", "v1", &alice).await;
    write(&store, &project, "work/notes.md", "notes", &alice).await;
    write(&store, &project, "other.py", "other", &bob).await;
    let held = FileBlock { holder: alice.id, since: at(100), reason: BlockReason::Manual };
    store
        .block_file(project.id, &path("work/model.py"), alice.id, BlockReason::Manual, at(100))
        .await
        .expect("block");
    let before = tree(&store, &project).await;

    let model = path("work/model.py");
    assert_blocked(
        store.write_file(project.id, &model, &bytes("bob's"), bob.id, at(200)).await,
        "work/model.py",
        &held,
    );
    assert_blocked(
        store.move_file(project.id, &model, &path("m.py"), bob.id, at(200)).await,
        "work/model.py",
        &held,
    );
    assert_blocked(store.delete_file(project.id, &model, bob.id).await, "work/model.py", &held);
    // Onto it: a copy or move whose target is the blocked file.
    assert_blocked(
        store.copy_file(project.id, &path("other.py"), &model, bob.id, at(200)).await,
        "work/model.py",
        &held,
    );
    assert_blocked(
        store.move_file(project.id, &path("other.py"), &model, bob.id, at(200)).await,
        "work/model.py",
        &held,
    );
    // The folder holding it: neither moved nor deleted, not even in part.
    assert_blocked(store.delete_file(project.id, &path("work"), bob.id).await, "work/model.py", &held);
    assert_blocked(
        store.move_file(project.id, &path("work"), &path("old"), bob.id, at(200)).await,
        "work/model.py",
        &held,
    );
    assert_eq!(tree(&store, &project).await, before, "nothing changed");
    assert_eq!(text_of(&store, &project, "work/model.py").await.as_deref(), Some("v1"));
    // Reading and copying it away are fine; other files in the folder too.
    store.copy_file(project.id, &model, &path("copy.py"), bob.id, at(300)).await.expect("copy from");
    write(&store, &project, "work/notes.md", "bob's notes", &bob).await;

    // The holder may do everything; the block goes with the file.
    let replaced =
        store.write_file(project.id, &model, &bytes("v2"), alice.id, at(400)).await.expect("holder writes");
    assert_eq!(replaced.entry.block, Some(held.clone()));
    let moved = store
        .move_file(project.id, &path("work"), &path("done"), alice.id, at(500))
        .await
        .expect("holder moves");
    assert_eq!(moved.path.as_str(), "done");
    let carried = store.file_entry(project.id, &path("done/model.py")).await.expect("entry").expect("moved");
    assert_eq!(carried.block, Some(held.clone()), "the block moved with the file");
    assert_blocked(store.delete_file(project.id, &path("done"), bob.id).await, "done/model.py", &held);
    assert_eq!(store.delete_file(project.id, &path("done"), alice.id).await.expect("holder deletes"), 3);
}

pub async fn files_go_with_their_project(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let other = super::fixtures::project(&store, &alice, "other").await;
    write(&store, &project, "a/b.txt", "b", &alice).await;
    write(&store, &other, "a/b.txt", "other's", &alice).await;
    store.delete_project(project.id).await.expect("delete project");
    assert_eq!(store.list_files(project.id, None, true).await.expect("list"), vec![]);
    assert_eq!(
        text_of(&store, &other, "a/b.txt").await.as_deref(),
        Some("other's"),
        "same paths, other project"
    );
}
