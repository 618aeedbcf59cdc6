//! Every name a bundle may contain, and the one guard every member path passes.
//!
//! Member paths come from an untrusted bundle on the way in and from an
//! untrusted repository on the way out, so both directions share
//! [`MemberPath::parse`]. Nothing else in r2r turns a string into a member path.
//!
//! Folder names exist only in [`Kind::folder`]; fixed members are the
//! constants below and derived ones are built by the functions beside
//! `Kind` (`hub_values`, `image_blob`, …), so no other file types a member
//! name out. The names are part of the signed format (docs/bundle-format.md,
//! section 3): a change here is a format change.

use std::fmt;

/// The manifest: format version, source, and every content member.
pub const MANIFEST: &str = "bundle.json";
/// GNU coreutils checksum list over every member but the signature.
pub const SUMS: &str = "SHA256SUMS";
/// minisign signature (Ed25519, prehashed) of [`SUMS`].
pub const SIGNATURE: &str = "SHA256SUMS.minisig";

/// The portability report (docs/portability-report.md).
pub const REPORT: &str = "report.json";
/// The source cluster's configuration, as the repository has it.
pub const CLUSTER: &str = "config/cluster.yaml";

/// The OCI image layout marker (section 4.5).
pub const IMAGES_LAYOUT: &str = "images/oci-layout";
/// The OCI image index: every carried image, named by reference.
pub const IMAGES_INDEX: &str = "images/index.json";
/// The folder of every image blob, by digest; ends in `/`, a prefix.
pub const IMAGES_BLOBS: &str = "images/blobs/sha256/";

/// The file name of a hub's standalone values, under `config/<hub>/`.
pub const VALUES_FILE: &str = "values.yaml";
/// The file name of a folder's sealed, merged secrets, under
/// `secrets/<folder>/`: a hub's or the support chart's.
pub const SECRETS_FILE: &str = "secret-values.yaml.age";
/// The folder the support chart's values and secrets use in place of a hub
/// name; a hub name is a DNS label, so it can never be this.
pub const SUPPORT_FOLDER: &str = "_support";
/// The folder under `charts/` of cert-manager, carried as its repository
/// publishes it (`charts/cert-manager`), and the chart's name.
pub const CERT_MANAGER: &str = "cert-manager";
/// The hub directory's record, under `homes/<hub>/`.
pub const HUB_RECORD: &str = "_hub.json";
/// A hub database's file name, under `hub-db/<hub>/`.
pub const HUB_DB_FILE: &str = "jupyterhub.sqlite";
/// The stem of a bucket's chunks and index, under `buckets/<name>/`.
pub const BUCKET_STEM: &str = "objects";

/// The three members that describe and seal the rest, in the order a tar
/// bundle stores them, last.
pub const CONTROL_MEMBERS: [&str; 3] = [MANIFEST, SUMS, SIGNATURE];

/// Longest member path: the most a POSIX ustar header holds (prefix 155,
/// `/`, name 100).
pub const MAX_PATH_BYTES: usize = 255;
const USTAR_NAME: usize = 100;
const USTAR_PREFIX: usize = 155;

/// What a content member is. The kind decides the top-level folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Config,
    Secret,
    Chart,
    Infra,
    /// The portability report, `report.json` at the top of the bundle.
    Report,
    /// Home directories: chunks, indexes and `_hub.json`, under `homes/`.
    Home,
    /// Object-storage buckets, under `buckets/`.
    Bucket,
    /// Hub databases, under `hub-db/`.
    HubDb,
    /// Container images, as one OCI image layout under `images/`.
    Image,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Config,
        Kind::Secret,
        Kind::Chart,
        Kind::Infra,
        Kind::Report,
        Kind::HubDb,
        Kind::Bucket,
        Kind::Home,
        Kind::Image,
    ];

    /// The name written in `bundle.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Secret => "secret",
            Kind::Chart => "chart",
            Kind::Infra => "infra",
            Kind::Report => "report",
            Kind::Home => "home",
            Kind::Bucket => "bucket",
            Kind::HubDb => "hub_db",
            Kind::Image => "image",
        }
    }

    /// The top-level folder every member of this kind lives under; for the
    /// report, its one top-level file. The only place folder names exist.
    pub const fn folder(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Secret => "secrets",
            Kind::Chart => "charts",
            Kind::Infra => "infra",
            Kind::Report => REPORT,
            Kind::Home => "homes",
            Kind::Bucket => "buckets",
            Kind::HubDb => "hub-db",
            Kind::Image => "images",
        }
    }

    /// The folder with its trailing `/`: what every member of this kind
    /// starts with.
    pub fn prefix(self) -> String {
        format!("{}/", self.folder())
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// `config/<hub>/values.yaml`: a hub's standalone values.
pub fn hub_values(hub: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([Kind::Config.folder(), hub, VALUES_FILE])
}

/// `secrets/<folder>/secret-values.yaml.age`: the sealed secrets of a hub
/// or, with [`SUPPORT_FOLDER`], of the support chart.
pub fn sealed_secrets(folder: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([Kind::Secret.folder(), folder, SECRETS_FILE])
}

/// `config/<folder>/<file>`: a values file of a hub or of the support chart.
pub fn config_file(folder: &str, file: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([Kind::Config.folder(), folder, file])
}

/// `charts/<folder>`: a complete chart's folder, as `bundle.json` names it.
pub fn chart(folder: &str) -> String {
    format!("{}/{folder}", Kind::Chart.folder())
}

/// `charts/<folder>/<rel>`: one file of a complete chart.
pub fn chart_file(folder: &str, rel: &str) -> String {
    format!("{}/{folder}/{rel}", Kind::Chart.folder())
}

/// The chart folder name of a `charts/<folder>` path, if it is one.
pub fn chart_folder(path: &str) -> Option<&str> {
    path.strip_prefix(Kind::Chart.folder())?.strip_prefix('/')
}

/// `infra/<rel>`: an infrastructure file at its repository path `rel`.
pub fn infra(rel: &str) -> String {
    format!("{}/{rel}", Kind::Infra.folder())
}

/// `infra/terraform/<provider>/projects/`: the folder of a provider's
/// terraform variables; ends in `/`, a prefix.
pub fn terraform_projects(provider: &str) -> String {
    infra(&format!("terraform/{provider}/projects/"))
}

/// Whether `member` is in some provider's `infra/terraform/<provider>/projects/`.
pub fn is_terraform_projects(member: &str) -> bool {
    member
        .strip_prefix(&infra("terraform/"))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| rest.starts_with("projects/") && !rest[9..].contains('/'))
}

/// `infra/eksctl/`: the eksctl config and the files it imports; ends in
/// `/`, a prefix.
pub fn eksctl_folder() -> String {
    infra("eksctl/")
}

/// `infra/eksctl/<cluster>.jsonnet`: an AWS cluster's eksctl config.
pub fn eksctl_config(cluster: &str) -> String {
    infra(&format!("eksctl/{cluster}.jsonnet"))
}

/// `homes/<hub>/_hub.json`: the hub directory itself and its list of homes.
pub fn hub_record(hub: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([Kind::Home.folder(), hub, HUB_RECORD])
}

/// `hub-db/<hub>/jupyterhub.sqlite`: a hub's database.
pub fn hub_db(hub: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([Kind::HubDb.folder(), hub, HUB_DB_FILE])
}

/// `buckets/<name>`: the folder of one bucket's objects.
pub fn bucket(name: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([Kind::Bucket.folder(), name])
}

/// `<folder>/<group>/<stem>.NNN.tar.gz`: chunk `n` of a packed tree, a home
/// (`homes/<hub>/`) or a bucket (`buckets/<name>/`, stem [`BUCKET_STEM`]).
pub fn chunk(kind: Kind, group: &str, stem: &str, n: u32) -> Result<MemberPath, PathError> {
    MemberPath::join([kind.folder(), group, &format!("{stem}.{n:03}.tar.gz")])
}

/// `<folder>/<group>/<stem>.index.jsonl`: the content index of a packed tree.
pub fn chunk_index(kind: Kind, group: &str, stem: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([kind.folder(), group, &index_file(stem)])
}

/// `<stem>.index.jsonl`: the file name of a packed tree's content index.
pub fn index_file(stem: &str) -> String {
    format!("{stem}.index.jsonl")
}

/// `<folder>/<group>/`: what every member of one hub, bucket or other
/// group of `kind` starts with.
pub fn group_prefix(kind: Kind, group: &str) -> String {
    format!("{}/{group}/", kind.folder())
}

/// `<folder>/<group>/<file>` as text, unchecked: what a dry run shows
/// before the names are checked.
pub fn shown(kind: Kind, group: &str, file: &str) -> String {
    group_prefix(kind, group) + file
}

/// The members of a packed tree as one pattern, unchecked:
/// `<folder>/<group>/<stem>.{NNN.tar.gz,index.jsonl}`.
pub fn chunks_shown(kind: Kind, group: &str, stem: &str) -> String {
    shown(kind, group, &format!("{stem}.{{NNN.tar.gz,index.jsonl}}"))
}

/// The `<group>` of a `<folder>/<group>/<file>` member of `kind`: the
/// inverse of the builders above, for finding what a bundle carries.
pub fn group_of<'a>(kind: Kind, path: &'a str, file: &str) -> Option<&'a str> {
    path.strip_prefix(kind.folder())?
        .strip_prefix('/')?
        .strip_suffix(file)?
        .strip_suffix('/')
}

/// `images/blobs/sha256/<hex>`: a manifest, index, config or layer.
pub fn image_blob(hex: &str) -> Result<MemberPath, PathError> {
    MemberPath::parse(&format!("{IMAGES_BLOBS}{hex}"))
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relative, normalised, portable member path. See `docs/bundle-format.md`,
/// "Member paths".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberPath(String);

/// Why a string is not a member path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is absolute")]
    Absolute,
    #[error("path has a `..` component")]
    ParentDir,
    #[error("path has an empty or `.` component")]
    EmptyComponent,
    #[error("path is {0} bytes, more than the {MAX_PATH_BYTES} a ustar header holds")]
    TooLong(usize),
    #[error("path cannot be split into a ustar prefix (155) and name (100)")]
    Unsplittable,
    #[error("path has the byte 0x{0:02x}, outside the portable set [A-Za-z0-9._+@=,~-]")]
    BadByte(u8),
}

impl MemberPath {
    pub fn parse(s: &str) -> Result<MemberPath, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if s.starts_with('/') {
            return Err(PathError::Absolute);
        }
        for component in s.split('/') {
            match component {
                ".." => return Err(PathError::ParentDir),
                "" | "." => return Err(PathError::EmptyComponent),
                _ => {}
            }
        }
        if let Some(b) = s.bytes().find(|&b| b != b'/' && !is_portable(b)) {
            return Err(PathError::BadByte(b));
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong(s.len()));
        }
        if !fits_ustar(s) {
            return Err(PathError::Unsplittable);
        }
        Ok(MemberPath(s.to_owned()))
    }

    /// Joins path components, each of which must itself be clean.
    pub fn join<I, S>(parts: I) -> Result<MemberPath, PathError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = parts.into_iter().map(|p| p.as_ref().to_owned()).collect();
        MemberPath::parse(&joined.join("/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first component: the folder that names the member's kind.
    pub fn top(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// True for `bundle.json`, `SHA256SUMS` and the signature.
    pub fn is_control(&self) -> bool {
        CONTROL_MEMBERS.contains(&self.0.as_str())
    }
}

impl fmt::Display for MemberPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// POSIX's portable filename characters plus a few that Helm charts and
/// escaped user names use. No space, backslash, colon or control byte: each
/// breaks `sha256sum -c`, Windows, or a terminal.
fn is_portable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'@' | b'=' | b',' | b'~')
}

fn fits_ustar(s: &str) -> bool {
    if s.len() <= USTAR_NAME {
        return true;
    }
    s.match_indices('/')
        .any(|(i, _)| i <= USTAR_PREFIX && s.len() - i - 1 <= USTAR_NAME)
}

/// The set of member paths of one bundle. It refuses a path that would
/// collide with another when extracted: the same path twice, two paths that
/// differ only in ASCII case (they overwrite each other on macOS and
/// Windows), or a path that is both a file and a folder of other members.
#[derive(Debug, Default)]
pub struct PathSet {
    files: std::collections::HashSet<String>,
    folders: std::collections::HashSet<String>,
}

impl PathSet {
    pub fn insert(&mut self, path: &MemberPath) -> Result<(), String> {
        let folded = path.0.to_ascii_lowercase();
        if self.files.contains(&folded) {
            return Err("appears twice (names are compared ignoring ASCII case)".into());
        }
        if self.folders.contains(&folded) {
            return Err("is both a file and a folder of other members".into());
        }
        let ancestors: Vec<&str> = folded
            .match_indices('/')
            .map(|(i, _)| &folded[..i])
            .collect();
        if let Some(file) = ancestors.iter().find(|a| self.files.contains(**a)) {
            return Err(format!("lies inside `{file}`, which is a file"));
        }
        self.folders
            .extend(ancestors.iter().map(|a| (*a).to_owned()));
        self.files.insert(folded);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "config/cluster.yaml",
            "secrets/lis/enc-lis.secret.values.yaml",
            "charts/basehub/templates/_helpers.tpl",
            ".helmignore",
        ] {
            assert_eq!(
                MemberPath::parse(p).map(|m| m.to_string()),
                Ok(p.to_owned())
            );
        }
    }

    #[test]
    fn rejects_escapes_and_oddities() {
        assert_eq!(MemberPath::parse("../x"), Err(PathError::ParentDir));
        assert_eq!(MemberPath::parse("a/../x"), Err(PathError::ParentDir));
        assert_eq!(MemberPath::parse("/etc/x"), Err(PathError::Absolute));
        assert_eq!(MemberPath::parse(""), Err(PathError::Empty));
        assert_eq!(MemberPath::parse("a//b"), Err(PathError::EmptyComponent));
        assert_eq!(MemberPath::parse("a/./b"), Err(PathError::EmptyComponent));
        assert_eq!(MemberPath::parse("a/"), Err(PathError::EmptyComponent));
        assert_eq!(MemberPath::parse("a\\b"), Err(PathError::BadByte(b'\\')));
        assert_eq!(MemberPath::parse("a\nb"), Err(PathError::BadByte(b'\n')));
        assert_eq!(MemberPath::parse("a b"), Err(PathError::BadByte(b' ')));
        assert_eq!(MemberPath::parse("é"), Err(PathError::BadByte(0xc3)));
    }

    #[test]
    fn enforces_ustar_limits() {
        let long_name = "a".repeat(101);
        assert_eq!(MemberPath::parse(&long_name), Err(PathError::Unsplittable));
        let split = format!("{}/{}", "d".repeat(155), "n".repeat(99));
        assert!(MemberPath::parse(&split).is_ok());
        let too_long = format!("{}/{}", "d".repeat(155), "n".repeat(101));
        assert_eq!(MemberPath::parse(&too_long), Err(PathError::TooLong(257)));
    }

    #[test]
    fn path_set_refuses_collisions() {
        let p = |s: &str| MemberPath::parse(s).unwrap();
        let mut set = PathSet::default();
        set.insert(&p("config/a.yaml")).unwrap();
        assert!(set.insert(&p("config/a.yaml")).is_err());
        assert!(set.insert(&p("Config/A.yaml")).is_err());
        assert!(set.insert(&p("config")).is_err());
        assert!(set.insert(&p("config/a.yaml/b")).is_err());
        set.insert(&p("config/b.yaml")).unwrap();
    }

    #[test]
    fn fixed_members_sit_in_their_kinds_folders() {
        for (path, kind) in [
            (CLUSTER, Kind::Config),
            (IMAGES_LAYOUT, Kind::Image),
            (IMAGES_INDEX, Kind::Image),
            (IMAGES_BLOBS, Kind::Image),
        ] {
            assert!(path.starts_with(&kind.prefix()), "{path}");
            assert!(
                MemberPath::parse(path.trim_end_matches('/')).is_ok(),
                "{path}"
            );
        }
    }

    /// The names docs/bundle-format.md section 3 lists: signed bundles in
    /// the wild carry them, so they never change.
    #[test]
    fn derived_names_are_the_documented_ones() {
        let s = |p: Result<MemberPath, PathError>| p.unwrap().to_string();
        assert_eq!(s(hub_values("prod")), "config/prod/values.yaml");
        assert_eq!(
            s(config_file("_support", "a.yaml")),
            "config/_support/a.yaml"
        );
        assert_eq!(
            s(sealed_secrets(SUPPORT_FOLDER)),
            "secrets/_support/secret-values.yaml.age"
        );
        assert_eq!(chart("basehub"), "charts/basehub");
        assert_eq!(
            chart_file("basehub", "Chart.yaml"),
            "charts/basehub/Chart.yaml"
        );
        assert_eq!(chart_folder("charts/basehub"), Some("basehub"));
        assert_eq!(chart_folder("chartsx/basehub"), None);
        assert_eq!(terraform_projects("gcp"), "infra/terraform/gcp/projects/");
        assert!(is_terraform_projects(
            "infra/terraform/azure/projects/utoronto.tfvars"
        ));
        assert!(!is_terraform_projects(
            "infra/terraform/azure/other/utoronto.tfvars"
        ));
        assert!(!is_terraform_projects(
            "infra/terraform/azure/projects/a/b.tfvars"
        ));
        assert_eq!(s(hub_record("prod")), "homes/prod/_hub.json");
        assert_eq!(s(hub_db("prod")), "hub-db/prod/jupyterhub.sqlite");
        assert_eq!(s(bucket("b")), "buckets/b");
        assert_eq!(
            s(chunk(Kind::Home, "prod", "alice", 7)),
            "homes/prod/alice.007.tar.gz"
        );
        assert_eq!(
            s(chunk_index(Kind::Bucket, "b", BUCKET_STEM)),
            "buckets/b/objects.index.jsonl"
        );
        assert_eq!(
            chunks_shown(Kind::Home, "prod", "alice"),
            "homes/prod/alice.{NNN.tar.gz,index.jsonl}"
        );
        assert_eq!(s(image_blob("ab12")), "images/blobs/sha256/ab12");
        assert_eq!(
            group_prefix(Kind::Config, SUPPORT_FOLDER),
            "config/_support/"
        );
        assert_eq!(
            shown(Kind::HubDb, "p", HUB_DB_FILE),
            "hub-db/p/jupyterhub.sqlite"
        );
        assert_eq!(
            group_of(Kind::Home, "homes/prod/_hub.json", HUB_RECORD),
            Some("prod")
        );
        assert_eq!(group_of(Kind::Home, "homes/_hub.json", HUB_RECORD), None);
        assert_eq!(group_of(Kind::Home, "homes/p/x_hub.json", HUB_RECORD), None);
        assert_eq!(
            group_of(Kind::Bucket, "homes/p/_hub.json", HUB_RECORD),
            None
        );
        assert_eq!(Kind::HubDb.prefix(), "hub-db/");
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            Kind::parse("images"),
            None,
            "the kind is `image`, its folder `images`"
        );
    }
}
