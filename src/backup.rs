//! `dialogi backup` and `dialogi restore`: one archive that carries a whole installation.
//!
//! The archive is a plain tar file with three kinds of entries, in this order:
//! - `dialogi-backup.json`: the [`Manifest`] (format, versions, when, what is inside);
//! - `database.dump`: `pg_dump --format=custom` of the database — one consistent snapshot,
//!   taken while the server may keep running; it holds every installation-wide secret
//!   (the installation secret that VK `random_id`s derive from, channel credentials,
//!   password hashes, tokens), so the archive is as secret as the database;
//! - `media/…`: the files of the data folder's `media/`, copied after the dump, so every
//!   file a dumped row names is already there (files are written before their row).
//!
//! Both ends use PostgreSQL's own tools, taken from the same folder as the embedded
//! mode's `postgres` (else `PATH`), so a dump of the embedded cluster is read by the
//! matching `pg_restore`. A password in `DATABASE_URL` is handed to them in `PGPASSWORD`,
//! never on their command line (which every local user can read).
//!
//! A backup is written to `FILE.partial` and renamed when complete: a half-written archive
//! never carries the final name. A restore goes into an empty database and media folder;
//! `--force` empties them first.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::db::embedded;

/// The archive's format; a restore refuses any other.
pub const FORMAT: u32 = 1;
const MANIFEST: &str = "dialogi-backup.json";
const DUMP: &str = "database.dump";
const MEDIA: &str = "media";

/// What an archive says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub dialogi_version: String,
    pub created_at: DateTime<Utc>,
    /// The newest migration the database had.
    pub schema_version: Option<String>,
    pub media_files: u64,
    pub media_bytes: u64,
}

/// What a finished backup or restore did, for the command to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub database_bytes: u64,
    pub media_files: u64,
    pub media_bytes: u64,
}

/// Writes the backup of the database at `url` and of `data_dir/media` to `to`.
pub fn backup(url: &str, data_dir: &Path, to: &Path) -> anyhow::Result<Summary> {
    if to.exists() {
        bail!(
            "{} already exists; name a new file (a backup never overwrites one)",
            to.display()
        );
    }
    let partial = with_suffix(to, ".partial");
    let dump = with_suffix(to, ".dump.partial");
    let result = write_archive(url, data_dir, &partial, &dump);
    let _ = fs::remove_file(&dump);
    match result {
        Ok(summary) => {
            fs::rename(&partial, to)
                .with_context(|| format!("cannot name the archive {}", to.display()))?;
            Ok(summary)
        }
        Err(error) => {
            let _ = fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn write_archive(
    url: &str,
    data_dir: &Path,
    partial: &Path,
    dump: &Path,
) -> anyhow::Result<Summary> {
    let schema_version = schema_version(url)?;
    let spinner = spinner("dumping the database");
    let tool = PgTool::find("pg_dump")?;
    let mut command = tool.command(url)?;
    command.args(["--format=custom", "--file"]).arg(dump);
    tool.run(command, &spinner, Some(dump))?;
    spinner.finish_and_clear();
    let database_bytes = fs::metadata(dump)?.len();

    let media_dir = data_dir.join(MEDIA);
    let files = media_files(&media_dir)?;
    let media_bytes = files.iter().map(|(_, len)| len).sum();
    let manifest = Manifest {
        format: FORMAT,
        dialogi_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: Utc::now(),
        schema_version,
        media_files: files.len() as u64,
        media_bytes,
    };
    let out =
        File::create(partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let bar = bar(database_bytes + media_bytes, "writing the archive");
    let mut archive = tar::Builder::new(BufWriter::new(out));
    archive.mode(tar::HeaderMode::Deterministic);
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    append_bytes(&mut archive, MANIFEST, &manifest_json)?;
    archive.append_path_with_name(dump, DUMP)?;
    bar.inc(database_bytes);
    for (relative, len) in &files {
        archive
            .append_path_with_name(media_dir.join(relative), Path::new(MEDIA).join(relative))
            .with_context(|| format!("cannot read media file {}", relative.display()))?;
        bar.inc(*len);
    }
    let out = archive
        .into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?;
    out.sync_all()?;
    bar.finish_and_clear();
    Ok(Summary {
        database_bytes,
        media_files: manifest.media_files,
        media_bytes,
    })
}

/// Reads the archive's manifest (the first entry) without unpacking anything else.
pub fn read_manifest(from: &Path) -> anyhow::Result<Manifest> {
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let mut archive = tar::Archive::new(file);
    let mut entries = archive.entries()?;
    let mut first = entries
        .next()
        .context("the archive is empty")?
        .context("not a Dialogi backup (not a tar archive)")?;
    if first.path()?.as_ref() != Path::new(MANIFEST) {
        bail!("not a Dialogi backup: it does not start with {MANIFEST}");
    }
    let mut json = Vec::new();
    first.by_ref().take(1 << 20).read_to_end(&mut json)?;
    let manifest: Manifest =
        serde_json::from_slice(&json).context("not a Dialogi backup: unreadable manifest")?;
    if manifest.format != FORMAT {
        bail!(
            "this archive has backup format {}; this Dialogi reads format {FORMAT}",
            manifest.format
        );
    }
    Ok(manifest)
}

/// Whether the database at `url` holds anything (a table in `public`).
pub fn database_in_use(url: &str) -> anyhow::Result<bool> {
    let mut conn = PgConnection::establish(url).context("cannot connect to the database")?;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        tables: i64,
    }
    let found: Found = diesel::sql_query(
        "SELECT count(*) AS tables FROM pg_catalog.pg_tables WHERE schemaname = 'public'",
    )
    .get_result(&mut conn)?;
    Ok(found.tables > 0)
}

/// Whether `data_dir/media` holds any file.
pub fn media_in_use(data_dir: &Path) -> anyhow::Result<bool> {
    Ok(!media_files(&data_dir.join(MEDIA))?.is_empty())
}

/// Empties the database (its `public` schema) and the media folder, for `--force`.
pub fn wipe(url: &str, data_dir: &Path) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url).context("cannot connect to the database")?;
    diesel::sql_query("DROP SCHEMA IF EXISTS public CASCADE").execute(&mut conn)?;
    diesel::sql_query("CREATE SCHEMA public").execute(&mut conn)?;
    let media = data_dir.join(MEDIA);
    if media.exists() {
        fs::remove_dir_all(&media).with_context(|| format!("cannot empty {}", media.display()))?;
    }
    Ok(())
}

/// Restores the archive into the (empty) database at `url` and `data_dir/media`.
pub fn restore(url: &str, data_dir: &Path, from: &Path) -> anyhow::Result<Summary> {
    read_manifest(from)?;
    let media_dir = data_dir.join(MEDIA);
    fs::create_dir_all(&media_dir)
        .with_context(|| format!("cannot create {}", media_dir.display()))?;
    let dump = data_dir.join(".restore.dump.partial");
    let result = unpack(from, &media_dir, &dump).and_then(|mut summary| {
        let spinner = spinner("restoring the database");
        let tool = PgTool::find("pg_restore")?;
        let mut command = tool.command(url)?;
        command
            .args(["--no-owner", "--no-privileges", "--exit-on-error"])
            .arg("--single-transaction")
            .arg(&dump);
        tool.run(command, &spinner, None)?;
        spinner.finish_and_clear();
        summary.database_bytes = fs::metadata(&dump)?.len();
        Ok(summary)
    });
    let _ = fs::remove_file(&dump);
    result
}

fn unpack(from: &Path, media_dir: &Path, dump: &Path) -> anyhow::Result<Summary> {
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let bar = bar(file.metadata()?.len(), "reading the archive");
    let mut archive = tar::Archive::new(bar.wrap_read(file));
    let (mut media_files, mut media_bytes, mut has_dump) = (0, 0, false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if path == Path::new(MANIFEST) {
            continue;
        }
        if path == Path::new(DUMP) {
            let mut out = File::create(dump)?;
            io::copy(&mut entry, &mut out)?;
            out.sync_all()?;
            has_dump = true;
            continue;
        }
        let relative = path
            .strip_prefix(MEDIA)
            .ok()
            .filter(|relative| safe_relative(relative))
            .with_context(|| format!("unexpected entry in the archive: {}", path.display()))?;
        if entry.header().entry_type().is_file() {
            let target = media_dir.join(relative);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut out = File::create(&target)?;
            media_bytes += io::copy(&mut entry, &mut out)?;
            media_files += 1;
        }
    }
    bar.finish_and_clear();
    if !has_dump {
        bail!("the archive holds no {DUMP}");
    }
    Ok(Summary {
        database_bytes: 0,
        media_files,
        media_bytes,
    })
}

/// Only plain names below the media folder: no `..`, no absolute path.
fn safe_relative(path: &Path) -> bool {
    path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Every file under `dir` (recursively), relative to it, sorted, with its size. A missing
/// folder has none.
fn media_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut found = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let entries = match fs::read_dir(dir.join(&folder)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).context(format!("cannot read {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let relative = folder.join(entry.file_name());
            if kind.is_dir() {
                folders.push(relative);
            } else if kind.is_file() {
                found.push((relative, entry.metadata()?.len()));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn append_bytes<W: Write>(
    archive: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    header.set_cksum();
    archive.append_data(&mut header, name, bytes)
}

/// The newest applied migration, when the database has Dialogi's schema.
fn schema_version(url: &str) -> anyhow::Result<Option<String>> {
    let mut conn = PgConnection::establish(url).context("cannot connect to the database")?;
    #[derive(diesel::QueryableByName)]
    struct Newest {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        version: Option<String>,
    }
    let newest: Result<Newest, _> =
        diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
            .get_result(&mut conn);
    Ok(newest.ok().and_then(|n| n.version))
}

/// `pg_dump` or `pg_restore`: from the embedded mode's PostgreSQL folder, else `PATH`.
struct PgTool {
    program: PathBuf,
}

impl PgTool {
    fn find(name: &str) -> anyhow::Result<Self> {
        let beside = embedded::find_bin_dir()
            .map(|dir| dir.join(name))
            .filter(|p| p.is_file());
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        });
        beside
            .or(on_path)
            .map(|program| Self { program })
            .with_context(|| {
                format!(
                    "{name} was not found beside the PostgreSQL server binaries or on PATH \
                 (Debian: the postgresql-client package)"
                )
            })
    }

    /// The tool pointed at `url`, its password (if any) in the environment.
    fn command(&self, url: &str) -> anyhow::Result<Command> {
        let (url, password) = split_password(url)?;
        let mut command = Command::new(&self.program);
        command.arg("--dbname").arg(url);
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Ok(command)
    }

    /// Runs the tool to the end, ticking the spinner (with `grows`' size, when given).
    fn run(
        &self,
        mut command: Command,
        spinner: &ProgressBar,
        grows: Option<&Path>,
    ) -> anyhow::Result<()> {
        let name = self
            .program
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {}", self.program.display()))?;
        let mut stderr = child.stderr.take().context("no stderr")?;
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if let Some(size) = grows.and_then(|p| fs::metadata(p).ok()).map(|m| m.len()) {
                spinner.set_position(size);
            }
            spinner.tick();
            std::thread::sleep(Duration::from_millis(100));
        };
        let errors = reader.join().unwrap_or_default();
        if !status.success() {
            bail!("{name} failed ({status}): {}", errors.trim());
        }
        Ok(())
    }
}

/// The URL without its password, and the password (percent-decoded).
fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        // A keyword/value connection string: handed over as it is.
        return Ok((url.to_owned(), None));
    };
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    if password.is_some() {
        parsed
            .set_password(None)
            .map_err(|()| anyhow::anyhow!("DATABASE_URL cannot carry a password"))?;
    }
    Ok((parsed.into(), password))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A bar over `total` bytes on the terminal (nothing when stderr is not one).
fn bar(total: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total).with_message(message);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:22} [{bar:30}] {bytes}/{total_bytes} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A spinner with the bytes done so far, for a tool whose total is unknown.
fn spinner(message: &'static str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner().with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {bytes} {elapsed}") {
        spinner.set_style(style);
    }
    spinner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_leaves_the_url_for_the_environment_decoded() {
        let (url, password) =
            split_password("postgres://app:p%40ss%2Fw@db.local:5433/dialogi?sslmode=require")
                .unwrap();
        assert_eq!(url, "postgres://app@db.local:5433/dialogi?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss/w"));
        let socket = "postgres://dialogi@/dialogi?host=/var/lib/dialogi/run&port=5432";
        assert_eq!(split_password(socket).unwrap(), (socket.to_owned(), None));
    }

    #[test]
    fn only_plain_names_below_media_are_unpacked() {
        assert!(safe_relative(Path::new("2026/12/photo.jpg")));
        assert!(!safe_relative(Path::new("../../etc/passwd")));
        assert!(!safe_relative(Path::new("/etc/passwd")));
        assert!(!safe_relative(Path::new("")));
    }
}
