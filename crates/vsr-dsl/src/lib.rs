//! vsr-dsl: the routing DSL. Parse it (with recovery and line:column diagnostics), compile it to
//! the `routing:` section of the canonical config as an ordered generic tree, decompile that tree
//! back to DSL, and format DSL source in one canonical layout that keeps comments.
//!
//! - [`parse`]: source → [`Ast`] (every block that parsed) + every lexical/syntax [`Diagnostic`].
//! - [`compile`]: source → [`Compiled`] { `routing` (a `serde_json::Value` in the exact shape of
//!   the YAML `routing:` section), `source_map` (config path → DSL [`Span`]), `warnings`, `tests` }.
//! - [`decompile`] / [`decompile_yaml`]: routing tree or config text → DSL, losslessly.
//! - [`format()`]: canonical layout, comments kept, idempotent.
//! - [`check`] / [`build`]: compile, merge into a base config, run the `vsr-config` validator and
//!   map its findings back to DSL positions.
//!
//! See docs/dsl.md for the language and docs/compatibility.md (DSL) for differences from the
//! original tool.

pub mod ast;
pub mod check;
pub mod compile;
pub mod decompile;
pub mod diag;
pub mod format;
pub mod lexer;
pub mod parser;
pub mod span;

pub use ast::{Ast, TestBlock, TestCase};
pub use check::{Built, build, check};
pub use compile::{Compiled, ROUTING_STRATEGIES, SourceMap, compile, compile_ast, routing_to_yaml};
pub use decompile::{DecompileError, decompile, decompile_config, decompile_yaml};
pub use diag::{Diagnostic, Severity, render_all};
pub use format::format;
pub use parser::parse;
pub use span::Span;
