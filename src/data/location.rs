//! Where homes and buckets are read from or restored to: a path, or an
//! object-storage URL.
//!
//! Accepted forms:
//! - `/srv/homes`, `./homes`, `file:///srv/homes`: a local directory;
//! - `s3://BUCKET[/PREFIX]`, `gs://BUCKET[/PREFIX]`,
//!   `azblob://CONTAINER[/PREFIX]`: object storage, with credentials and
//!   endpoints from the usual environment (docs/homes.md).
//!
//! Query parameters set what the environment does not: `?endpoint=URL`
//! (an S3-compatible server, or an Azure account endpoint) and
//! `?region=NAME`.

use std::path::PathBuf;

use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Object(ObjectUrl),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
    Azblob,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    pub scheme: Scheme,
    /// Bucket, or Azure container.
    pub bucket: String,
    /// Key prefix without leading or trailing `/`; empty for the whole bucket.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl ObjectUrl {
    /// The key of `rel` under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azblob => "azblob",
        };
        write!(f, "{scheme}://{}", self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

pub fn parse(url: &str) -> Result<Location> {
    let Some((scheme, rest)) = url.split_once("://") else {
        if url.is_empty() {
            bail!("an empty location");
        }
        return Ok(Location::Local(PathBuf::from(url)));
    };
    let scheme = match scheme {
        "file" => {
            if !rest.starts_with('/') {
                bail!("{url:?}: a file:// URL needs an absolute path (file:///srv/homes)");
            }
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        "s3" => Scheme::S3,
        "gs" | "gcs" => Scheme::Gcs,
        "azblob" | "az" => Scheme::Azblob,
        other => bail!(
            "{url:?}: unknown scheme {other:?}; use a path, file://, s3://, gs:// or azblob://"
        ),
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        bail!("{url:?} names no bucket");
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|c| c == ".." || c == ".") {
        bail!("{url:?}: the prefix may not hold `.` or `..`");
    }
    let mut out = ObjectUrl {
        scheme,
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        endpoint: None,
        region: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("endpoint", v)) => out.endpoint = Some(v.to_owned()),
            Some(("region", v)) => out.region = Some(v.to_owned()),
            _ => bail!("{url:?}: unknown parameter {pair:?}; known: endpoint, region"),
        }
    }
    Ok(Location::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("homes").unwrap(), Location::Local("homes".into()));
        assert_eq!(
            parse("file:///srv/h").unwrap(),
            Location::Local("/srv/h".into())
        );
        let Location::Object(o) =
            parse("s3://b/home/prod/?endpoint=http://127.0.0.1:9&region=us-east-1").unwrap()
        else {
            panic!()
        };
        assert_eq!(o.bucket, "b");
        assert_eq!(o.prefix, "home/prod");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(o.key("x"), "home/prod/x");
        assert!(parse("ftp://x").is_err());
        assert!(parse("s3:///x").is_err());
        assert!(parse("s3://b/../x").is_err());
        assert!(parse("file://rel").is_err());
    }
}
