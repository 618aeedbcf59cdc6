//! The hub database, `jupyterhub.sqlite`: carried as a consistent snapshot
//! and read back for `r2r inspect`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::names;
use crate::bundle::layout::Kind;
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
    let member = names::hub_db_member(hub)
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
        .members_under("hub-db/")
        .filter_map(|p| p.strip_prefix("hub-db/"))
        .filter_map(|p| p.strip_suffix("/jupyterhub.sqlite"))
        .map(str::to_owned)
        .collect()
}

/// Reads users, admins and groups from a carried database. The member is
/// checked against its signed digest while it is copied out, and SQLite
/// opens the copy read-only, with the schema untrusted: the bundle may be
/// hostile.
pub fn users(trusted: &Trusted, hub: &str) -> Result<HubUsers> {
    let member = names::hub_db_member(hub)?;
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
    let db = Connection::open_with_flags(
        tmp.path(),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    db.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON;")?;
    let read = || -> rusqlite::Result<HubUsers> {
        let names = |sql: &str| -> rusqlite::Result<Vec<String>> {
            let mut st = db.prepare(sql)?;
            st.query_map([], |r| r.get::<_, String>(0))?.collect()
        };
        let users = names("SELECT name FROM users ORDER BY name")?;
        let admins = names("SELECT name FROM users WHERE admin ORDER BY name")?;
        let mut groups = Vec::new();
        let has_groups: i64 = db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('groups','user_group_map')",
            [],
            |r| r.get(0),
        )?;
        if has_groups == 2 {
            for g in names("SELECT name FROM groups ORDER BY name")? {
                let mut st = db.prepare(
                    "SELECT u.name FROM users u JOIN user_group_map m ON m.user_id = u.id \
                     JOIN groups g ON g.id = m.group_id WHERE g.name = ?1 ORDER BY u.name",
                )?;
                let members = st
                    .query_map([&g], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<_>>()?;
                groups.push(Group { name: g, members });
            }
        }
        Ok(HubUsers {
            hub: hub.to_owned(),
            users,
            admins,
            groups,
        })
    };
    read().with_context(|| format!("member {member} is not a readable JupyterHub database"))
}
