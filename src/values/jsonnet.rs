//! Rendering a chart's `values.jsonnet` the way the provider's deployer does:
//! `jsonnet --jpath <chart dir> --ext-str VARS_2I2C_…=… <chart dir>/values.jsonnet`,
//! with rsjsonnet, a Jsonnet implementation in Rust.
//!
//! The file comes from the provider's repository, which the exporter chose to
//! trust for its configuration; imports are still confined to the repository.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use rsjsonnet_lang::arena::Arena;
use rsjsonnet_lang::interner::InternedStr;
use rsjsonnet_lang::program::{
    Callbacks, EvalStackTraceItem, ImportError, NativeError, Program, Thunk, Value,
};
use rsjsonnet_lang::span::SpanId;

use super::derived::DeployVars;
use super::tree::Values;
use crate::source::repo::{self, InfraRepo};

const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Renders `file` (a path inside the repository, possibly a symlink to the
/// basehub file, as 2i2c's daskhub has) into a values document.
pub fn render(repo: &InfraRepo, file: &Path, vars: &DeployVars) -> Result<Values> {
    let ext = vars.ext_pairs();
    let shown = repo.shown(file);
    let out: Values = serde_json::from_str(&evaluate(repo, file, &ext)?)
        .with_context(|| format!("{shown}: rendered output is not a values document"))?;
    if !out.is_mapping() {
        bail!("{shown}: rendered to a {}, not a map of values", kind(&out));
    }
    Ok(out)
}

/// Evaluates `file` with the external strings `ext`, imports confined to
/// the repository, into JSON text (its keys in the order jsonnet gives).
/// Only for files r2r may trust with its time and memory: a bundle's
/// jsonnet goes through [`crate::values::bounded`].
pub fn evaluate(repo: &InfraRepo, file: &Path, ext: &[(String, String)]) -> Result<String> {
    let shown = repo.shown(file);
    let real = repo.existing_file(file, &shown)?;
    let source = repo::read_text(&real, MAX_SOURCE_BYTES)?;
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    for (name, value) in ext {
        let name = program.intern_str(name);
        let thunk = program.value_to_thunk(&Value::string(value));
        program.add_ext_var(name, &thunk);
    }
    // `std.thisFile` keeps the unresolved path: 2i2c's file tells basehub
    // from daskhub by the folder it was reached through.
    let this_file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let (ctx, _) = program
        .span_manager_mut()
        .insert_source_context(source.len());
    let thunk = program
        .load_source(ctx, source.as_bytes(), true, &this_file.to_string_lossy())
        .map_err(|e| anyhow!("{shown}: cannot parse: {e:?}"))?;
    let jpath = file.parent().map(Path::to_owned).unwrap_or_default();
    let mut callbacks = Imports {
        repo,
        jpath,
        failed: None,
    };
    let value = program.eval_value(&thunk, &mut callbacks);
    if let Some(e) = callbacks.failed.take() {
        return Err(e.context(format!("{shown}: an import failed")));
    }
    let value = value.map_err(|e| anyhow!("{shown}: evaluation failed: {:?}", e.kind))?;
    program
        .manifest_json(&value, false)
        .map_err(|e| anyhow!("{shown}: cannot manifest as JSON: {:?}", e.kind))
}

fn kind(v: &Values) -> &'static str {
    match v {
        Values::Null => "null",
        Values::Bool(_) => "boolean",
        Values::Number(_) => "number",
        Values::String(_) => "string",
        Values::Sequence(_) => "list",
        Values::Mapping(_) => "map",
        Values::Tagged(_) => "tagged value",
    }
}

struct Imports<'r> {
    repo: &'r InfraRepo,
    jpath: PathBuf,
    failed: Option<anyhow::Error>,
}

impl Imports<'_> {
    fn read(&mut self, path: &str) -> Result<String, ImportError> {
        let result = self
            .repo
            .resolve(&self.jpath, path, "values.jsonnet")
            .and_then(|p| repo::read_text(&p, MAX_SOURCE_BYTES));
        result.map_err(|e| {
            self.failed.get_or_insert(e);
            ImportError
        })
    }
}

impl<'p> Callbacks<'p> for Imports<'_> {
    fn import(
        &mut self,
        program: &mut Program<'p>,
        _from: SpanId,
        path: &str,
    ) -> Result<Thunk<'p>, ImportError> {
        let text = self.read(path)?;
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
        self.read(path)
    }

    fn import_bin(
        &mut self,
        _program: &mut Program<'p>,
        _from: SpanId,
        path: &str,
    ) -> Result<Vec<u8>, ImportError> {
        self.read(path).map(String::into_bytes)
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
