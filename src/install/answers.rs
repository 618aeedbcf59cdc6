//! Answers: what the installer was told, by file, flag or prompt, keyed by
//! dotted path (`gcp.project`, `hubs.prod.domain`). Each question of the
//! blueprint is resolved in order: a given answer, else the derived
//! default, else a prompt, else it is missing. Every missing key is
//! reported at once.
//!
//! A derived default is a guess made for the user, so it is never an
//! error: one that is built from an answer still empty, or that fails the
//! question's check, is dropped, and the question is left to be answered.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value as Json, json};

use super::blueprint::{AnswerKind, Blueprint, Common, Question};
use super::facts::{Facts, HubFacts};
use super::names;
use super::render::Renderer;

/// The answers, as a nested JSON object.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answers {
    root: Map<String, Json>,
    /// Keys whose values never reach a file, a log or the journal.
    secret: BTreeSet<String>,
}

impl Answers {
    /// An answers file: YAML, nested or with dotted keys.
    pub(crate) fn load(path: &Path) -> Result<Answers> {
        let text = crate::source::repo::read_text(path, 1 << 20)?;
        let values = crate::values::tree::parse_yaml(&text)
            .with_context(|| format!("{} is not valid YAML", path.display()))?;
        let json = crate::values::tree::to_json(&values)
            .with_context(|| format!("{} cannot be read as answers", path.display()))?;
        let mut out = Answers::default();
        match json {
            Json::Object(m) => out.merge("", m),
            Json::Null => {}
            _ => bail!(
                "{}: answers must be a mapping of keys to values",
                path.display()
            ),
        }
        Ok(out)
    }

    fn merge(&mut self, prefix: &str, m: Map<String, Json>) {
        for (k, v) in m {
            let key = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Json::Object(inner) if !inner.is_empty() => self.merge(&key, inner),
                other => self.set(&key, other),
            }
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        let mut parts = key.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: Json) {
        let parts: Vec<&str> = key.split('.').collect();
        let Some((last, parents)) = parts.split_last() else {
            return;
        };
        let mut cur = &mut self.root;
        for p in parents {
            let entry = cur
                .entry((*p).to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            if !entry.is_object() {
                *entry = Json::Object(Map::new());
            }
            let Json::Object(next) = entry else { return };
            cur = next;
        }
        cur.insert((*last).to_owned(), value);
    }

    /// Forgets an answer: one that does not apply must not linger where
    /// the journal or a template could see it.
    pub(crate) fn remove(&mut self, key: &str) {
        let parts: Vec<&str> = key.split('.').collect();
        let Some((last, parents)) = parts.split_last() else {
            return;
        };
        let mut cur = &mut self.root;
        for p in parents {
            match cur.get_mut(*p) {
                Some(Json::Object(next)) => cur = next,
                _ => return,
            }
        }
        cur.remove(*last);
    }

    pub(crate) fn mark_secret(&mut self, key: &str) {
        self.secret.insert(key.to_owned());
    }

    /// Every answer by dotted key.
    pub(crate) fn flat(&self) -> Vec<(String, &Json)> {
        fn walk<'a>(prefix: &str, m: &'a Map<String, Json>, out: &mut Vec<(String, &'a Json)>) {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Json::Object(inner) => walk(&key, inner, out),
                    other => out.push((key, other)),
                }
            }
        }
        let mut out = Vec::new();
        walk("", &self.root, &mut out);
        out
    }

    /// The answers without secrets: what templates, the journal and the
    /// plan may see.
    pub(crate) fn public(&self) -> Json {
        let mut copy = Answers::default();
        for (k, v) in self.flat() {
            let reference = v.as_str().is_some_and(|s| s.starts_with("env:"));
            if !self.secret.contains(&k) || reference {
                copy.set(&k, v.clone());
            }
        }
        Json::Object(copy.root)
    }
}

/// How unanswered questions are handled.
pub(crate) trait Asker {
    /// Asks one question; `None` when this asker does not ask (then the
    /// question is missing).
    fn ask(&mut self, q: &Asking<'_>) -> Result<Option<String>>;
}

/// Never asks: every unanswered question without a default is missing.
pub(crate) struct NoAsk;

impl Asker for NoAsk {
    fn ask(&mut self, _: &Asking<'_>) -> Result<Option<String>> {
        Ok(None)
    }
}

/// One question as shown to a person.
pub(crate) struct Asking<'a> {
    pub key: &'a str,
    pub prompt: &'a str,
    pub help: Option<&'a str>,
    pub kind: AnswerKind,
    pub default: Option<&'a str>,
    pub optional: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Missing {
    pub key: String,
    pub prompt: String,
}

pub(crate) struct Resolver<'a> {
    pub blueprint: &'a Blueprint,
    pub common: &'a Common,
    pub facts: &'a Facts,
    pub renderer: Renderer,
    /// Take derived defaults without asking, even for `confirm` questions.
    pub accept_defaults: bool,
    /// Where a missing required answer gets a placeholder instead of being
    /// reported (the answers template, the local target's workspace for
    /// another cloud).
    pub placeholder: Option<String>,
    /// Every question that applied, in order, as resolved.
    pub record: Vec<Recorded>,
    /// Given answers that are no question of this target, dropped.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub key: String,
    pub prompt: String,
    pub help: Option<String>,
    pub kind: AnswerKind,
    pub optional: bool,
    /// Why the blueprint's default was not offered, when it was dropped.
    pub not_derived: Option<String>,
    /// Whether the answer came from a derived default (the tests check
    /// which answers were guessed).
    #[cfg(test)]
    pub derived: bool,
}

impl Resolver<'_> {
    pub(crate) fn resolve(&mut self, given: &Answers, asker: &mut dyn Asker) -> Result<Answers> {
        let mut answers = given.clone();
        answers.set("target", json!(self.blueprint.target));
        let mut missing = Vec::new();
        let mut used: BTreeSet<String> = ["target".to_owned()].into();
        let top: Vec<Question> = self
            .blueprint
            .questions
            .iter()
            .chain(&self.common.questions)
            .cloned()
            .collect();
        for q in &top {
            used.insert(q.key.clone());
            self.one(q, &q.key, None, &mut answers, asker, &mut missing)?;
        }
        let selected = selected_hubs(&answers, self.facts);
        for hub in self
            .facts
            .hubs
            .iter()
            .filter(|h| selected.contains(&h.name))
        {
            let per_hub: Vec<Question> = self
                .common
                .hub_questions
                .iter()
                .chain(&self.blueprint.hub_questions)
                .cloned()
                .collect();
            for q in &per_hub {
                let key = format!("hubs.{}.{}", hub.name, q.key);
                used.insert(key.clone());
                self.one(q, &key, Some(hub), &mut answers, asker, &mut missing)?;
            }
        }
        self.sizes(&mut answers, asker, &mut missing, &mut used)?;
        self.bucket_names(&mut answers, asker, &mut missing, &mut used)?;
        if !missing.is_empty() {
            let list: Vec<String> = missing
                .iter()
                .map(|m| format!("  {}: {}", m.key, m.prompt))
                .collect();
            return Err(anyhow!(MissingAnswers(missing.clone()))).context(format!(
                "{} answers are missing:\n{}\nhint: `r2r install --print-answers-template BUNDLE --pubkey PUB` writes a file to fill in; pass it with --answers",
                missing.len(),
                list.join("\n")
            ));
        }
        for (k, _) in given.flat() {
            if !used.contains(&k) {
                answers.remove(&k);
                self.ignored.push(k);
            }
        }
        Ok(answers)
    }

    fn context(&self, answers: &Answers, hub: Option<&HubFacts>) -> Json {
        let public = answers.public();
        let this = hub
            .and_then(|h| public.get("hubs").and_then(|hs| hs.get(&h.name)).cloned())
            .unwrap_or(Json::Null);
        json!({
            "target": self.blueprint.target,
            "facts": self.facts,
            "answers": public,
            "hub": hub,
            "answer": this,
        })
    }

    fn one(
        &mut self,
        q: &Question,
        key: &str,
        hub: Option<&HubFacts>,
        answers: &mut Answers,
        asker: &mut dyn Asker,
        missing: &mut Vec<Missing>,
    ) -> Result<()> {
        if q.kind == AnswerKind::Secret {
            answers.mark_secret(key);
        }
        let ctx = self.context(answers, hub);
        if let Some(when) = &q.when
            && self.renderer.text(when, &ctx)? != "true"
        {
            answers.remove(key);
            return Ok(());
        }
        let prompt = self.renderer.text(&q.prompt, &ctx)?;
        let help = match &q.help {
            Some(h) => Some(self.renderer.text(h, &ctx)?),
            None => None,
        };
        let (default, not_derived) = match &q.default {
            Some(t) => match self.derive(t, q.kind, &ctx)? {
                Derived::Value(d) => (Some(d), None),
                Derived::None => (None, None),
                Derived::Dropped(why) => (None, Some(why)),
            },
            None => (None, None),
        };
        let asked = Recorded {
            key: key.to_owned(),
            prompt,
            help,
            kind: q.kind,
            optional: q.optional,
            not_derived,
            #[cfg(test)]
            derived: default.is_some(),
        };
        self.settle(asked, default, q.confirm, answers, asker, missing)
    }

    /// Each size from the bundle above its limit is a question of its own
    /// (`sizes.…`, a number), when the install renders terraform.
    fn sizes(
        &mut self,
        answers: &mut Answers,
        asker: &mut dyn Asker,
        missing: &mut Vec<Missing>,
        used: &mut BTreeSet<String>,
    ) -> Result<()> {
        let Some(sizes) = super::sizes::of_install(self.blueprint, self.facts, answers)? else {
            return Ok(());
        };
        for b in sizes.over_limit() {
            used.insert(b.key.clone());
            let asked = Recorded {
                key: b.key.clone(),
                prompt: b.prompt(),
                help: None,
                kind: AnswerKind::Number,
                optional: false,
                not_derived: None,
                #[cfg(test)]
                derived: false,
            };
            self.settle(asked, None, false, answers, asker, missing)?;
        }
        Ok(())
    }

    /// Each source bucket an installed hub owns gets a new name of its own
    /// (`bucket_names.<key>`), on targets whose terraform makes buckets.
    fn bucket_names(
        &mut self,
        answers: &mut Answers,
        asker: &mut dyn Asker,
        missing: &mut Vec<Missing>,
        used: &mut BTreeSet<String>,
    ) -> Result<()> {
        if self.blueprint.module.is_none() {
            return Ok(());
        }
        let selected = selected_hubs(answers, self.facts);
        for b in &self.facts.source_buckets {
            if !b.hubs.is_empty() && !b.hubs.iter().any(|h| selected.contains(h)) {
                continue;
            }
            let key = super::buckets::answer_key(&b.key);
            used.insert(key.clone());
            let default = super::buckets::default_name(&self.blueprint.target, answers, b);
            let asked = Recorded {
                key,
                prompt: format!(
                    "Name of the new bucket for the source's bucket {} ({}; hubs {})",
                    b.key,
                    b.source_name,
                    if b.hubs.is_empty() {
                        "all".to_owned()
                    } else {
                        b.hubs.join(", ")
                    }
                ),
                help: None,
                kind: AnswerKind::Name,
                optional: false,
                not_derived: None,
                #[cfg(test)]
                derived: default.is_some(),
            };
            self.settle(asked, default, false, answers, asker, missing)?;
        }
        Ok(())
    }

    /// A question rendered: the given answer, else a person's, else the
    /// derived default, else a placeholder, else it is missing.
    fn settle(
        &mut self,
        asked: Recorded,
        default: Option<String>,
        confirm: bool,
        answers: &mut Answers,
        asker: &mut dyn Asker,
        missing: &mut Vec<Missing>,
    ) -> Result<()> {
        self.record.push(asked.clone());
        let Recorded {
            key,
            prompt,
            help,
            kind,
            optional,
            ..
        } = asked;
        let key = key.as_str();
        if let Some(v) = answers.get(key).cloned() {
            if !blank(kind, &v) {
                let v = normalise(kind, &v, self.facts).with_context(|| format!("answer {key}"))?;
                answers.set(key, v);
                return Ok(());
            }
            if optional {
                answers.set(key, json!(""));
                return Ok(());
            }
        }
        let ask_it = default.is_none() || (confirm && !self.accept_defaults);
        if ask_it {
            let asking = Asking {
                key,
                prompt: &prompt,
                help: help.as_deref(),
                kind,
                default: default.as_deref(),
                optional,
            };
            if let Some(text) = asker.ask(&asking)? {
                if text.is_empty() && optional {
                    answers.set(key, json!(""));
                    return Ok(());
                }
                let v = normalise(kind, &json!(text), self.facts)
                    .with_context(|| format!("answer {key}"))?;
                answers.set(key, v);
                return Ok(());
            }
        }
        if let Some(d) = default {
            let v = normalise(kind, &json!(d), self.facts)
                .with_context(|| format!("the derived default for {key}"))?;
            answers.set(key, v);
        } else if optional {
            answers.set(key, json!(""));
        } else if let Some(p) = &self.placeholder {
            answers.set(key, json!(p));
        } else {
            missing.push(Missing {
                key: key.to_owned(),
                prompt,
            });
        }
        Ok(())
    }

    /// A question's derived default, rendered from `ctx`. Dropped when it
    /// needs an answer that is still empty (rendered without the empty
    /// answers, it fails or comes out different: `-r2r-tfstate` from an
    /// empty project) or when it fails the question's own check; a guess
    /// the user never made must not stop the install.
    fn derive(&mut self, template: &str, kind: AnswerKind, ctx: &Json) -> Result<Derived> {
        let full = self.renderer.text(template, ctx)?;
        if full.is_empty() {
            return Ok(Derived::None);
        }
        let sparse = without_empty(ctx);
        match self.renderer.text(template, &sparse) {
            Ok(same) if same == full => {}
            _ => {
                return Ok(Derived::Dropped(
                    "it is built from an answer still empty; fill that in, and the template printed again derives it".into(),
                ));
            }
        }
        if let Err(e) = normalise(kind, &json!(full), self.facts) {
            return Ok(Derived::Dropped(crate::text::one_line(&e)));
        }
        Ok(Derived::Value(full))
    }
}

enum Derived {
    Value(String),
    /// The blueprint derives nothing here.
    None,
    /// The blueprint's default would be wrong; the reason says why.
    Dropped(String),
}

/// The template context with every empty string and null taken out, so
/// that a default reading one of them fails to render instead of building
/// a name from nothing. Facts are kept whole: an empty fact is a fact.
fn without_empty(ctx: &Json) -> Json {
    fn prune(v: &Json) -> Option<Json> {
        match v {
            Json::Null => None,
            Json::String(s) if s.is_empty() => None,
            Json::Object(m) => Some(Json::Object(
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), prune(v)?)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let mut out = ctx.clone();
    if let Json::Object(m) = &mut out {
        for k in ["answers", "answer"] {
            match m.get(k).and_then(prune) {
                Some(v) => {
                    m.insert(k.to_owned(), v);
                }
                None => {
                    m.remove(k);
                }
            }
        }
    }
    out
}

/// An empty answer is no answer: the answers template writes what it
/// cannot derive as `""`, and a file handed back with some of those still
/// empty must take their derived defaults or list them as missing, not
/// fail on the first (an optional one stays empty). List kinds are
/// exempt: an empty list of globs or buckets means "none".
fn blank(kind: AnswerKind, v: &Json) -> bool {
    let empty = match v {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        _ => false,
    };
    empty
        && !matches!(
            kind,
            AnswerKind::Globs | AnswerKind::Hubs | AnswerKind::Buckets
        )
}

/// The error behind a list of missing answers, for callers that print it
/// as JSON.
#[derive(Debug)]
pub(crate) struct MissingAnswers(pub Vec<Missing>);

impl std::fmt::Display for MissingAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} missing answers", self.0.len())
    }
}

impl std::error::Error for MissingAnswers {}

pub(crate) fn selected_hubs(answers: &Answers, facts: &Facts) -> Vec<String> {
    match answers.get("selected_hubs") {
        Some(Json::Array(_)) => answers.list("selected_hubs"),
        _ => facts.hub_names.clone(),
    }
}

/// Checks an answer for its kind, and gives it its stored form: lists for
/// list kinds, trimmed strings otherwise.
pub(crate) fn normalise(kind: AnswerKind, v: &Json, facts: &Facts) -> Result<Json> {
    let text = answer_text(kind, v)?;
    match kind {
        AnswerKind::Name => names::cloud_name(&text)?,
        AnswerKind::Label => names::label(&text)?,
        AnswerKind::Domain => {
            names::domain(&text)?;
            return Ok(json!(text.to_ascii_lowercase()));
        }
        AnswerKind::Email => names::email(&text)?,
        AnswerKind::GitUrl => git_url(&text)?,
        AnswerKind::Path => {
            names::printable(&text)?;
            if text.is_empty() {
                bail!("a path is expected");
            }
        }
        AnswerKind::File => {
            let expanded = expand_home(&text);
            if !Path::new(&expanded).is_file() {
                bail!("{text} is not a file");
            }
            return Ok(json!(expanded));
        }
        AnswerKind::Secret => {
            let resolved = secret_value(&text)?;
            names::printable(&resolved)?;
            if resolved.is_empty() {
                bail!("the secret is empty");
            }
            return Ok(json!(text));
        }
        AnswerKind::Registry => {
            if !text.is_empty() {
                crate::images::push::Target::parse(&text)?;
            }
        }
        AnswerKind::Image => {
            crate::images::reference::ImageRef::parse(&text).map_err(|e| anyhow!("{e}"))?;
        }
        AnswerKind::ObjectUrl => {
            names::printable(&text)?;
            crate::data::location::parse(&text)?;
        }
        AnswerKind::OauthClient => {
            names::printable(&text)?;
            if text.is_empty() || text.len() > 256 || text.contains(char::is_whitespace) {
                bail!("an OAuth client id (or `keep`) is expected");
            }
        }
        AnswerKind::Number => return Ok(json!(super::sizes::number(&json!(text))?)),
        AnswerKind::Globs | AnswerKind::Hubs | AnswerKind::Buckets => {
            return list_answer(kind, v, facts);
        }
    }
    Ok(json!(text))
}

/// An answer's text, as the scalar kinds check it. List kinds read the
/// value itself, so any shape passes here for them.
fn answer_text(kind: AnswerKind, v: &Json) -> Result<String> {
    Ok(match v {
        Json::String(s) => s.trim().to_owned(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        _ if matches!(
            kind,
            AnswerKind::Globs | AnswerKind::Hubs | AnswerKind::Buckets
        ) =>
        {
            String::new()
        }
        _ => bail!("a string is expected"),
    })
}

/// A URL git can clone, and safe to put on a command line unquoted.
fn git_url(text: &str) -> Result<()> {
    names::printable(text)?;
    let ok = (text.starts_with("https://") || text.starts_with("git@"))
        && text.len() <= 2048
        && !text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '`' | '$'));
    if !ok {
        bail!("a git repository URL is expected (https://… or git@host:owner/repo)");
    }
    Ok(())
}

/// A list answer: a list of strings, or one comma-separated string.
fn list_items(v: &Json) -> Result<Vec<String>> {
    Ok(match v {
        Json::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| anyhow!("a list of strings is expected"))
            })
            .collect::<Result<_>>()?,
        Json::String(s) => s
            .split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect(),
        Json::Null => Vec::new(),
        _ => bail!("a list (or a comma-separated string) is expected"),
    })
}

/// Globs must compile; hubs and buckets must be ones the bundle carries.
fn list_answer(kind: AnswerKind, v: &Json, facts: &Facts) -> Result<Json> {
    if kind == AnswerKind::Globs {
        let globs = list_items(v)?;
        crate::data::select::Selection::new(&globs, &[])?;
        return Ok(json!(globs));
    }
    let items = list_items(v)?;
    let (known, what) = if kind == AnswerKind::Hubs {
        (&facts.hub_names, "hub")
    } else {
        (&facts.bucket_names, "bucket")
    };
    for i in &items {
        if !known.contains(i) {
            bail!(
                "the bundle has no {what} {:?}; it has: {}",
                crate::text::safe(i),
                known.join(", ")
            );
        }
    }
    if kind == AnswerKind::Hubs && items.is_empty() {
        bail!("at least one hub is needed");
    }
    Ok(json!(items))
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => p.to_owned(),
    }
}

/// A secret answer: the value itself, or `env:NAME` to read it from the
/// environment (so it need not sit in an answers file).
pub(crate) fn secret_value(text: &str) -> Result<String> {
    match text.strip_prefix("env:") {
        Some(name) => {
            std::env::var(name).map_err(|_| anyhow!("the environment variable {name} is not set"))
        }
        None => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::blueprint;
    use crate::install::facts::SourceFacts;

    fn facts(cloud: &str, community_pays: bool, id: &str) -> Facts {
        let hub = HubFacts {
            name: "staging".into(),
            domain: "staging.example.org".into(),
            domain_owned: false,
            chart: "basehub".into(),
            chart_path: "charts/basehub".into(),
            chart_folders: vec!["charts/basehub".into()],
            chart_complete: true,
            values_root: String::new(),
            oauth: "github".into(),
            oauth_class: "GitHubOAuthenticator".into(),
            secrets: Some("secrets/staging/secret-values.yaml.age".into()),
            homes: true,
            home_bytes: 1,
            hub_db: false,
            source_disk_gb: None,
            settings: Default::default(),
            demands: Vec::new(),
        };
        Facts {
            cluster: "c".into(),
            provider: "2i2c".into(),
            bundle_id: "c-20250101000000".into(),
            pubkey: "key".into(),
            hub_names: vec![hub.name.clone()],
            hubs: vec![hub],
            bucket_names: vec!["scratch".into()],
            bucket_bytes: Default::default(),
            source_buckets: Vec::new(),
            has_secrets: true,
            images: 1,
            image_bytes: 1,
            homes: true,
            source: SourceFacts {
                cloud: cloud.into(),
                project: id.into(),
                account: id.into(),
                subscription: id.into(),
                community_pays,
                ..SourceFacts::default()
            },
            warnings: Vec::new(),
        }
    }

    /// As --print-answers-template resolves: nothing asked, nothing given,
    /// a placeholder for what is missing.
    fn template(target: &str, facts: &Facts) -> (Result<Answers>, Vec<Recorded>) {
        let bp = blueprint::load(target).unwrap();
        let common = blueprint::common().unwrap();
        let mut r = Resolver {
            blueprint: &bp,
            common: &common,
            facts,
            renderer: Renderer::new(target).unwrap(),
            accept_defaults: true,
            placeholder: Some(String::new()),
            record: Vec::new(),
            ignored: Vec::new(),
        };
        let out = r.resolve(&Answers::default(), &mut NoAsk);
        (out, r.record)
    }

    // Regression: `--print-answers-template --target gcp` (and aws) failed
    // on every real cluster with "the derived default for state_bucket:
    // \"-r2r-tfstate\" is not a valid name here", because the project (or
    // account) it is built from cannot be derived and was left empty.
    #[test]
    fn a_default_built_from_an_empty_answer_is_dropped_not_an_error() {
        let f = facts("aws", false, "");
        for (target, keys) in [
            ("gcp", &["gcp.project", "state_bucket", "registry"][..]),
            ("aws", &["aws.account_id", "state_bucket", "registry"][..]),
        ] {
            let (answers, record) = template(target, &f);
            let answers = answers.unwrap_or_else(|e| panic!("{target}: {e:#}"));
            for key in keys {
                let r = record.iter().find(|r| r.key == *key).unwrap();
                assert!(!r.derived, "{target}: {key} was derived");
                assert_eq!(answers.str(key), None, "{target}: {key}");
            }
            let bucket = record.iter().find(|r| r.key == "state_bucket").unwrap();
            assert!(bucket.not_derived.is_some(), "{target}");
        }
    }

    /// Every target, from every kind of source: the template resolves,
    /// and every value it derives passes its question's check.
    #[test]
    fn every_derived_default_passes_its_check() {
        let sources = [
            facts("gcp", true, "community-project"),
            facts("gcp", false, "provider-project"),
            facts("aws", true, "123456789012"),
            facts("azure", true, "00000000-0000-0000-0000-000000000000"),
            facts("kubeconfig", false, ""),
            facts("gcp", true, ""),
        ];
        for target in blueprint::targets() {
            for f in &sources {
                let (answers, record) = template(target, f);
                let answers =
                    answers.unwrap_or_else(|e| panic!("{target} from {}: {e:#}", f.source.cloud));
                for r in record.iter().filter(|r| r.derived) {
                    let v = answers.get(&r.key).unwrap();
                    normalise(r.kind, v, f).unwrap_or_else(|e| {
                        panic!("{target} from {}: {} = {v}: {e:#}", f.source.cloud, r.key)
                    });
                }
            }
        }
    }

    /// A default that renders to something its check refuses is dropped
    /// with the check's reason.
    #[test]
    fn an_invalid_default_is_dropped_with_its_reason() {
        let f = facts("gcp", true, "p");
        let bp = blueprint::load("local").unwrap();
        let common = blueprint::common().unwrap();
        let mut r = Resolver {
            blueprint: &bp,
            common: &common,
            facts: &f,
            renderer: Renderer::new("local").unwrap(),
            accept_defaults: true,
            placeholder: None,
            record: Vec::new(),
            ignored: Vec::new(),
        };
        let ctx = json!({"answers": {"x": "a b"}, "facts": {}});
        let got = r.derive("{{ answers.x }}", AnswerKind::Name, &ctx).unwrap();
        assert!(
            matches!(&got, Derived::Dropped(why) if why.contains("not a valid name")),
            "{}",
            match got {
                Derived::Value(v) => v,
                Derived::None => "none".into(),
                Derived::Dropped(w) => w,
            }
        );
        let got = r
            .derive(
                "{{ answers.x }}-suffix",
                AnswerKind::Name,
                &json!({"answers": {"x": ""}}),
            )
            .unwrap();
        assert!(matches!(got, Derived::Dropped(_)));
        let got = r
            .derive(
                "{% if answers.x %}{{ answers.x }}{% else %}fallback{% endif %}",
                AnswerKind::Name,
                &json!({"answers": {"x": ""}}),
            )
            .unwrap();
        assert!(matches!(got, Derived::Value(ref v) if v == "fallback"));
    }

    // Regression: an answers template handed back with an optional
    // question left empty (`kubeconfig.context: ""`) failed with
    // "\"\" is not a valid name here"; a required one left empty failed on
    // the first instead of listing all.
    #[test]
    fn empty_answers_are_unanswered() {
        let f = facts("gcp", false, "");
        let bp = blueprint::load("kubeconfig").unwrap();
        let common = blueprint::common().unwrap();
        let mut r = Resolver {
            blueprint: &bp,
            common: &common,
            facts: &f,
            renderer: Renderer::new("kubeconfig").unwrap(),
            accept_defaults: true,
            placeholder: None,
            record: Vec::new(),
            ignored: Vec::new(),
        };
        let mut given = Answers::default();
        for k in ["kubeconfig.context", "restore_image", "hubs.staging.domain"] {
            given.set(k, json!(""));
        }
        given.set("kubeconfig.bundle_claim", Json::Null);
        let err = r.resolve(&given, &mut NoAsk).unwrap_err();
        let missing = &err.downcast_ref::<MissingAnswers>().unwrap().0;
        let keys: Vec<&str> = missing.iter().map(|m| m.key.as_str()).collect();
        for k in ["restore_image", "age_identity", "hubs.staging.domain"] {
            assert!(keys.contains(&k), "{k} not listed: {keys:?}");
        }
        assert!(!keys.contains(&"kubeconfig.context"), "{keys:?}");
        assert!(!keys.contains(&"kubeconfig.bundle_claim"), "{keys:?}");
    }
}
