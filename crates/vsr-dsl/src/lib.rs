//! vsr-dsl: the routing DSL. Parse it (with recovery and line:column diagnostics), compile it to
//! the `routing:` section of the canonical config as an ordered generic tree, decompile that tree
//! back to DSL, and format DSL source in one canonical layout that keeps comments.

pub mod ast;
pub mod check;
pub mod compile;
pub mod decompile;
pub mod diag;
pub mod format;
pub mod lexer;
pub mod parser;
pub mod span;

pub use ast::Ast;
pub use check::{Built, build, check};
pub use compile::{Compiled, SourceMap, compile, compile_ast, routing_to_yaml};
pub use decompile::{DecompileError, decompile, decompile_yaml};
pub use diag::{Diagnostic, Severity, render_all};
pub use format::format;
pub use parser::parse;
pub use span::Span;
