//! The storage suite (SPEC §7): every test body runs against both backends, as
//! `sqlite::<name>` on a fresh SQLite file and `postgres::<name>` on a fresh database of
//! the PostgreSQL cluster that `scripts/test` starts. The bodies live in
//! `support/storage/`, one file per domain.

#[path = "support/storage/accounts.rs"]
mod accounts;
#[path = "support/backends.rs"]
mod backends;
#[path = "support/storage/blocks.rs"]
mod blocks;
#[path = "support/storage/executions.rs"]
mod executions;
#[path = "support/storage/files.rs"]
mod files;
#[path = "support/storage/fixtures.rs"]
mod fixtures;
#[path = "support/storage/history.rs"]
mod history;
#[path = "support/storage/jobs.rs"]
mod jobs;
#[path = "support/storage/log.rs"]
mod log;
#[path = "support/storage/members.rs"]
mod members;
#[path = "support/storage/projects.rs"]
mod projects;

use sync_server::store::DynStore;

use fixtures::{labels_of, one_notebook, update};

/// Declares, for each test body (`module::name`), one test per backend named
/// `sqlite::name` and `postgres::name`. A body left out of the list is reported as dead
/// code.
macro_rules! on_both_backends {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::backends::on_sqlite(crate::$module::$test).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::backends::on_postgres(crate::$module::$test).await
                }
            )*
        }
    };
}

on_both_backends!(
    accounts::migrations_can_run_again,
    accounts::users_are_found_by_id_and_by_name,
    accounts::duplicate_user_name_is_a_conflict,
    accounts::users_are_listed_in_creation_order_and_counted,
    accounts::password_hash_can_be_set_and_read,
    accounts::token_is_found_by_hash_with_its_user,
    accounts::expired_token_is_not_returned,
    accounts::deleted_token_is_no_longer_found,
    projects::owner_is_a_member_of_a_new_project,
    projects::projects_for_lists_only_the_users_projects_newest_first,
    projects::notebook_names_are_unique_within_a_project_only,
    projects::notebook_for_unknown_project_is_not_found,
    projects::notebooks_are_listed_by_name,
    projects::renamed_notebook_keeps_its_id,
    projects::rename_to_a_taken_name_is_a_conflict,
    projects::rename_of_a_missing_notebook_is_not_found,
    projects::deleting_a_notebook_deletes_its_log_and_checkpoints,
    members::project_updates_change_only_the_fields_given,
    members::deleting_a_project_deletes_its_members_notebooks_and_logs,
    members::members_are_listed_owner_first_then_by_name,
    members::adding_a_member_twice_or_a_second_owner_is_a_conflict,
    members::roles_change_and_members_leave_but_the_owner_stays,
    blocks::mode_changes_are_stored,
    blocks::a_block_is_held_by_one_user_and_keeps_its_time,
    blocks::of_concurrent_block_requests_exactly_one_wins,
    blocks::writes_to_a_notebook_blocked_by_someone_else_are_refused,
    log::one_append_numbers_each_notebook_from_one_in_input_order,
    log::later_appends_continue_the_numbering,
    log::a_large_batch_keeps_every_update_in_order,
    log::an_append_by_an_unknown_user_is_not_found_and_writes_nothing,
    log::concurrent_appends_get_gapless_distinct_seqs,
    log::client_ids_round_trip_exactly,
    log::authors_and_timestamps_round_trip_to_the_millisecond,
    log::append_to_unknown_notebook_is_not_found_and_writes_nothing,
    log::load_without_checkpoint_returns_the_whole_log,
    log::load_after_checkpoint_reads_only_the_tail,
    log::newest_checkpoint_wins_and_rewriting_one_replaces_it,
    log::updates_between_honours_its_bounds,
    log::unknown_notebook_has_no_document,
    log::the_first_update_to_carry_a_client_id_binds_it_to_its_user,
    log::bindings_are_per_notebook_and_keep_every_u64,
    log::a_failed_append_binds_nothing,
    history::progress_starts_at_zero_and_each_batch_advances_it,
    history::a_batch_from_a_stale_progress_writes_nothing,
    history::of_concurrent_batches_from_the_same_progress_exactly_one_writes,
    history::a_grown_event_replaces_the_stored_one_and_stored_spans_stay,
    history::events_are_filtered_by_cell_user_and_time_and_paged_by_cursor,
    history::clock_spans_return_only_overlapping_spans_of_one_client_and_kind,
    history::spans_between_lists_what_a_range_of_updates_wrote,
    history::actor_ids_are_logged_and_read_back_with_update_meta,
    history::seq_at_finds_the_last_update_logged_at_or_before_a_time,
    history::nearest_state_is_the_newer_of_checkpoint_and_snapshot,
    history::undone_events_are_recorded_once_per_event_and_user,
    history::the_history_index_goes_with_its_notebook,
    history::a_step_for_a_deleted_notebook_writes_nothing,
    history::indexing_in_several_runs_matches_indexing_at_once,
    executions::a_run_is_recorded_from_queue_to_end_with_every_field,
    executions::the_first_end_of_a_run_wins,
    executions::a_status_that_is_not_final_cannot_end_a_run,
    executions::executions_are_listed_newest_first_and_filtered_by_user_and_cell,
    executions::unknown_executions_notebooks_and_users_are_not_found,
    executions::aborting_unfinished_runs_touches_only_queued_and_running_ones,
    executions::executions_go_with_their_notebook,
    executions::others_may_run_is_off_by_default_and_can_be_switched,
    executions::others_may_run_cannot_be_changed_past_someone_elses_block,
    files::files_are_written_read_and_replaced_with_their_hash,
    files::writing_creates_the_folders_above_and_lists_them,
    files::listing_is_direct_or_recursive_in_tree_order,
    files::a_folder_moves_with_its_contents_in_one_step,
    files::copies_are_new_entries_by_the_copier,
    files::deleting_a_folder_deletes_everything_in_it,
    files::moves_and_copies_refuse_what_the_tree_cannot_take,
    files::a_file_block_is_held_by_one_user_and_keeps_its_time,
    files::a_console_block_replaces_the_holders_manual_one_and_stays,
    files::of_concurrent_file_block_requests_exactly_one_wins,
    files::changes_to_a_file_blocked_by_someone_else_are_refused,
    files::files_go_with_their_project,
    jobs::a_job_is_recorded_from_queue_to_end_with_every_field,
    jobs::the_first_end_of_a_job_wins,
    jobs::jobs_are_listed_newest_first_per_project,
    jobs::generated_files_are_recorded_once_logs_first_then_in_byte_order,
    jobs::jobs_hold_the_files_they_generated_and_the_folders_above_them,
    jobs::deleting_a_job_frees_its_files,
    jobs::aborting_unfinished_jobs_touches_only_queued_and_running_ones,
    jobs::jobs_go_with_their_project,
    jobs::unknown_jobs_projects_and_users_are_not_found,
);

// --- SQLite only: the file itself ---

/// `talkbook serve` with no database configured opens `./data/talkbook.db` (SPEC §7):
/// folders are created, and what was committed is there after a restart.
#[tokio::test]
async fn sqlite_store_accepts_a_bare_path_and_keeps_commits_across_reopening() {
    use sync_server::store::{SqliteStore, Store};
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("deep/er/talkbook.db");
    let nb = {
        let store: DynStore =
            std::sync::Arc::new(SqliteStore::connect(&path.to_string_lossy()).await.expect("connect"));
        store.migrate().await.expect("migrate");
        let (_, nb) = one_notebook(&store).await;
        store.append_updates(&[update(nb.id, "kept")]).await.expect("append");
        nb
    };
    assert!(path.exists(), "the file and its folders were created");
    let reopened = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.expect("reopen");
    reopened.migrate().await.expect("migrate again");
    let rows = reopened.updates_between(nb.id, 0, None).await.expect("log");
    assert_eq!(labels_of(&rows), vec!["kept".to_owned()]);
    // WAL is a property of the file, so a separate connection sees it.
    let inspect = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("inspect");
    let mode: String =
        sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&inspect).await.expect("journal mode");
    assert_eq!(mode, "wal");
}
