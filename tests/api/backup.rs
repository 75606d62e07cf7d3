//! `dialogi backup` and `dialogi restore`, run as an administrator runs them: a demo
//! company with media files is backed up, restored into a fresh installation, and the two
//! compared table by table, sequence by sequence and file by file — with `DATABASE_URL`
//! and with the embedded PostgreSQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::{TestDatabase, data_dir_of, free_port};
use dialogi::db::embedded::{self, EmbeddedOptions, EmbeddedPostgres};

/// Runs `dialogi` with `args` on `data_dir` and `database_url` (none: the embedded mode).
fn dialogi(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dialogi"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("DIALOGI_ADMIN_PASSWORD", "backup-test-password")
        .stdin(Stdio::null());
    match database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    command.output().expect("run dialogi")
}

fn succeeded(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Waits (a minute at most) until the server on `port` answers `/readyz` with 200.
fn wait_ready(port: u16) {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server was not ready within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Every table of `public` as JSON (rows in a stable order) and every sequence's position.
fn snapshot(url: &str) -> BTreeMap<String, String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let mut conn = PgConnection::establish(url).expect("connect for the snapshot");
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .load(&mut conn)
    .expect("list tables");
    let mut snapshot = BTreeMap::new();
    for Name { name } in tables {
        let rows: Text = diesel::sql_query(format!(
            "SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS text FROM {} t",
            embedded::quote_ident(&name)
        ))
        .get_result(&mut conn)
        .expect("read a table");
        snapshot.insert(name, rows.text);
    }
    let sequences: Text = diesel::sql_query(
        "SELECT coalesce(json_object_agg(sequencename, last_value ORDER BY sequencename), '{}')::text \
         AS text FROM pg_sequences WHERE schemaname = 'public'",
    )
    .get_result(&mut conn)
    .expect("read the sequences");
    snapshot.insert("(sequences)".into(), sequences.text);
    snapshot
}

/// The files under `dir`, by relative path, with their bytes.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("read a folder").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("below").to_path_buf();
                found.insert(relative, std::fs::read(&path).expect("read a file"));
            }
        }
    }
    found
}

/// Media as the channels leave them: a photo at the top and a document in a subfolder,
/// with bytes of every value.
fn put_media(data_dir: &Path) {
    let media = data_dir.join("media");
    std::fs::create_dir_all(media.join("2026-12")).unwrap();
    let photo: Vec<u8> = (0..300_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(media.join("a1b2c3-photo.jpg"), photo).unwrap();
    std::fs::write(media.join("2026-12").join("счёт.pdf"), b"%PDF-1.4\n\0\xff").unwrap();
}

fn assert_same_installation(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, rows) in before {
        assert!(
            rows == &after[table],
            "table {table} differs after the round trip"
        );
    }
    // What the comparison covers: the demo company and the installation's secret (VK
    // random_ids derive from it), not two empty databases.
    assert!(
        before["dialogs"].len() > 10_000,
        "the demo's dialogs are there"
    );
    assert!(
        before["messages"].len() > 10_000,
        "the demo's messages are there"
    );
    assert!(
        before["settings"].contains("installation_secret"),
        "the installation secret is in the database: {}",
        before["settings"]
    );
}

#[test]
fn r20_a_backup_with_database_url_restores_every_row_secret_and_file() {
    let source = TestDatabase::create_empty();
    let source_dir = data_dir_of(&source);
    succeeded(&dialogi(&source_dir, Some(&source.url), &["demo"]), "demo");
    put_media(&source_dir);
    // The installation secret exists once a VK account has sent; make it now.
    let mut conn = PgConnection::establish(&source.url).unwrap();
    dialogi::db::settings::installation_secret(&mut conn).unwrap();
    let archive = source_dir.with_extension("backup.tar");
    let _ = std::fs::remove_file(&archive);

    let output = succeeded(
        &dialogi(
            &source_dir,
            Some(&source.url),
            &["backup", "--to", archive.to_str().unwrap()],
        ),
        "backup",
    );
    assert!(output.contains("2 media files"), "{output}");
    assert!(archive.is_file());
    let leftovers: Vec<_> = std::fs::read_dir(archive.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no partial files left: {leftovers:?}");
    // A backup never overwrites a file.
    let again = dialogi(
        &source_dir,
        Some(&source.url),
        &["backup", "--to", archive.to_str().unwrap()],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let target = TestDatabase::create_empty();
    let target_dir = data_dir_of(&target);
    let output = succeeded(
        &dialogi(
            &target_dir,
            Some(&target.url),
            &["restore", "--from", archive.to_str().unwrap()],
        ),
        "restore",
    );
    assert!(output.contains("2 media files"), "{output}");
    let before = snapshot(&source.url);
    assert_same_installation(&before, &snapshot(&target.url));
    assert_eq!(
        files_under(&source_dir.join("media")),
        files_under(&target_dir.join("media"))
    );

    // Into an installation that holds data: refused, and nothing changes…
    let mut conn = PgConnection::establish(&target.url).unwrap();
    diesel::sql_query("UPDATE dialogs SET title = 'изменено после восстановления' WHERE id = (SELECT min(id) FROM dialogs)")
        .execute(&mut conn)
        .unwrap();
    let changed = snapshot(&target.url);
    let refused = dialogi(
        &target_dir,
        Some(&target.url),
        &["restore", "--from", archive.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(snapshot(&target.url), changed);
    // …unless forced: then it is the backup again.
    std::fs::write(target_dir.join("media").join("stray.bin"), b"stray").unwrap();
    succeeded(
        &dialogi(
            &target_dir,
            Some(&target.url),
            &["restore", "--force", "--from", archive.to_str().unwrap()],
        ),
        "forced restore",
    );
    assert_same_installation(&before, &snapshot(&target.url));
    assert_eq!(
        files_under(&source_dir.join("media")),
        files_under(&target_dir.join("media"))
    );

    // Something that is not a backup is refused before anything is touched.
    let not_a_backup = target_dir.join("not-a-backup.tar");
    std::fs::write(&not_a_backup, b"hello").unwrap();
    let refused = dialogi(
        &target_dir,
        Some(&target.url),
        &[
            "restore",
            "--force",
            "--from",
            not_a_backup.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a Dialogi backup"));
    assert_same_installation(&before, &snapshot(&target.url));

    let _ = std::fs::remove_file(&archive);
    let _ = std::fs::remove_dir_all(&source_dir);
    let _ = std::fs::remove_dir_all(&target_dir);
}

#[test]
fn r20_a_backup_of_the_embedded_database_restores_into_a_fresh_data_folder() {
    let root = std::env::temp_dir()
        .join("dialogi-tests")
        .join(format!("{}-backup-embedded", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (source_dir, target_dir) = (root.join("source"), root.join("target"));
    std::fs::create_dir_all(&root).unwrap();
    succeeded(&dialogi(&source_dir, None, &["demo"]), "demo (embedded)");
    put_media(&source_dir);
    {
        let mut cluster = EmbeddedPostgres::start(&EmbeddedOptions::new(&source_dir)).unwrap();
        let mut conn = PgConnection::establish(&cluster.url(embedded::DATABASE)).unwrap();
        dialogi::db::settings::installation_secret(&mut conn).unwrap();
        drop(conn);
        cluster.stop();
    }
    // Backed up while the server serves on that data folder (on its cluster).
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_dialogi"))
        .arg("--data-dir")
        .arg(&source_dir)
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port);
    let archive = root.join("dialogi.backup");
    let backed_up = dialogi(
        &source_dir,
        None,
        &["backup", "--to", archive.to_str().unwrap()],
    );
    kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).unwrap();
    assert!(
        server.wait().unwrap().success(),
        "the server stopped cleanly"
    );
    succeeded(&backed_up, "backup (embedded, while serving)");
    // Restoring needs the server stopped; into a fresh data folder it goes.
    succeeded(
        &dialogi(
            &target_dir,
            None,
            &["restore", "--from", archive.to_str().unwrap()],
        ),
        "restore (embedded)",
    );

    // Both clusters up side by side (each has its own socket folder), then compared.
    let mut source = EmbeddedPostgres::start(&EmbeddedOptions::new(&source_dir)).unwrap();
    let mut target = EmbeddedPostgres::start(&EmbeddedOptions::new(&target_dir)).unwrap();
    let before = snapshot(&source.url(embedded::DATABASE));
    let after = snapshot(&target.url(embedded::DATABASE));
    source.stop();
    target.stop();
    assert_same_installation(&before, &after);
    assert_eq!(
        files_under(&source_dir.join("media")),
        files_under(&target_dir.join("media"))
    );
    let _ = std::fs::remove_dir_all(&root);
}
