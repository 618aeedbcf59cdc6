//! The export flags for user data: homes, buckets, hub databases.

/// Shared by `r2r export`; see `docs/homes.md`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "User data")]
pub(super) struct DataArgs {
    /// Home directories laid out as HUB/USER/: a path (the provider's NFS
    /// volume, mounted), file://, s3://BUCKET/PREFIX, gs://… or azblob://…
    #[arg(long, value_name = "URL")]
    pub homes: Option<String>,
    /// Carry only homes whose directory name matches this glob; repeatable.
    #[arg(long = "user", value_name = "GLOB")]
    pub users: Vec<String>,
    /// Leave out paths inside homes matching PATTERN (`.cache/`, `*.pyc`,
    /// `work/tmp/*`); repeatable. Without `/` it matches a name at any
    /// depth; a trailing `/` matches directories only.
    #[arg(long = "exclude", value_name = "PATTERN")]
    pub excludes: Vec<String>,
    /// Carry a bucket or prefix as NAME (scratch, persistent, …); repeatable.
    #[arg(long = "bucket", value_name = "NAME=URL")]
    pub buckets: Vec<String>,
    /// Carry a hub's database (jupyterhub.sqlite); repeatable.
    #[arg(long = "hub-db", value_name = "HUB=PATH")]
    pub hub_dbs: Vec<String>,
    /// Start a new chunk after this many MiB of a home.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub chunk_mib: u64,
    /// Compressing threads. Default: one per core.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Deflate level (1–9) for data that compresses; incompressible files
    /// are stored either way.
    #[arg(long, value_name = "N", default_value_t = 4, hide = true)]
    pub level: u32,
    /// Continue an export of the same output that was interrupted: keep
    /// every member it completed (each chunk of a home included) and go on
    /// from there. Exports carrying homes or buckets leave what they
    /// completed beside the output when they fail.
    #[arg(long)]
    pub resume: bool,
}
