//! Storage tests: background jobs and the files they generated (SPEC §9).

use sync_server::store::{
    DynStore, JobId, JobRecord, JobState, NewJob, Project, ProjectId, StoreError, User, UserId,
};

use super::fixtures::*;

/// A job of `owner` running `script`, created at `at(created_ms)`, whose logs sit next to
/// the script as `SCRIPT.out` and `SCRIPT.err`.
fn job_of(project: &Project, owner: &User, script: &str, created_ms: i64) -> NewJob {
    NewJob {
        project_id: project.id,
        owner: owner.id,
        script: script.to_owned(),
        stdout_path: format!("{script}.out"),
        stderr_path: format!("{script}.err"),
        created_at: at(created_ms),
    }
}

/// A user and their project, with no jobs yet.
async fn one_project(store: &DynStore) -> (User, Project) {
    let alice = user(store, "alice").await;
    let project = project(store, &alice, "analysis").await;
    (alice, project)
}

async fn create(store: &DynStore, new: NewJob) -> JobRecord {
    store.create_job(&new).await.expect("create job")
}

async fn read(store: &DynStore, id: JobId) -> JobRecord {
    store.job(id).await.expect("read job").expect("the job exists")
}

async fn add(store: &DynStore, job: &JobRecord, paths: &[&str]) {
    let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    store.add_job_files(job.id, &paths).await.expect("add job files");
}

async fn holding(store: &DynStore, project: &Project, path: &str) -> Vec<JobId> {
    store.jobs_holding(project.id, path).await.expect("jobs holding")
}

fn ids_of(jobs: &[JobRecord]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id).collect()
}

pub async fn a_job_is_recorded_from_queue_to_end_with_every_field(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let new = NewJob {
        project_id: project.id,
        owner: alice.id,
        script: "scripts/réglage 1.py".to_owned(),
        stdout_path: "scripts/réglage 1.py.stdout.txt".to_owned(),
        stderr_path: "scripts/réglage 1.py.stderr.txt".to_owned(),
        created_at: at(1_001),
    };
    let queued = store.create_job(&new).await.expect("create");
    let expected = JobRecord {
        id: queued.id,
        project_id: project.id,
        owner: alice.id,
        script: "scripts/réglage 1.py".to_owned(),
        stdout_path: "scripts/réglage 1.py.stdout.txt".to_owned(),
        stderr_path: "scripts/réglage 1.py.stderr.txt".to_owned(),
        state: JobState::Queued,
        exit_code: None,
        error: None,
        created_at: at(1_001),
        started_at: None,
        ended_at: None,
        generated: vec![
            "scripts/réglage 1.py.stdout.txt".to_owned(),
            "scripts/réglage 1.py.stderr.txt".to_owned(),
        ],
    };
    assert_eq!(queued, expected);
    assert_eq!(read(&store, queued.id).await, expected);

    store.job_started(queued.id, at(1_502)).await.expect("started");
    let running = JobRecord { state: JobState::Running, started_at: Some(at(1_502)), ..expected.clone() };
    assert_eq!(read(&store, queued.id).await, running);

    add(&store, &queued, &["out/model.bin"]).await;
    store
        .job_ended(queued.id, JobState::Failed, Some(3), Some("the script exited with code 3"), at(2_003))
        .await
        .expect("ended");
    let ended = JobRecord {
        state: JobState::Failed,
        exit_code: Some(3),
        error: Some("the script exited with code 3".to_owned()),
        ended_at: Some(at(2_003)),
        generated: vec![
            "scripts/réglage 1.py.stdout.txt".to_owned(),
            "scripts/réglage 1.py.stderr.txt".to_owned(),
            "out/model.bin".to_owned(),
        ],
        ..running
    };
    assert_eq!(read(&store, queued.id).await, ended);
    assert_eq!(store.jobs_in(project.id).await.expect("list"), vec![ended]);
}

pub async fn the_first_end_of_a_job_wins(store: DynStore) {
    let (alice, project) = one_project(&store).await;

    // Terminated while queued, then a late start and exit: the termination stays.
    let terminated = create(&store, job_of(&project, &alice, "a.py", 0)).await;
    store
        .job_ended(terminated.id, JobState::Terminated, None, Some("terminated by alice"), at(10))
        .await
        .expect("terminate");
    let after_terminate = read(&store, terminated.id).await;
    assert_eq!(
        after_terminate,
        JobRecord {
            state: JobState::Terminated,
            ended_at: Some(at(10)),
            error: Some("terminated by alice".to_owned()),
            ..terminated.clone()
        },
        "terminated in the queue: never started"
    );
    store.job_started(terminated.id, at(20)).await.expect("late start");
    store.job_ended(terminated.id, JobState::Finished, Some(0), None, at(30)).await.expect("late end");
    assert_eq!(read(&store, terminated.id).await, after_terminate);

    // A second start keeps the first start time; a finished job keeps its first end.
    let finished = create(&store, job_of(&project, &alice, "b.py", 100)).await;
    store.job_started(finished.id, at(110)).await.expect("start");
    store.job_started(finished.id, at(120)).await.expect("start again");
    store.job_ended(finished.id, JobState::Finished, Some(0), None, at(130)).await.expect("end");
    store
        .job_ended(finished.id, JobState::Terminated, None, Some("terminated by alice"), at(140))
        .await
        .expect("second end");
    assert_eq!(
        read(&store, finished.id).await,
        JobRecord {
            state: JobState::Finished,
            exit_code: Some(0),
            started_at: Some(at(110)),
            ended_at: Some(at(130)),
            ..finished.clone()
        }
    );

    // A state that is not final is a caller's bug, refused without a change.
    let queued = create(&store, job_of(&project, &alice, "c.py", 200)).await;
    for state in [JobState::Queued, JobState::Running] {
        let result = store.job_ended(queued.id, state, Some(0), None, at(210)).await;
        assert!(matches!(result, Err(StoreError::Database(_))), "{state:?} is not an end: {result:?}");
    }
    assert_eq!(read(&store, queued.id).await, queued);
}

pub async fn jobs_are_listed_newest_first_per_project(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let bob = user(&store, "bob").await;
    let other = super::fixtures::project(&store, &bob, "other").await;
    let j1 = create(&store, job_of(&project, &alice, "a.py", 1)).await;
    let elsewhere = create(&store, job_of(&other, &bob, "a.py", 2)).await;
    let j2 = create(&store, job_of(&project, &bob, "b.py", 3)).await;
    let j3 = create(&store, job_of(&project, &alice, "a.py", 4)).await;
    store.job_started(j2.id, at(5)).await.expect("start");
    add(&store, &j2, &["b/out.csv"]).await;

    // Whole records, generated paths included: the listing reads every column.
    let listed = store.jobs_in(project.id).await.expect("list");
    assert_eq!(listed, vec![j3.clone(), read(&store, j2.id).await, j1.clone()]);
    assert_eq!(listed[1].generated, ["b.py.out", "b.py.err", "b/out.csv"]);
    assert_eq!(store.jobs_in(other.id).await.expect("other"), vec![elsewhere]);
    assert_eq!(store.jobs_in(ProjectId(other.id.0 + 1000)).await.expect("unknown project"), vec![]);
}

pub async fn generated_files_are_recorded_once_logs_first_then_in_byte_order(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let job = create(&store, job_of(&project, &alice, "run.py", 0)).await;
    assert_eq!(job.generated, ["run.py.out", "run.py.err"]);

    add(&store, &job, &["z.csv", "out/b.txt", "Out.txt", "out/b.txt", "run.py.err"]).await;
    add(&store, &job, &["out/a.txt", "z.csv"]).await;
    add(&store, &job, &[]).await;
    let expected = ["run.py.out", "run.py.err", "Out.txt", "out/a.txt", "out/b.txt", "z.csv"];
    assert_eq!(read(&store, job.id).await.generated, expected);

    // A job may report files after it ended; they are recorded all the same.
    store.job_ended(job.id, JobState::Finished, Some(0), None, at(1)).await.expect("end");
    add(&store, &job, &["late.txt"]).await;
    let after = read(&store, job.id).await;
    assert_eq!(
        after.generated,
        ["run.py.out", "run.py.err", "Out.txt", "late.txt", "out/a.txt", "out/b.txt", "z.csv"]
    );
    assert_eq!(store.jobs_in(project.id).await.expect("list"), vec![after]);

    // Logs shared by both streams are one generated file.
    let one_log = NewJob { stderr_path: "run.py.out".to_owned(), ..job_of(&project, &alice, "run.py", 2) };
    assert_eq!(create(&store, one_log).await.generated, ["run.py.out"]);
}

pub async fn jobs_hold_the_files_they_generated_and_the_folders_above_them(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let other = super::fixtures::project(&store, &alice, "other").await;
    let first = create(&store, job_of(&project, &alice, "data/a.py", 0)).await;
    let second = create(&store, job_of(&project, &alice, "b.py", 1)).await;
    let foreign = create(&store, job_of(&other, &alice, "data/a.py", 2)).await;
    add(&store, &first, &["data/sub/x.csv", "data_1/y%.csv"]).await;
    add(&store, &second, &["data/sub/z.csv"]).await;

    // The file itself, and every folder above it.
    assert_eq!(holding(&store, &project, "data/sub/x.csv").await, vec![first.id]);
    assert_eq!(holding(&store, &project, "data/a.py.out").await, vec![first.id]);
    assert_eq!(holding(&store, &project, "data/sub").await, vec![first.id, second.id]);
    assert_eq!(holding(&store, &project, "data").await, vec![first.id, second.id]);
    assert_eq!(holding(&store, &project, "b.py.err").await, vec![second.id]);
    assert_eq!(holding(&store, &other, "data").await, vec![foreign.id], "per project");

    // Not a path that merely starts like one, nor anything a job did not generate.
    assert_eq!(holding(&store, &project, "data/sub/x").await, vec![]);
    assert_eq!(holding(&store, &project, "dat").await, vec![]);
    assert_eq!(holding(&store, &project, "data/a.py").await, vec![], "the script is not generated");
    assert_eq!(holding(&store, &project, "data_1").await, vec![first.id]);
    assert_eq!(holding(&store, &project, "data_1/y%.csv").await, vec![first.id]);
    for unlike in ["data%", "data_", "dat_", "data_1/y_.csv", "data_1/y%"] {
        assert_eq!(holding(&store, &project, unlike).await, vec![], "`{unlike}` is no pattern");
    }
    let data2 = create(&store, job_of(&project, &alice, "data2/c.py", 3)).await;
    assert_eq!(holding(&store, &project, "data").await, vec![first.id, second.id], "not data2");
    assert_eq!(holding(&store, &project, "data2").await, vec![data2.id]);
}

pub async fn deleting_a_job_frees_its_files(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let doomed = create(&store, job_of(&project, &alice, "a.py", 0)).await;
    let kept = create(&store, job_of(&project, &alice, "b.py", 1)).await;
    add(&store, &doomed, &["out/shared.csv", "out/mine.csv"]).await;
    add(&store, &kept, &["out/shared.csv"]).await;
    store.job_ended(doomed.id, JobState::Finished, Some(0), None, at(2)).await.expect("end");
    assert_eq!(holding(&store, &project, "out").await, vec![doomed.id, kept.id]);

    store.delete_job(doomed.id).await.expect("delete");
    assert_eq!(store.job(doomed.id).await.expect("read"), None);
    assert_eq!(ids_of(&store.jobs_in(project.id).await.expect("list")), vec![kept.id]);
    assert_eq!(holding(&store, &project, "out/mine.csv").await, vec![]);
    assert_eq!(holding(&store, &project, "a.py.out").await, vec![]);
    assert_eq!(holding(&store, &project, "out").await, vec![kept.id], "still held by the other job");
    assert_eq!(
        read(&store, kept.id).await,
        JobRecord {
            generated: vec!["b.py.out".to_owned(), "b.py.err".to_owned(), "out/shared.csv".to_owned()],
            ..kept
        }
    );
    assert_not_found(store.delete_job(doomed.id).await);
}

pub async fn aborting_unfinished_jobs_touches_only_queued_and_running_ones(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let queued = create(&store, job_of(&project, &alice, "q.py", 0)).await;
    let running = create(&store, job_of(&project, &alice, "r.py", 1)).await;
    store.job_started(running.id, at(2)).await.expect("start");
    let finished = create(&store, job_of(&project, &alice, "f.py", 3)).await;
    store.job_started(finished.id, at(4)).await.expect("start");
    store.job_ended(finished.id, JobState::Finished, Some(0), None, at(5)).await.expect("finish");
    let failed = create(&store, job_of(&project, &alice, "e.py", 6)).await;
    store.job_started(failed.id, at(7)).await.expect("start");
    store.job_ended(failed.id, JobState::Failed, Some(1), Some("exit code 1"), at(8)).await.expect("fail");
    let terminated = create(&store, job_of(&project, &alice, "t.py", 9)).await;
    store.job_ended(terminated.id, JobState::Terminated, None, Some("by alice"), at(10)).await.expect("end");
    let over_before = vec![
        read(&store, terminated.id).await,
        read(&store, failed.id).await,
        read(&store, finished.id).await,
    ];

    let reason = "the server stopped while this job ran";
    assert_eq!(store.abort_unfinished_jobs(reason, at(9_000)).await.expect("abort"), 2);

    let mut after = store.jobs_in(project.id).await.expect("list");
    let still_over = after.drain(..3).collect::<Vec<_>>();
    assert_eq!(still_over, over_before, "jobs already over are untouched");
    assert_eq!(
        after,
        vec![
            JobRecord {
                state: JobState::Failed,
                started_at: Some(at(2)),
                ended_at: Some(at(9_000)),
                error: Some(reason.to_owned()),
                ..running
            },
            JobRecord {
                state: JobState::Failed,
                ended_at: Some(at(9_000)),
                error: Some(reason.to_owned()),
                ..queued
            },
        ]
    );
    assert_eq!(store.abort_unfinished_jobs(reason, at(9_500)).await.expect("again"), 0);
}

pub async fn jobs_go_with_their_project(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let other = super::fixtures::project(&store, &alice, "other").await;
    let gone = create(&store, job_of(&project, &alice, "a.py", 0)).await;
    store.job_started(gone.id, at(1)).await.expect("start");
    add(&store, &gone, &["out.csv"]).await;
    let stays = create(&store, job_of(&other, &alice, "a.py", 2)).await;

    store.delete_project(project.id).await.expect("delete project");
    assert_eq!(store.job(gone.id).await.expect("read"), None);
    assert_eq!(store.jobs_in(project.id).await.expect("list"), vec![]);
    assert_eq!(holding(&store, &project, "out.csv").await, vec![]);
    assert_not_found(store.job_ended(gone.id, JobState::Finished, Some(0), None, at(3)).await);
    assert_eq!(store.jobs_in(other.id).await.expect("list"), vec![stays.clone()]);
    assert_eq!(holding(&store, &other, "a.py.out").await, vec![stays.id]);
    assert_eq!(store.abort_unfinished_jobs("stopped", at(4)).await.expect("abort"), 1);
}

pub async fn unknown_jobs_projects_and_users_are_not_found(store: DynStore) {
    let (alice, project) = one_project(&store).await;
    let known = create(&store, job_of(&project, &alice, "a.py", 0)).await;
    let ghost = JobId(known.id.0 + 1000);
    assert_eq!(store.job(ghost).await.expect("read"), None);
    assert_not_found(store.job_started(ghost, at(1)).await);
    assert_not_found(store.add_job_files(ghost, &["x.csv".to_owned()]).await);
    assert_not_found(store.add_job_files(ghost, &[]).await);
    assert_not_found(store.job_ended(ghost, JobState::Finished, Some(0), None, at(2)).await);
    assert_not_found(store.delete_job(ghost).await);
    assert_eq!(holding(&store, &project, "x.csv").await, vec![]);

    let nowhere = Project { id: ProjectId(project.id.0 + 1000), ..project.clone() };
    assert_not_found(store.create_job(&job_of(&nowhere, &alice, "a.py", 3)).await);
    let stranger = User { id: UserId(alice.id.0 + 1000), ..alice.clone() };
    assert_not_found(store.create_job(&job_of(&project, &stranger, "a.py", 4)).await);
    assert_eq!(store.jobs_in(project.id).await.expect("list"), vec![known], "nothing else written");
}
