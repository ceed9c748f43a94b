//! The syntax tree. It keeps what the formatter needs to print the source back (spans, number
//! lexemes, parentheses, whether a name was quoted) besides what the compiler needs.

use serde::Serialize;

use crate::lexer::Comment;
use crate::span::Span;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Ast {
    pub items: Vec<Item>,
    #[serde(skip)]
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Signal(SignalDecl),
    Projection(ProjectionDecl),
    Model(ModelDecl),
    Plugin(PluginDecl),
    Route(RouteDecl),
    DecisionTree(DecisionTree),
    Test(TestBlock),
    /// `ROUTING { strategy: … }`: the routing profile settings of the enclosing scope.
    Routing(BlockDecl),
    /// `ENTRYPOINT { model_names: […], recipe: name }` (top level only).
    Entrypoint(BlockDecl),
    /// `RECIPE name (…) { … }` (top level only).
    Recipe(RecipeDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Signal(d) => d.span,
            Item::Projection(d) => d.span,
            Item::Model(d) => d.span,
            Item::Plugin(d) => d.span,
            Item::Route(d) => d.span,
            Item::DecisionTree(d) => d.span,
            Item::Test(d) => d.span,
            Item::Routing(d) | Item::Entrypoint(d) => d.span,
            Item::Recipe(d) => d.span,
        }
    }
}

/// A keyword and its field block: `ROUTING { … }`, `ENTRYPOINT { … }`.
#[derive(Debug, Clone, Serialize)]
pub struct BlockDecl {
    /// The keyword's span.
    pub keyword: Span,
    pub body: FieldBlock,
    pub span: Span,
}

/// `RECIPE name (description = "…", strategy = priority) { … }`: a named routing profile with
/// its own signals, projections, plugin templates, routes and tests.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeDecl {
    pub name: Name,
    pub options: Vec<Opt>,
    pub items: Vec<Item>,
    /// The whole declaration, from `RECIPE` to just past the closing brace.
    pub span: Span,
    /// The span of `RECIPE name (…)`.
    pub header: Span,
}

/// A name: an identifier, or a string when it holds characters an identifier cannot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Name {
    pub value: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub key: Name,
    pub value: Value,
    /// From the key to the end of the value.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ValueKind {
    Str(String),
    /// The lexeme is kept so the formatter prints `0.90` as written.
    Int(i64, String),
    Float(f64, String),
    Bool(bool),
    /// A bare identifier, which compiles to a string.
    Ident(String),
    Array(Vec<Value>),
    Object(Vec<Field>),
}

impl ValueKind {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ValueKind::Str(s) | ValueKind::Ident(s) => Some(s),
            _ => None,
        }
    }
}

/// `{ field … }`; `span` covers the braces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldBlock {
    pub fields: Vec<Field>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignalDecl {
    pub signal_type: Name,
    pub name: Name,
    pub body: FieldBlock,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectionDecl {
    /// `partition`, `score` or `mapping`.
    pub projection_type: Name,
    pub name: Name,
    pub body: FieldBlock,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelDecl {
    pub name: Name,
    pub body: FieldBlock,
    pub span: Span,
}

/// A top-level plugin template: `PLUGIN name type { … }`.
#[derive(Debug, Clone, Serialize)]
pub struct PluginDecl {
    pub name: Name,
    pub plugin_type: Name,
    pub body: FieldBlock,
    pub span: Span,
}

/// `key = value`, in a route header or a model reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opt {
    pub key: Name,
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteDecl {
    pub name: Name,
    pub options: Vec<Opt>,
    pub items: Vec<RouteItem>,
    /// The whole declaration; `span.end` is just past the closing brace.
    pub span: Span,
    /// The span of `ROUTE name (…)`.
    pub header: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteItem {
    pub kind: RouteItemKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum RouteItemKind {
    Priority(IntLit),
    Tier(IntLit),
    When(Expr),
    Model(Vec<ModelRef>),
    Algorithm(AlgoSpec),
    Plugin(PluginRef),
    /// `NAME x` (decision-tree branches only).
    Name(Name),
    /// `DESCRIPTION "…"`.
    Description(Name),
    /// `FOR v IN decision.candidates { MODEL v }` or `FOR v IN ["a", "b"] { MODEL v }`
    /// (head-delta §18: `candidateIterations`).
    For(ForLoop),
    /// `EMIT retention { … }` (head-delta §18: `emits`).
    Emit(EmitDecl),
}

#[derive(Debug, Clone, Serialize)]
pub struct ForLoop {
    pub variable: Name,
    pub source: ForSource,
    /// The body's `MODEL` items (each should name the variable).
    pub outputs: Vec<ModelRef>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ForSource {
    /// An identifier or string, e.g. `decision.candidates`.
    Named(Name),
    /// `[ "a", "b" ]`.
    Models(Vec<ModelRef>),
}

#[derive(Debug, Clone, Serialize)]
pub struct EmitDecl {
    pub kind: Name,
    pub body: FieldBlock,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntLit {
    pub value: i64,
    pub lexeme: String,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRef {
    pub model: Name,
    pub options: Vec<Opt>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlgoSpec {
    pub algo_type: Name,
    /// `(key = value …)`: keys at the top level of `algorithm`, beside `type` and the block.
    pub options: Vec<Opt>,
    pub body: Option<FieldBlock>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginRef {
    pub name: Name,
    pub body: Option<FieldBlock>,
    pub span: Span,
}

/// A boolean condition. `Paren` records explicit parentheses: the formatter keeps them, and the
/// compiler turns a parenthesised AND inside an AND (or OR inside OR) into a nested node.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Expr {
    Signal {
        signal_type: Name,
        name: Name,
        /// Leaf fields after the name (`label`, `predicate`, `on_error`; head-delta §18). Boxed:
        /// the recursive condition parser holds an `Expr` per nesting level, so the enum stays
        /// small.
        #[serde(skip_serializing_if = "Option::is_none")]
        fields: Option<Box<[Field]>>,
        span: Span,
    },
    And {
        children: Vec<Expr>,
        span: Span,
    },
    Or {
        children: Vec<Expr>,
        span: Span,
    },
    Not {
        child: Box<Expr>,
        span: Span,
    },
    Paren {
        inner: Box<Expr>,
        span: Span,
    },
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Signal { span, .. }
            | Expr::And { span, .. }
            | Expr::Or { span, .. }
            | Expr::Not { span, .. }
            | Expr::Paren { span, .. } => *span,
        }
    }

    /// Visits every signal reference, left to right.
    pub fn for_each_signal<'a>(&'a self, f: &mut impl FnMut(&'a Name, &'a Name)) {
        match self {
            Expr::Signal {
                signal_type, name, ..
            } => f(signal_type, name),
            Expr::And { children, .. } | Expr::Or { children, .. } => {
                for c in children {
                    c.for_each_signal(f);
                }
            }
            Expr::Not { child, .. } => child.for_each_signal(f),
            Expr::Paren { inner, .. } => inner.for_each_signal(f),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionTree {
    pub name: Name,
    pub branches: Vec<Branch>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    If,
    ElseIf,
    Else,
}

#[derive(Debug, Clone, Serialize)]
pub struct Branch {
    pub kind: BranchKind,
    pub condition: Option<Expr>,
    pub items: Vec<RouteItem>,
    pub span: Span,
}

/// `TEST name { "query" -> route … }`: probes that say which route a query must take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestBlock {
    pub name: Name,
    pub cases: Vec<TestCase>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestCase {
    pub query: String,
    pub expected_route: Name,
    pub span: Span,
}
