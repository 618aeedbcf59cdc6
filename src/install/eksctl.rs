//! An AWS cluster's node groups, from the eksctl config the bundle carries
//! (`infra/eksctl/<cluster>.jsonnet` and the files it imports), rendered
//! with the Jsonnet engine the export renders values with. Imports resolve
//! only to bundle members under `infra/eksctl/`, each at most 4 MiB, at most
//! 32 of them.

use anyhow::{Result, anyhow};
use rsjsonnet_lang::arena::Arena;
use rsjsonnet_lang::interner::InternedStr;
use rsjsonnet_lang::program::{
    Callbacks, EvalStackTraceItem, ImportError, NativeError, Program, Thunk, Value,
};
use rsjsonnet_lang::span::SpanId;
use serde_json::Value as Json;

use crate::bundle::layout;
use crate::bundle::verify::Trusted;

const MAX_SOURCE_BYTES: u64 = 4 << 20;
const MAX_IMPORTS: usize = 32;

/// The eksctl member for `cluster`, when the bundle carries one.
pub(crate) fn member(trusted: &Trusted, cluster: &str) -> Option<String> {
    let m = layout::eksctl_config(cluster);
    trusted.has(&m).then_some(m)
}

/// The rendered ClusterConfig of `member`, as JSON.
pub(crate) fn render(trusted: &Trusted, member: &str) -> Result<Json> {
    let source = read(trusted, member)?;
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    let (ctx, _) = program
        .span_manager_mut()
        .insert_source_context(source.len());
    let thunk = program
        .load_source(ctx, source.as_bytes(), true, member)
        .map_err(|e| anyhow!("{member}: cannot parse: {e:?}"))?;
    let mut callbacks = Imports {
        trusted,
        from: member.to_owned(),
        count: 0,
        failed: None,
    };
    let value = program.eval_value(&thunk, &mut callbacks);
    if let Some(e) = callbacks.failed.take() {
        return Err(e.context(format!("{member}: an import failed")));
    }
    let value = value.map_err(|e| anyhow!("{member}: evaluation failed: {:?}", e.kind))?;
    let json = program
        .manifest_json(&value, false)
        .map_err(|e| anyhow!("{member}: cannot manifest as JSON: {:?}", e.kind))?;
    serde_json::from_str(&json).map_err(|e| anyhow!("{member}: rendered output: {e}"))
}

fn read(trusted: &Trusted, member: &str) -> Result<String> {
    let bytes = trusted.read_small(member, MAX_SOURCE_BYTES)?;
    String::from_utf8(bytes).map_err(|_| anyhow!("member {member} is not UTF-8"))
}

/// `dir/name` with `.` and `..` resolved; none when it leaves `infra/eksctl/`.
fn resolve(from: &str, name: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    joined
        .starts_with(&layout::eksctl_folder())
        .then_some(joined)
}

struct Imports<'t> {
    trusted: &'t Trusted,
    /// The importing file: 2i2c's imports are relative to it, and its
    /// imports import nothing further, so the top file is the base.
    from: String,
    count: usize,
    failed: Option<anyhow::Error>,
}

impl Imports<'_> {
    fn text(&mut self, path: &str) -> Result<String, ImportError> {
        let result = self.fetch(path);
        result.map_err(|e| {
            self.failed.get_or_insert(e);
            ImportError
        })
    }

    fn fetch(&mut self, path: &str) -> Result<String> {
        self.count += 1;
        if self.count > MAX_IMPORTS {
            return Err(anyhow!("more than {MAX_IMPORTS} imports"));
        }
        let member = resolve(&self.from, path)
            .ok_or_else(|| anyhow!("{path:?} is not a file under infra/eksctl/"))?;
        if !self.trusted.has(&member) {
            return Err(anyhow!("the bundle does not carry {member}"));
        }
        read(self.trusted, &member)
    }
}

impl<'p> Callbacks<'p> for Imports<'_> {
    fn import(
        &mut self,
        program: &mut Program<'p>,
        _from: SpanId,
        path: &str,
    ) -> Result<Thunk<'p>, ImportError> {
        let text = self.text(path)?;
        let (ctx, _) = program.span_manager_mut().insert_source_context(text.len());
        program
            .load_source(ctx, text.as_bytes(), true, path)
            .map_err(|e| {
                self.failed
                    .get_or_insert(anyhow!("{path}: cannot parse: {e:?}"));
                ImportError
            })
    }

    fn import_str(
        &mut self,
        _program: &mut Program<'p>,
        _from: SpanId,
        path: &str,
    ) -> Result<String, ImportError> {
        self.text(path)
    }

    fn import_bin(
        &mut self,
        _program: &mut Program<'p>,
        _from: SpanId,
        path: &str,
    ) -> Result<Vec<u8>, ImportError> {
        self.text(path).map(String::into_bytes)
    }

    fn trace(&mut self, _program: &mut Program<'p>, _message: &str, _stack: &[EvalStackTraceItem]) {
    }

    fn native_call(
        &mut self,
        _program: &mut Program<'p>,
        _name: InternedStr<'p>,
        _args: &[Value<'p>],
    ) -> Result<Value<'p>, NativeError> {
        Err(NativeError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_stay_under_the_eksctl_folder() {
        let top = layout::eksctl_config("nasa-cryo");
        assert_eq!(
            resolve(&top, "./libsonnet/cluster.jsonnet").as_deref(),
            Some(format!("{}libsonnet/cluster.jsonnet", layout::eksctl_folder()).as_str())
        );
        assert_eq!(resolve(&top, "../../config/cluster.yaml"), None);
        assert_eq!(resolve(&top, "../terraform/x.tfvars"), None);
    }
}
