//! Hand-written recursive-descent parser. Keywords are matched by their text (they are not
//! reserved). After an error the parser skips to the next top-level keyword that sits at brace
//! depth 0 or at the start of a line, so one mistake does not hide the next.

use crate::ast::*;
use crate::diag::{Diagnostic, nearest};
use crate::lexer::{Tok, Token, lex};
use crate::span::Span;

pub const TOP_LEVEL_KEYWORDS: [&str; 10] = [
    "SIGNAL",
    "PROJECTION",
    "MODEL",
    "PLUGIN",
    "ROUTE",
    "DECISION_TREE",
    "TEST",
    "ROUTING",
    "ENTRYPOINT",
    "RECIPE",
];
/// What a RECIPE body may hold (models, entrypoints and recipes are top level only).
pub const RECIPE_ITEMS: [&str; 7] = [
    "ROUTING",
    "SIGNAL",
    "PROJECTION",
    "PLUGIN",
    "ROUTE",
    "DECISION_TREE",
    "TEST",
];
const ROUTE_ITEMS: [&str; 9] = [
    "PRIORITY",
    "TIER",
    "WHEN",
    "MODEL",
    "ALGORITHM",
    "PLUGIN",
    "DESCRIPTION",
    "FOR",
    "EMIT",
];
const BRANCH_ITEMS: [&str; 8] = [
    "NAME",
    "DESCRIPTION",
    "TIER",
    "MODEL",
    "ALGORITHM",
    "PLUGIN",
    "FOR",
    "EMIT",
];
pub const PROJECTION_TYPES: [&str; 3] = ["partition", "score", "mapping"];

/// Parses a whole program. The tree holds every block that parsed; the diagnostics list every
/// lexical and syntax error.
pub fn parse(src: &str) -> (Ast, Vec<Diagnostic>) {
    let lexed = lex(src);
    let mut p = Parser::new(src, lexed.tokens);
    let mut diags = lexed.diagnostics;
    let items = p.program();
    diags.extend(p.diags);
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    (
        Ast {
            items,
            comments: lexed.comments,
        },
        diags,
    )
}

type PResult<T> = Result<T, ()>;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    /// Brace depth before each token.
    depth: Vec<i32>,
    pos: usize,
    diags: Vec<Diagnostic>,
    /// Current nesting of parentheses, NOT, lists and objects (bounded, so deep input cannot
    /// overflow the stack).
    nesting: usize,
}

/// How deep conditions and values may nest. A level of a condition costs about 10 KB of stack
/// in a debug build, so 128 levels stay well inside a 2 MiB thread stack.
const MAX_NESTING: usize = 128;

impl<'a> Parser<'a> {
    fn new(src: &'a str, toks: Vec<Token>) -> Self {
        let mut depth = Vec::with_capacity(toks.len());
        let mut d = 0;
        for t in &toks {
            if t.tok == Tok::RBrace {
                d -= 1;
            }
            depth.push(d);
            if t.tok == Tok::LBrace {
                d += 1;
            }
        }
        Parser {
            src,
            toks,
            depth,
            pos: 0,
            diags: Vec::new(),
            nesting: 0,
        }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_tok(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    /// Moves past the current token (never past end of file); returns its span.
    fn bump(&mut self) -> Span {
        let span = self.peek().span;
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        span
    }

    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    fn at_ident(&self, text: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == text)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    fn error<T>(&mut self, span: Span, msg: impl Into<String>) -> PResult<T> {
        self.diags.push(Diagnostic::error(span, msg));
        Err(())
    }

    fn expected<T>(&mut self, what: &str, context: &str) -> PResult<T> {
        let t = self.peek().clone();
        self.error(
            t.span,
            format!("expected {what} {context}, found {}", t.tok.describe()),
        )
    }

    /// The file ended inside the block opened at `open`: point at the brace that is not closed.
    fn unclosed<T>(&mut self, open: Span) -> PResult<T> {
        self.diags.push(
            Diagnostic::error(open, "this `{` is never closed: the file ends first")
                .with_suggestion("add the matching `}`"),
        );
        Err(())
    }

    fn expect(&mut self, tok: Tok, context: &str) -> PResult<Span> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            self.expected(&tok.describe(), context)
        }
    }

    fn is_sync_point(&self, i: usize) -> bool {
        let t = &self.toks[i];
        match &t.tok {
            Tok::Eof => true,
            Tok::Ident(s) => {
                TOP_LEVEL_KEYWORDS.contains(&s.as_str()) && (self.depth[i] <= 0 || t.span.col == 1)
            }
            _ => false,
        }
    }

    /// Skips at least one token, then up to the next top-level keyword.
    fn recover(&mut self, from: usize) {
        self.pos = self.pos.max(from + 1).min(self.toks.len() - 1);
        while !self.is_sync_point(self.pos) {
            self.pos += 1;
        }
    }

    fn program(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        while self.peek().tok != Tok::Eof {
            let start = self.pos;
            match self.top_level() {
                Ok(item) => items.push(item),
                Err(()) => self.recover(start),
            }
        }
        items
    }

    fn top_level(&mut self) -> PResult<Item> {
        let t = self.peek().clone();
        let Tok::Ident(kw) = &t.tok else {
            return self.error(
                t.span,
                format!(
                    "expected a top-level block (SIGNAL, PROJECTION, MODEL, PLUGIN, ROUTE, DECISION_TREE, TEST, ROUTING, ENTRYPOINT or RECIPE), found {}",
                    t.tok.describe()
                ),
            );
        };
        match kw.as_str() {
            "ROUTING" => self.keyword_block("ROUTING").map(Item::Routing),
            "ENTRYPOINT" => self.keyword_block("ENTRYPOINT").map(Item::Entrypoint),
            "RECIPE" => self.recipe().map(Item::Recipe),
            _ => self.scoped_item(&t, kw),
        }
    }

    /// A block that may appear both at the top level and inside a RECIPE.
    fn scoped_item(&mut self, t: &Token, kw: &str) -> PResult<Item> {
        match kw {
            "ROUTING" => self.keyword_block("ROUTING").map(Item::Routing),
            "SIGNAL" => self.signal().map(Item::Signal),
            "PROJECTION" => self.projection().map(Item::Projection),
            "MODEL" => self.model_decl().map(Item::Model),
            "PLUGIN" => self.plugin_decl().map(Item::Plugin),
            "ROUTE" => self.route().map(Item::Route),
            "DECISION_TREE" => self.tree().map(Item::DecisionTree),
            "TEST" => self.test_block().map(Item::Test),
            other => {
                let mut d = Diagnostic::error(
                    t.span,
                    format!(
                        "unknown top-level keyword `{other}`; expected SIGNAL, PROJECTION, MODEL, PLUGIN, ROUTE, DECISION_TREE, TEST, ROUTING, ENTRYPOINT or RECIPE"
                    ),
                );
                if let Some(s) = nearest(other, TOP_LEVEL_KEYWORDS) {
                    d = d.with_suggestion(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                Err(())
            }
        }
    }

    /// `KEYWORD { field … }`.
    fn keyword_block(&mut self, kw_text: &str) -> PResult<BlockDecl> {
        let keyword = self.bump();
        let body = self.field_block(&format!("after {kw_text}"))?;
        Ok(BlockDecl {
            keyword,
            span: keyword.to(body.span),
            body,
        })
    }

    /// `RECIPE name [( opt = value … )] { recipe_item … }`. An error inside the body skips to
    /// the next recipe item at the body's own brace depth, so the rest of the recipe still parses.
    fn recipe(&mut self) -> PResult<RecipeDecl> {
        let kw = self.bump();
        let name = self.name("a recipe name", "after RECIPE")?;
        let mut header = kw.to(name.span);
        let mut options = Vec::new();
        if self.peek().tok == Tok::LParen {
            let (opts, span) = self.opts_in_parens("in the RECIPE header")?;
            options = opts;
            header = kw.to(span);
        }
        let open_idx = self.pos;
        let open = self.expect(Tok::LBrace, &format!("to open RECIPE {}", name.value))?;
        let inner = self.depth[open_idx] + 1;
        let mut items = Vec::new();
        loop {
            let start = self.pos;
            let t = self.peek().clone();
            let res = match &t.tok {
                Tok::RBrace => break,
                Tok::Eof => return self.unclosed(open),
                Tok::Ident(s) if RECIPE_ITEMS.contains(&s.as_str()) => {
                    let s = s.clone();
                    self.scoped_item(&t, &s)
                }
                Tok::Ident(s) if TOP_LEVEL_KEYWORDS.contains(&s.as_str()) => {
                    let s = s.clone();
                    self.diags.push(
                        Diagnostic::error(t.span, format!("{s} is not allowed inside RECIPE"))
                            .with_suggestion(match s.as_str() {
                                "MODEL" => {
                                    "declare models at the top level; every recipe shares them"
                                }
                                _ => "declare it at the top level, outside every RECIPE",
                            }),
                    );
                    Err(())
                }
                _ => {
                    let mut d = Diagnostic::error(
                        t.span,
                        format!(
                            "unexpected {} in RECIPE body; expected one of {}",
                            t.tok.describe(),
                            RECIPE_ITEMS.join(", ")
                        ),
                    );
                    if let Tok::Ident(s) = &t.tok
                        && let Some(s) = nearest(s, RECIPE_ITEMS)
                    {
                        d = d.with_suggestion(format!("did you mean `{s}`?"));
                    }
                    self.diags.push(d);
                    Err(())
                }
            };
            match res {
                Ok(item) => items.push(item),
                Err(()) => {
                    // Skip to the next item of this body, or its closing brace.
                    self.pos = self.pos.max(start + 1).min(self.toks.len() - 1);
                    loop {
                        let i = self.pos.min(self.toks.len() - 1);
                        let at = &self.toks[i];
                        let stop = match &at.tok {
                            Tok::Eof => true,
                            Tok::RBrace => self.depth[i] < inner,
                            Tok::Ident(s) => {
                                self.depth[i] == inner && TOP_LEVEL_KEYWORDS.contains(&s.as_str())
                            }
                            _ => false,
                        };
                        if stop || i == self.toks.len() - 1 {
                            break;
                        }
                        self.pos += 1;
                    }
                }
            }
        }
        let close = self.bump();
        Ok(RecipeDecl {
            name,
            options,
            items,
            span: kw.to(close),
            header,
        })
    }

    fn ident(&mut self, what: &str, context: &str) -> PResult<Name> {
        match &self.peek().tok {
            Tok::Ident(s) => {
                let value = s.clone();
                let span = self.bump();
                Ok(Name {
                    value,
                    quoted: false,
                    span,
                })
            }
            _ => self.expected(what, context),
        }
    }

    fn name(&mut self, what: &str, context: &str) -> PResult<Name> {
        match &self.peek().tok {
            Tok::Ident(s) | Tok::Str(s) => {
                let quoted = matches!(self.peek().tok, Tok::Str(_));
                let value = s.clone();
                let span = self.bump();
                Ok(Name {
                    value,
                    quoted,
                    span,
                })
            }
            _ => self.expected(what, context),
        }
    }

    fn signal(&mut self) -> PResult<SignalDecl> {
        let kw = self.bump();
        let signal_type = self.ident("a signal type (e.g. `keyword`)", "after SIGNAL")?;
        let name = self.name(
            "a signal name",
            &format!("after `SIGNAL {}`", signal_type.value),
        )?;
        let body = self.field_block(&format!("to open SIGNAL {}", name.value))?;
        Ok(SignalDecl {
            signal_type,
            name,
            span: kw.to(body.span),
            body,
        })
    }

    fn projection(&mut self) -> PResult<ProjectionDecl> {
        let kw = self.bump();
        let projection_type =
            self.ident("`partition`, `score` or `mapping`", "after PROJECTION")?;
        if !PROJECTION_TYPES.contains(&projection_type.value.as_str()) {
            let mut d = Diagnostic::error(
                projection_type.span,
                format!(
                    "unknown projection type `{}`; expected `partition`, `score` or `mapping`",
                    projection_type.value
                ),
            );
            if let Some(s) = nearest(&projection_type.value, PROJECTION_TYPES) {
                d = d.with_suggestion(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
            return Err(());
        }
        let name = self.name(
            "a projection name",
            &format!("after `PROJECTION {}`", projection_type.value),
        )?;
        let body = self.field_block(&format!("to open PROJECTION {}", name.value))?;
        Ok(ProjectionDecl {
            projection_type,
            name,
            span: kw.to(body.span),
            body,
        })
    }

    fn model_decl(&mut self) -> PResult<ModelDecl> {
        let kw = self.bump();
        let name = self.name("a model name", "after MODEL")?;
        let body = self.field_block(&format!("to open MODEL {}", name.value))?;
        Ok(ModelDecl {
            name,
            span: kw.to(body.span),
            body,
        })
    }

    fn plugin_decl(&mut self) -> PResult<PluginDecl> {
        let kw = self.bump();
        let name = self.name("a plugin template name", "after PLUGIN")?;
        let plugin_type = match &self.peek().tok {
            Tok::Ident(_) => self.ident("a plugin type", "")?,
            Tok::LBrace => {
                let span = self.peek().span;
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!("top-level PLUGIN `{}` needs a plugin type before `{{`", name.value),
                    )
                    .with_suggestion(format!("write `PLUGIN {0} <type> {{ … }}`, e.g. `PLUGIN {0} semantic_cache {{ … }}`", name.value)),
                );
                return Err(());
            }
            _ => return self.expected("a plugin type", &format!("after `PLUGIN {}`", name.value)),
        };
        let body = self.field_block(&format!("to open PLUGIN {}", name.value))?;
        Ok(PluginDecl {
            name,
            plugin_type,
            span: kw.to(body.span),
            body,
        })
    }

    fn field_block(&mut self, context: &str) -> PResult<FieldBlock> {
        let open = self.expect(Tok::LBrace, context)?;
        let fields = self.fields_until_rbrace(open)?;
        let close = self.prev_span();
        Ok(FieldBlock {
            fields,
            span: open.to(close),
        })
    }

    /// `{ field … }` after the opening brace; consumes the closing brace.
    fn fields_until_rbrace(&mut self, open: Span) -> PResult<Vec<Field>> {
        let mut fields = Vec::new();
        loop {
            self.eat(&Tok::Comma);
            match &self.peek().tok {
                Tok::RBrace => {
                    self.bump();
                    return Ok(fields);
                }
                Tok::Eof => return self.unclosed(open),
                _ => fields.push(self.field()?),
            }
        }
    }

    fn field(&mut self) -> PResult<Field> {
        let key = match &self.peek().tok {
            Tok::Ident(_) | Tok::Str(_) => self.name("", "")?,
            _ => return self.expected("a field name or `}`", "in block"),
        };
        if self.peek().tok != Tok::Colon {
            let t = self.peek().clone();
            let mut d = Diagnostic::error(
                t.span,
                format!(
                    "expected `:` after field `{}`, found {}",
                    key.value,
                    t.tok.describe()
                ),
            );
            if !matches!(t.tok, Tok::RBrace | Tok::Eof) {
                d = d.with_suggestion(format!("write `{}: <value>`", key.value));
            }
            self.diags.push(d);
            return Err(());
        }
        self.bump();
        let value = self.value(&format!("for field `{}`", key.value))?;
        Ok(Field {
            span: key.span.to(value.span),
            key,
            value,
        })
    }

    fn value(&mut self, context: &str) -> PResult<Value> {
        self.nested(|p| p.value_inner(context))
    }

    fn value_inner(&mut self, context: &str) -> PResult<Value> {
        let t = self.peek().clone();
        let kind = match t.tok {
            Tok::Str(s) => ValueKind::Str(s),
            Tok::Int(i) => ValueKind::Int(i, self.lexeme(t.span)),
            Tok::Float(f) => ValueKind::Float(f, self.lexeme(t.span)),
            Tok::Ident(s) if s == "true" => ValueKind::Bool(true),
            Tok::Ident(s) if s == "false" => ValueKind::Bool(false),
            Tok::Ident(s) => ValueKind::Ident(s),
            Tok::LBracket => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    if self.peek().tok == Tok::RBracket {
                        break;
                    }
                    items.push(self.value("in array")?);
                    if !self.eat(&Tok::Comma) {
                        if self.peek().tok != Tok::RBracket {
                            return self.expected("`,` or `]`", "in array");
                        }
                        break;
                    }
                }
                let close = self.bump();
                return Ok(Value {
                    kind: ValueKind::Array(items),
                    span: t.span.to(close),
                });
            }
            Tok::LBrace => {
                self.bump();
                let fields = self.fields_until_rbrace(t.span)?;
                return Ok(Value {
                    kind: ValueKind::Object(fields),
                    span: t.span.to(self.prev_span()),
                });
            }
            _ => return self.expected("a value", context),
        };
        self.bump();
        Ok(Value { kind, span: t.span })
    }

    fn lexeme(&self, span: Span) -> String {
        self.src
            .get(span.start..span.end)
            .unwrap_or_default()
            .to_string()
    }

    fn opts_in_parens(&mut self, context: &str) -> PResult<(Vec<Opt>, Span)> {
        let open = self.expect(Tok::LParen, context)?;
        let mut opts = Vec::new();
        loop {
            self.eat(&Tok::Comma);
            if self.peek().tok == Tok::RParen {
                break;
            }
            let key = self.ident("an option name or `)`", context)?;
            if self.peek().tok != Tok::Eq {
                let t = self.peek().clone();
                self.diags.push(
                    Diagnostic::error(
                        t.span,
                        format!(
                            "expected `=` after option `{}`, found {}",
                            key.value,
                            t.tok.describe()
                        ),
                    )
                    .with_suggestion(format!("options are written `{} = <value>`", key.value)),
                );
                return Err(());
            }
            self.bump();
            let value = self.value(&format!("for option `{}`", key.value))?;
            opts.push(Opt {
                span: key.span.to(value.span),
                key,
                value,
            });
        }
        let close = self.bump();
        Ok((opts, open.to(close)))
    }

    fn route(&mut self) -> PResult<RouteDecl> {
        let kw = self.bump();
        let name = self.name("a route name", "after ROUTE")?;
        let mut header = kw.to(name.span);
        let mut options = Vec::new();
        if self.peek().tok == Tok::LParen {
            let (opts, span) = self.opts_in_parens("in the ROUTE header")?;
            options = opts;
            header = kw.to(span);
        }
        let open = self.expect(Tok::LBrace, &format!("to open ROUTE {}", name.value))?;
        let mut items = Vec::new();
        loop {
            match &self.peek().tok {
                Tok::RBrace => break,
                Tok::Eof => return self.unclosed(open),
                _ => items.push(self.route_item(&ROUTE_ITEMS, "ROUTE")?),
            }
        }
        let close = self.bump();
        Ok(RouteDecl {
            name,
            options,
            items,
            span: kw.to(close),
            header,
        })
    }

    fn route_item(&mut self, allowed: &[&str], owner: &str) -> PResult<RouteItem> {
        let t = self.peek().clone();
        let kw = match &t.tok {
            Tok::Ident(s) if allowed.contains(&s.as_str()) => s.clone(),
            _ => {
                let mut d = Diagnostic::error(
                    t.span,
                    format!(
                        "unexpected {} in {owner} body; expected one of {}",
                        t.tok.describe(),
                        allowed.join(", ")
                    ),
                );
                if let Tok::Ident(s) = &t.tok {
                    if let Some(s) = nearest(s, allowed.iter().copied()) {
                        d = d.with_suggestion(format!("did you mean `{s}`?"));
                    } else if TOP_LEVEL_KEYWORDS.contains(&s.as_str()) {
                        d = d.with_suggestion(format!("is a `}}` missing before this {s}?"));
                    }
                }
                self.diags.push(d);
                return Err(());
            }
        };
        self.bump();
        let kind = match kw.as_str() {
            "PRIORITY" | "TIER" => {
                let n = match self.peek().tok {
                    Tok::Int(v) => {
                        let span = self.bump();
                        IntLit {
                            value: v,
                            lexeme: v.to_string(),
                            span,
                        }
                    }
                    _ => return self.expected("an integer", &format!("after {kw}")),
                };
                if kw == "PRIORITY" {
                    RouteItemKind::Priority(n)
                } else {
                    RouteItemKind::Tier(n)
                }
            }
            "WHEN" => RouteItemKind::When(self.expr()?),
            "MODEL" => {
                let mut refs = vec![self.model_ref()?];
                while self.eat(&Tok::Comma) {
                    refs.push(self.model_ref()?);
                }
                RouteItemKind::Model(refs)
            }
            "ALGORITHM" => {
                let algo_type =
                    self.ident("an algorithm type (e.g. `confidence`)", "after ALGORITHM")?;
                let mut end = algo_type.span;
                let mut options = Vec::new();
                if self.peek().tok == Tok::LParen {
                    let (opts, span) = self.opts_in_parens("in the ALGORITHM header")?;
                    options = opts;
                    end = span;
                }
                let body = if self.peek().tok == Tok::LBrace {
                    Some(self.field_block("")?)
                } else {
                    None
                };
                let end = body.as_ref().map_or(end, |b| b.span);
                RouteItemKind::Algorithm(AlgoSpec {
                    span: algo_type.span.to(end),
                    algo_type,
                    options,
                    body,
                })
            }
            "PLUGIN" => {
                let name = self.name("a plugin name or type", "after PLUGIN")?;
                let body = if self.peek().tok == Tok::LBrace {
                    Some(self.field_block("")?)
                } else {
                    None
                };
                let end = body.as_ref().map_or(name.span, |b| b.span);
                RouteItemKind::Plugin(PluginRef {
                    span: name.span.to(end),
                    name,
                    body,
                })
            }
            "FOR" => {
                let variable = self.ident("a variable name", "after FOR")?;
                match &self.peek().tok {
                    Tok::Ident(s) if s == "IN" => {
                        self.bump();
                    }
                    _ => return self.expected("`IN`", "after the FOR variable"),
                }
                let source = if self.eat(&Tok::LBracket) {
                    let mut refs = Vec::new();
                    while self.peek().tok != Tok::RBracket {
                        refs.push(self.model_ref()?);
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                    self.expect(Tok::RBracket, "to close the FOR model list")?;
                    ForSource::Models(refs)
                } else {
                    ForSource::Named(
                        self.name("`decision.candidates` or a `[…]` model list", "after IN")?,
                    )
                };
                let open = self.expect(Tok::LBrace, "after the FOR source")?;
                let mut outputs = Vec::new();
                loop {
                    match &self.peek().tok {
                        Tok::RBrace => {
                            self.bump();
                            break;
                        }
                        Tok::Eof => return self.unclosed(open),
                        Tok::Ident(s) if s == "MODEL" => {
                            self.bump();
                            outputs.push(self.model_ref()?);
                            while self.eat(&Tok::Comma) {
                                if matches!(self.peek().tok, Tok::RBrace) {
                                    break;
                                }
                                outputs.push(self.model_ref()?);
                            }
                        }
                        _ => return self.expected("`MODEL` or `}`", "in a FOR body"),
                    }
                }
                RouteItemKind::For(ForLoop {
                    variable,
                    source,
                    outputs,
                    span: t.span.to(self.prev_span()),
                })
            }
            "EMIT" => {
                let kind = self.ident("an emit kind (`retention`)", "after EMIT")?;
                let body = self.field_block("after the EMIT kind")?;
                RouteItemKind::Emit(EmitDecl { kind, body })
            }
            "NAME" => RouteItemKind::Name(self.name("a route name", "after NAME")?),
            "DESCRIPTION" => match &self.peek().tok {
                Tok::Str(_) => RouteItemKind::Description(self.name("", "")?),
                _ => return self.expected("a string", "after DESCRIPTION"),
            },
            _ => unreachable!("checked against the allowed list above"),
        };
        Ok(RouteItem {
            kind,
            span: t.span.to(self.prev_span()),
        })
    }

    fn model_ref(&mut self) -> PResult<ModelRef> {
        let model = self.name("a model name (a string such as \"qwen3\")", "in MODEL list")?;
        let mut span = model.span;
        let mut options = Vec::new();
        if self.peek().tok == Tok::LParen {
            let (opts, s) = self.opts_in_parens(&format!("for model \"{}\"", model.value))?;
            options = opts;
            span = span.to(s);
        }
        Ok(ModelRef {
            model,
            options,
            span,
        })
    }

    // Conditions: OR < AND < NOT, parentheses group.
    fn expr(&mut self) -> PResult<Expr> {
        let first = self.and_expr()?;
        if !self.at_ident("OR") {
            return Ok(first);
        }
        let mut children = vec![first];
        while self.at_ident("OR") {
            self.bump();
            children.push(self.and_expr()?);
        }
        let span = children[0].span().to(children[children.len() - 1].span());
        Ok(Expr::Or { children, span })
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        let first = self.factor()?;
        if !self.at_ident("AND") {
            return Ok(first);
        }
        let mut children = vec![first];
        while self.at_ident("AND") {
            self.bump();
            children.push(self.factor()?);
        }
        let span = children[0].span().to(children[children.len() - 1].span());
        Ok(Expr::And { children, span })
    }

    fn factor(&mut self) -> PResult<Expr> {
        self.nested(Self::factor_inner)
    }

    /// Runs `f` one nesting level deeper, failing past [`MAX_NESTING`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.nesting >= MAX_NESTING {
            let span = self.peek().span;
            return self.error(span, format!("nesting deeper than {MAX_NESTING} levels"));
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    fn factor_inner(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Ident(s) if s == "NOT" => {
                self.bump();
                let child = self.factor()?;
                let span = t.span.to(child.span());
                Ok(Expr::Not {
                    child: Box::new(child),
                    span,
                })
            }
            Tok::LParen => {
                self.bump();
                let inner = self.expr()?;
                if self.peek().tok != Tok::RParen {
                    let open = t.span;
                    let found = self.peek().clone();
                    self.diags.push(
                        Diagnostic::error(
                            found.span,
                            format!("expected `)` or AND / OR, found {}", found.tok.describe()),
                        )
                        .with_suggestion(format!(
                            "add `)` to close the `(` opened at {}:{}",
                            open.line, open.col
                        )),
                    );
                    return Err(());
                }
                let close = self.bump();
                Ok(Expr::Paren {
                    inner: Box::new(inner),
                    span: t.span.to(close),
                })
            }
            Tok::Ident(s) if matches!(s.as_str(), "AND" | "OR") => {
                self.error(t.span, format!("expected a condition before `{s}`"))
            }
            Tok::Ident(s)
                if *self.peek_tok(1) != Tok::LParen
                    && (ROUTE_ITEMS.contains(&s.as_str())
                        || BRANCH_ITEMS.contains(&s.as_str())
                        || TOP_LEVEL_KEYWORDS.contains(&s.as_str())) =>
            {
                self.error(
                    t.span,
                    format!(
                        "expected a condition such as `domain(\"math\")`, found the keyword `{s}`"
                    ),
                )
            }
            Tok::Ident(s) => {
                let signal_type = Name {
                    value: s.clone(),
                    quoted: false,
                    span: t.span,
                };
                self.bump();
                if self.peek().tok != Tok::LParen {
                    let found = self.peek().clone();
                    self.diags.push(
                        Diagnostic::error(
                            found.span,
                            format!(
                                "expected `(` after `{s}` in condition, found {}",
                                found.tok.describe()
                            ),
                        )
                        .with_suggestion(format!("a signal reference is written `{s}(\"name\")`")),
                    );
                    return Err(());
                }
                self.bump();
                let name = match &self.peek().tok {
                    Tok::Str(v) => Name {
                        value: v.clone(),
                        quoted: true,
                        span: self.bump(),
                    },
                    Tok::Ident(v) => {
                        let span = self.peek().span;
                        self.diags.push(
                            Diagnostic::error(
                                span,
                                format!("signal name `{v}` must be a quoted string"),
                            )
                            .with_suggestion(format!("write {s}(\"{v}\")")),
                        );
                        return Err(());
                    }
                    _ => return self.expected("a quoted signal name", &format!("in `{s}(…)`")),
                };
                let fields = self.signal_fields()?;
                let close = self.expect(Tok::RParen, &format!("after {s}(\"{}\"", name.value))?;
                Ok(Expr::Signal {
                    signal_type,
                    name,
                    fields,
                    span: t.span.to(close),
                })
            }
            _ => self.expected(
                "a condition such as `domain(\"math\")`, `NOT` or `(`",
                "in WHEN",
            ),
        }
    }

    /// Leaf fields after a signal name: `classifier("tox", label: "toxic", predicate: {gte: 0.7})`.
    /// Kept out of the recursive condition parser so its stack frame stays small (deeply nested
    /// conditions must end in an error, not a stack overflow).
    #[inline(never)]
    fn signal_fields(&mut self) -> PResult<Option<Box<[Field]>>> {
        let mut fields = Vec::new();
        while self.eat(&Tok::Comma) {
            if self.peek().tok == Tok::RParen {
                break;
            }
            fields.push(self.field()?);
        }
        Ok((!fields.is_empty()).then(|| fields.into_boxed_slice()))
    }

    fn tree(&mut self) -> PResult<DecisionTree> {
        let kw = self.bump();
        let name = self.name("a tree name", "after DECISION_TREE")?;
        self.expect(
            Tok::LBrace,
            &format!("to open DECISION_TREE {}", name.value),
        )?;
        let mut branches = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RBrace => break,
                Tok::Ident(s) if s == "IF" && branches.is_empty() => {
                    self.bump();
                    let cond = self.expr()?;
                    branches.push(self.branch_body(BranchKind::If, Some(cond), t.span)?);
                }
                Tok::Ident(s) if s == "ELSE" && !branches.is_empty() => {
                    self.bump();
                    if self.at_ident("IF") {
                        self.bump();
                        let cond = self.expr()?;
                        branches.push(self.branch_body(BranchKind::ElseIf, Some(cond), t.span)?);
                    } else {
                        branches.push(self.branch_body(BranchKind::Else, None, t.span)?);
                        let close = self.expect(
                            Tok::RBrace,
                            &format!("after the ELSE branch of DECISION_TREE {}", name.value),
                        )?;
                        return Ok(DecisionTree {
                            name,
                            branches,
                            span: kw.to(close),
                        });
                    }
                }
                _ => {
                    let what = if branches.is_empty() {
                        "`IF`"
                    } else {
                        "`ELSE IF` or `ELSE`"
                    };
                    return self.expected(what, &format!("in DECISION_TREE {}", name.value));
                }
            }
        }
        let t = self.peek().clone();
        self.diags.push(
            Diagnostic::error(
                t.span,
                format!("DECISION_TREE {} must end with an ELSE branch", name.value),
            )
            .with_suggestion("add `ELSE { MODEL \"…\" }` as the last branch"),
        );
        Err(())
    }

    fn branch_body(
        &mut self,
        kind: BranchKind,
        condition: Option<Expr>,
        start: Span,
    ) -> PResult<Branch> {
        let open = self.expect(Tok::LBrace, "to open the branch")?;
        let mut items = Vec::new();
        loop {
            match &self.peek().tok {
                Tok::RBrace => break,
                Tok::Eof => return self.unclosed(open),
                _ => items.push(self.route_item(&BRANCH_ITEMS, "DECISION_TREE branch")?),
            }
        }
        let close = self.bump();
        Ok(Branch {
            kind,
            condition,
            items,
            span: start.to(close),
        })
    }

    fn test_block(&mut self) -> PResult<TestBlock> {
        let kw = self.bump();
        let name = self.name("a test name", "after TEST")?;
        self.expect(Tok::LBrace, &format!("to open TEST {}", name.value))?;
        let mut cases = Vec::new();
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::RBrace => break,
                Tok::Str(query) => {
                    self.bump();
                    self.expect(Tok::Arrow, "after the test query")?;
                    let expected_route = self.name("a route name", "after `->`")?;
                    cases.push(TestCase {
                        query,
                        span: t.span.to(expected_route.span),
                        expected_route,
                    });
                }
                _ => {
                    return self.expected(
                        "a quoted query (`\"…\" -> route`) or `}`",
                        &format!("in TEST {}", name.value),
                    );
                }
            }
        }
        let close = self.bump();
        Ok(TestBlock {
            name,
            cases,
            span: kw.to(close),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_not_reserved() {
        let (ast, d) = parse("SIGNAL domain SIGNAL { description: \"x\" }");
        assert!(d.is_empty(), "{d:?}");
        let Item::Signal(s) = &ast.items[0] else {
            panic!()
        };
        assert_eq!(s.name.value, "SIGNAL");
    }

    #[test]
    fn bare_identifier_values_and_nesting() {
        let (ast, d) = parse("SIGNAL keyword t { method: regex, keywords: [], a: { b: [1, 2,] } }");
        assert!(d.is_empty(), "{d:?}");
        let Item::Signal(s) = &ast.items[0] else {
            panic!()
        };
        assert_eq!(
            s.body.fields[0].value.kind,
            ValueKind::Ident("regex".into())
        );
        assert_eq!(s.body.fields.len(), 3);
    }

    #[test]
    fn errors_recover_at_the_next_block() {
        let (ast, d) =
            parse("SIGNAL domain math { description \"no colon\" }\nSIGNAL domain law { }\n");
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("expected `:`"));
        assert_eq!(ast.items.len(), 1);
    }

    #[test]
    fn precedence_not_and_or() {
        let (ast, d) = parse("ROUTE r { WHEN a(\"1\") OR NOT b(\"2\") AND c(\"3\") }");
        assert!(d.is_empty(), "{d:?}");
        let Item::Route(r) = &ast.items[0] else {
            panic!()
        };
        let RouteItemKind::When(Expr::Or { children, .. }) = &r.items[0].kind else {
            panic!()
        };
        assert!(matches!(children[1], Expr::And { .. }));
    }

    #[test]
    fn bad_route_items() {
        for src in [
            "ROUTE test { FOO 123 }",
            "ROUTE t { MODEL 123 }",
            "ROUTE t { PRIORITY \"x\" }",
        ] {
            let (_, d) = parse(src);
            assert_eq!(d.len(), 1, "{src}: {d:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!(
            "ROUTE r {{ WHEN {}a(\"b\"){} }}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let (_, d) = parse(&deep);
        assert!(
            d.iter().any(|d| d.message.contains("nesting")),
            "{:?}",
            d.first()
        );
        let deep = format!(
            "SIGNAL a b {{ x: {}1{} }}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (_, d) = parse(&deep);
        assert!(d.iter().any(|d| d.message.contains("nesting")));
        let nots = format!("ROUTE r {{ WHEN {}a(\"b\") }}", "NOT ".repeat(100_000));
        let (_, d) = parse(&nots);
        assert!(d.iter().any(|d| d.message.contains("nesting")));
    }

    #[test]
    fn tree_requires_else() {
        let (_, d) = parse("DECISION_TREE t { IF a(\"x\") { MODEL \"m\" } }");
        assert!(d[0].message.contains("ELSE"), "{d:?}");
    }
}
