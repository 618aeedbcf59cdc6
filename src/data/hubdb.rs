//! The hub database, `jupyterhub.sqlite`: carried as a consistent snapshot
//! and read back for `r2r inspect`.

use std::io::Write;
use std::path::Path;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::bundle::layout::{self, Kind};
use crate::bundle::verify::Trusted;
use crate::bundle::writer::BundleWriter;

/// Largest hub database read back for inspection.
const MAX_DB_BYTES: u64 = 4 << 30;

/// Copies the database at `src` into the bundle as `hub-db/<hub>/jupyterhub.sqlite`.
///
/// The copy goes through SQLite's online backup, so a hub that is writing
/// to its database meanwhile still yields a consistent snapshot, and a
/// file that is not a SQLite database is refused.
pub fn export(hub: &str, src: &Path, work_dir: &Path, bundle: &mut BundleWriter) -> Result<u64> {
    let member = layout::hub_db(hub)
        .with_context(|| format!("--hub-db {hub}=…: {hub:?} cannot name a member"))?;
    let db = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the hub database {}", src.display()))?;
    check_is_hub_db(&db)
        .with_context(|| format!("{} is not a JupyterHub database", src.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".r2r-hubdb-")
        .tempfile_in(work_dir)?;
    {
        let mut dst = Connection::open(tmp.path())?;
        let backup = rusqlite::backup::Backup::new(&db, &mut dst)?;
        backup
            .run_to_completion(256, std::time::Duration::from_millis(10), None)
            .with_context(|| format!("cannot snapshot {}", src.display()))?;
    }
    let size = tmp.as_file().metadata()?.len();
    bundle.add_file(member, Kind::HubDb, tmp.path())?;
    Ok(size)
}

fn check_is_hub_db(db: &Connection) -> Result<()> {
    let n: i64 = db.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
        [],
        |r| r.get(0),
    )?;
    if n != 1 {
        bail!("it has no `users` table");
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HubUsers {
    pub hub: String,
    pub users: Vec<String>,
    pub admins: Vec<String>,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub name: String,
    pub members: Vec<String>,
}

/// The hubs whose databases the bundle carries.
pub fn hubs_in(trusted: &Trusted) -> Vec<String> {
    trusted
        .members_under(&Kind::HubDb.prefix())
        .filter_map(|p| layout::group_of(Kind::HubDb, p, layout::HUB_DB_FILE))
        .map(str::to_owned)
        .collect()
}

/// How long reading one hub database may take. A real hub's database of
/// thousands of users reads in milliseconds; a hostile one can hold a query
/// that never ends.
pub const READ_TIME_LIMIT: Duration = Duration::from_secs(20);

/// The longest string or blob SQLite may build while reading: user and
/// group names are short, and a generated column can make huge ones.
const MAX_VALUE_BYTES: i32 = 1 << 20;

/// The most text the names read may add up to (users, admins and every
/// group's members together): a join can multiply rows far past the
/// file's size, so what is collected is bounded, not only how long. Rows
/// are read unsorted, as SQLite streams them, so nothing else grows.
const MAX_COLLECTED_BYTES: usize = 256 << 20;

/// The tables read, each of which must be a plain table.
const USERS: &str = "users";
const GROUP_TABLES: [&str; 2] = ["groups", "user_group_map"];

/// Reads users, admins and groups from a carried database. The member is
/// checked against its signed digest while it is copied out; the copy is
/// then read as [`read_file`] says, since the bundle may be hostile.
pub fn users(trusted: &Trusted, hub: &str) -> Result<HubUsers> {
    let member = layout::hub_db(hub)?;
    let mut src = trusted.open(member.as_str())?;
    let mut tmp = tempfile::NamedTempFile::new()?;
    let n = std::io::copy(
        &mut std::io::Read::take(&mut src, MAX_DB_BYTES),
        tmp.as_file_mut(),
    )?;
    tmp.as_file_mut().flush()?;
    src.finish()?;
    if n >= MAX_DB_BYTES {
        bail!("member {member} is larger than {MAX_DB_BYTES} bytes");
    }
    read_file(tmp.path(), hub, READ_TIME_LIMIT)
        .with_context(|| format!("member {member} is not a readable JupyterHub database"))
}

/// Reads users, admins and groups from the SQLite file at `path`, which may
/// be hostile: opened read-only with the schema untrusted, every table read
/// must be a plain table (a view or virtual table can run any query, such
/// as an endless recursive one), temporary storage stays in memory, values
/// are capped at [`MAX_VALUE_BYTES`], and reading stops after `limit`.
pub fn read_file(path: &Path, hub: &str, limit: Duration) -> Result<HubUsers> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    db.execute_batch(
        "PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON; \
         PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;",
    )?;
    db.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
    let deadline = Instant::now() + limit;
    // Called every thousand virtual-machine steps; true interrupts.
    db.progress_handler(1000, Some(move || Instant::now() > deadline))?;
    read_users(&db, hub).map_err(|e| match e.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::OperationInterrupted => {
            anyhow!(
                "reading it took longer than {}s, so it was stopped",
                limit.as_secs_f32()
            )
        }
        _ => e,
    })
}

fn read_users(db: &Connection, hub: &str) -> Result<HubUsers> {
    if !is_table(db, USERS)? {
        bail!("it has no `{USERS}` table");
    }
    let budget = std::cell::Cell::new(MAX_COLLECTED_BYTES);
    let collect = |st: &mut rusqlite::Statement<'_>,
                   params: &[&dyn rusqlite::ToSql]|
     -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut rows = st.query(params)?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let left = budget.get().checked_sub(name.len() + 24).ok_or_else(|| {
                anyhow!(
                    "its users and groups add up to more than {MAX_COLLECTED_BYTES} bytes of names"
                )
            })?;
            budget.set(left);
            out.push(name);
        }
        Ok(out)
    };
    let names = |sql: &str| -> Result<Vec<String>> {
        let mut st = db.prepare(sql)?;
        collect(&mut st, &[])
    };
    // No ORDER BY: SQLite would sort every row in memory before the first
    // one reached the budget. Rows stream, and what was kept is sorted here.
    let users = sorted(names("SELECT name FROM users")?);
    let admins = sorted(names("SELECT name FROM users WHERE admin")?);
    let mut groups = Vec::new();
    if is_table(db, GROUP_TABLES[0])? && is_table(db, GROUP_TABLES[1])? {
        for g in sorted(names("SELECT name FROM groups")?) {
            let mut st = db.prepare(
                "SELECT u.name FROM users u JOIN user_group_map m ON m.user_id = u.id \
                 JOIN groups g ON g.id = m.group_id WHERE g.name = ?1",
            )?;
            let members = sorted(collect(&mut st, &[&g])?);
            groups.push(Group { name: g, members });
        }
    }
    Ok(HubUsers {
        hub: hub.to_owned(),
        users,
        admins,
        groups,
    })
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// Whether `name` is a plain table: `Ok(false)` when nothing has that
/// name, an error saying what it is otherwise. SQLite's own classification
/// (`table`, `view`, `virtual`, `shadow`) is asked; it resolves names
/// without regard to case, so the lookup does too.
fn is_table(db: &Connection, name: &str) -> Result<bool> {
    let kind: Option<String> = db
        .query_row(
            "SELECT type FROM pragma_table_list WHERE schema = 'main' AND name = ?1 COLLATE NOCASE",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match kind.as_deref() {
        None => Ok(false),
        Some("table") => Ok(true),
        Some(other) => bail!(
            "`{name}` is a {other}, not a plain table: r2r reads only plain tables, as anything else can run any query"
        ),
    }
}
