//! Each hub's secrets: the bundle's sealed secret values opened with the
//! community's age identity, with the new OAuth client from the answers.
//! The local target keeps them decrypted, 0600; cloud workspaces keep them
//! sealed again for the same identity, and Helm gets them through a 0600
//! temporary file (steps/helm.rs).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};

use super::{Done, Planned, files};
use crate::install::answers::secret_value;
use crate::install::blueprint::StepKind;
use crate::install::{HubPlan, Install, cluster_layer, layout};
use crate::secrets::seal::Recipients;
use crate::values::tree::{self, KeyPath, Values};

/// Whether this target keeps secrets decrypted on disk.
fn plain(i: &Install) -> bool {
    i.blueprint.target == "local"
}

pub(crate) fn path(i: &Install, hub: &str) -> PathBuf {
    i.dir.join(layout::hub_secrets(hub, !plain(i)))
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(
        StepKind::Secrets,
        if plain(i) {
            "decrypt each hub's secrets (0600) with the new OAuth clients"
        } else {
            "re-seal each hub's secrets with the new OAuth clients"
        },
    );
    for h in i.hubs.iter().filter(|h| has_secrets(i, h)) {
        p.creates.push(rel(&path(i, &h.facts.name), &i.dir));
    }
    if cluster_layer::layer(i).is_some() {
        p.creates.push(format!(
            "{} (a Prometheus password generated for the community)",
            layout::SUPPORT_SECRETS
        ));
    }
    Ok(p)
}

fn rel(p: &Path, dir: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

fn has_secrets(i: &Install, h: &HubPlan) -> bool {
    h.facts.secrets.is_some() || new_client(i, h).is_some()
}

/// The answered OAuth client id and secret, unless `keep`.
fn new_client(i: &Install, h: &HubPlan) -> Option<(String, String)> {
    let key = |k: &str| format!("hubs.{}.{k}", h.facts.name);
    let id = i.answers.str(&key("oauth_client_id"))?;
    if id == "keep" || h.facts.oauth_class.is_empty() {
        return None;
    }
    let secret = i.answers.str(&key("oauth_client_secret"))?;
    Some((id.to_owned(), secret.to_owned()))
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    let ids = identities(i)?;
    let mut n = 0;
    for h in &i.hubs {
        if !has_secrets(i, h) {
            continue;
        }
        let plain_text = hub_secrets(i, h, &ids)?;
        let out = path(i, &h.facts.name);
        if plain(i) {
            files::write_if_changed(i.stamp, &out, plain_text.as_bytes(), 0o600)?;
        } else if open_file(&out, &ids).ok().as_deref() != Some(plain_text.as_bytes()) {
            let mut r = Recipients::default();
            for id in &ids {
                r.add(&id.to_public().to_string(), "the age identity")?;
            }
            files::write_if_changed(i.stamp, &out, &r.seal(plain_text.as_bytes())?, 0o644)?;
        }
        n += 1;
    }
    let support = if cluster_layer::seal_secrets(i, &ids)? {
        ", the support release's sealed"
    } else {
        ""
    };
    Ok(Done::new(
        format!(
            "{n} hubs' secrets {}{support}",
            if plain(i) { "decrypted" } else { "sealed" }
        ),
        0,
    ))
}

/// The hub's secret values as Helm reads them.
pub(crate) fn hub_secrets(
    i: &Install,
    h: &HubPlan,
    ids: &[age::x25519::Identity],
) -> Result<String> {
    let mut values = match &h.facts.secrets {
        Some(member) => {
            let sealed = i.trusted.read_small(member, 16 << 20)?;
            let text =
                open(&sealed, ids).with_context(|| format!("cannot open member {member}"))?;
            let text =
                String::from_utf8(text).with_context(|| format!("member {member} is not UTF-8"))?;
            tree::parse_yaml(&text).with_context(|| format!("member {member} is not valid YAML"))?
        }
        None => Values::Mapping(Default::default()),
    };
    if let Some((id, secret)) = new_client(i, h) {
        let mut section = if h.facts.values_root.is_empty() {
            KeyPath::root()
        } else {
            KeyPath::root().key(&h.facts.values_root)
        };
        section = section
            .key("jupyterhub")
            .key("hub")
            .key("config")
            .key(&h.facts.oauth_class);
        let secret = secret_value(&secret)?;
        tree::set(&mut values, &section.key("client_id"), Values::String(id));
        tree::set(
            &mut values,
            &section.key("client_secret"),
            Values::String(secret),
        );
    }
    Ok(format!(
        "# Hub {}'s secrets, from bundle {}. Keep this file private.\n{}",
        h.facts.name,
        i.facts.bundle_id,
        tree::to_helm_text(&values)?
    ))
}

/// The age identities of the `age_identity` answer.
pub(crate) fn identities(i: &Install) -> Result<Vec<age::x25519::Identity>> {
    let Some(path) = i.answers.str("age_identity") else {
        if i.hubs.iter().any(|h| h.facts.secrets.is_some()) {
            bail!("the bundle has secrets, and no age_identity was given to open them");
        }
        return Ok(Vec::new());
    };
    let text = crate::source::repo::read_text(Path::new(path), 1 << 20)?;
    let ids: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .map(|l| {
            age::x25519::Identity::from_str(l)
                .map_err(|_| anyhow!("{path}: a line is not a valid age identity"))
        })
        .collect::<Result<_>>()?;
    if ids.is_empty() {
        bail!("{path} holds no age identity (AGE-SECRET-KEY-…)");
    }
    Ok(ids)
}

pub(crate) fn open(sealed: &[u8], ids: &[age::x25519::Identity]) -> Result<Vec<u8>> {
    let armored = age::armor::ArmoredReader::new(sealed);
    let d = age::Decryptor::new(armored).context("not an age file")?;
    let mut r = d
        .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| anyhow!("the age identity does not open it: {e}"))?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).context("age decryption")?;
    Ok(out)
}

pub(crate) fn open_file(path: &Path, ids: &[age::x25519::Identity]) -> Result<Vec<u8>> {
    open(&std::fs::read(path)?, ids)
}
