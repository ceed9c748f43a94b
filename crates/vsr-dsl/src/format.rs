//! The formatter: one canonical layout, source order kept, comments kept.
//!
//! Comments are re-attached by position: the ones before a statement print above it (a blank line
//! after a comment group is kept), one on the same line after a statement stays there, the ones
//! before a closing brace stay inside the block, and the ones inside a one-line construct (a
//! multi-line WHEN or array) move above it.

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::lexer::{Comment, is_ident, quote};
use crate::parser::parse;

/// Formats DSL source. Fails with the parse errors when the source does not parse.
pub fn format(src: &str) -> Result<String, Vec<Diagnostic>> {
    let (ast, diags) = parse(src);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(format_ast(&ast, src))
}

/// Formats a parsed program; `src` is the text it was parsed from (for comments and blank lines).
pub fn format_ast(ast: &Ast, src: &str) -> String {
    let mut p = Printer {
        src,
        comments: &ast.comments,
        next: 0,
        out: String::new(),
    };
    for (i, item) in ast.items.iter().enumerate() {
        if i > 0 {
            p.out.push('\n');
        }
        p.item(item, 0);
    }
    if p.next < p.comments.len() {
        if !ast.items.is_empty() {
            p.out.push('\n');
        }
        p.leading(usize::MAX, 0);
    }
    p.out
}

/// A name as an identifier when it lexes as one, quoted otherwise.
pub fn name_text(n: &str) -> String {
    if is_ident(n) { n.to_string() } else { quote(n) }
}

pub fn value_text(v: &Value) -> String {
    match &v.kind {
        ValueKind::Str(s) => quote(s),
        ValueKind::Int(_, lexeme) | ValueKind::Float(_, lexeme) => lexeme.clone(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Ident(s) => s.clone(),
        ValueKind::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_text).collect();
            format!("[{}]", parts.join(", "))
        }
        ValueKind::Object(fields) if fields.is_empty() => "{}".into(),
        ValueKind::Object(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", name_text(&f.key.value), value_text(&f.value)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

pub fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Signal {
            signal_type,
            name,
            fields,
            ..
        } => {
            let extra: String = fields
                .iter()
                .flat_map(|f| f.iter())
                .map(|f| format!(", {}: {}", f.key.value, value_text(&f.value)))
                .collect();
            format!("{}({}{extra})", signal_type.value, quote(&name.value))
        }
        Expr::And { children, .. } => children
            .iter()
            .map(expr_text)
            .collect::<Vec<_>>()
            .join(" AND "),
        Expr::Or { children, .. } => children
            .iter()
            .map(expr_text)
            .collect::<Vec<_>>()
            .join(" OR "),
        Expr::Not { child, .. } => format!("NOT {}", expr_text(child)),
        Expr::Paren { inner, .. } => format!("({})", expr_text(inner)),
    }
}

fn opts_text(opts: &[Opt], sep: &str) -> String {
    opts.iter()
        .map(|o| format!("{} = {}", o.key.value, value_text(&o.value)))
        .collect::<Vec<_>>()
        .join(sep)
}

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    next: usize,
    out: String,
}

impl Printer<'_> {
    /// True when the whitespace after `end` holds a blank line (a comment group's separation).
    fn blank_after(&self, end: usize) -> bool {
        let rest = self.src.get(end..).unwrap_or_default();
        let ws = rest
            .find(|c: char| !c.is_whitespace())
            .map_or(rest, |i| &rest[..i]);
        ws.matches('\n').count() >= 2
    }

    fn pad(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    /// Prints the comments that start before `before`, one per line.
    fn leading(&mut self, before: usize, indent: usize) {
        let mut last_end: Option<usize> = None;
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= before {
                break;
            }
            if let Some(end) = last_end
                && self.blank_after(end)
            {
                self.out.push('\n');
            }
            self.pad(indent);
            self.out.push('#');
            self.out.push_str(&c.text);
            self.out.push('\n');
            last_end = Some(c.span.end);
            self.next += 1;
        }
        if let Some(end) = last_end
            && before != usize::MAX
            && self.blank_after(end)
        {
            self.out.push('\n');
        }
    }

    /// Ends the current line, keeping a comment that follows `end` on the same source line.
    fn end_line(&mut self, end: usize) {
        if let Some(c) = self.comments.get(self.next) {
            let same_line = c.span.start >= end
                && self
                    .src
                    .get(end..c.span.start)
                    .is_some_and(|s| s.chars().all(|ch| matches!(ch, ' ' | '\t' | ',')));
            if same_line {
                self.out.push_str(" #");
                self.out.push_str(&c.text);
                self.next += 1;
            }
        }
        self.out.push('\n');
    }

    /// The offset just past the `{` that follows `pos` (only trivia can lie between).
    fn brace_after(&self, pos: usize) -> usize {
        let bytes = self.src.as_bytes();
        let mut i = pos;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => return i + 1,
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        pos
    }

    fn has_comment_before(&self, offset: usize) -> bool {
        self.comments
            .get(self.next)
            .is_some_and(|c| c.span.start < offset)
    }

    fn item(&mut self, item: &Item, indent: usize) {
        match item {
            Item::Signal(s) => {
                self.leading(s.body.span.start, indent);
                self.pad(indent);
                let head = format!(
                    "SIGNAL {} {}",
                    s.signal_type.value,
                    name_text(&s.name.value)
                );
                self.block(&head, &s.body, indent);
            }
            Item::Projection(p) => {
                self.leading(p.body.span.start, indent);
                self.pad(indent);
                let head = format!(
                    "PROJECTION {} {}",
                    p.projection_type.value,
                    name_text(&p.name.value)
                );
                self.block(&head, &p.body, indent);
            }
            Item::Model(m) => {
                self.leading(m.body.span.start, indent);
                self.pad(indent);
                let head = format!("MODEL {}", name_text(&m.name.value));
                self.block(&head, &m.body, indent);
            }
            Item::Plugin(p) => {
                self.leading(p.body.span.start, indent);
                self.pad(indent);
                let head = format!(
                    "PLUGIN {} {}",
                    name_text(&p.name.value),
                    name_text(&p.plugin_type.value)
                );
                self.block(&head, &p.body, indent);
            }
            Item::Route(r) => {
                self.leading(r.header.end, indent);
                self.pad(indent);
                self.out.push_str("ROUTE ");
                self.out.push_str(&name_text(&r.name.value));
                if !r.options.is_empty() {
                    self.out.push_str(" (");
                    self.out.push_str(&opts_text(&r.options, " "));
                    self.out.push(')');
                }
                self.out.push_str(" {");
                let open = self.brace_after(r.header.end);
                self.end_line(open);
                self.route_items(&r.items, indent + 2);
                self.close(r.span.end, indent);
            }
            Item::DecisionTree(t) => {
                let first = t.branches.first().map_or(t.span.end, |b| b.span.start);
                self.leading(t.name.span.end, indent);
                self.pad(indent);
                self.out.push_str("DECISION_TREE ");
                self.out.push_str(&name_text(&t.name.value));
                self.out.push_str(" {");
                let open = self.brace_after(t.name.span.end);
                self.end_line(open);
                let _ = first;
                for b in &t.branches {
                    let head_end = b.condition.as_ref().map_or(b.span.start, |c| c.span().end);
                    self.leading(head_end, indent + 2);
                    self.pad(indent + 2);
                    match (&b.kind, &b.condition) {
                        (BranchKind::If, Some(c)) => {
                            self.out.push_str(&format!("IF {} {{", expr_text(c)))
                        }
                        (BranchKind::ElseIf, Some(c)) => {
                            self.out.push_str(&format!("ELSE IF {} {{", expr_text(c)))
                        }
                        _ => self.out.push_str("ELSE {"),
                    }
                    let open = self.brace_after(head_end);
                    self.end_line(open);
                    self.route_items(&b.items, indent + 4);
                    self.close(b.span.end, indent + 2);
                }
                self.close(t.span.end, indent);
            }
            Item::Test(t) => {
                self.leading(t.name.span.end, indent);
                self.pad(indent);
                self.out.push_str("TEST ");
                self.out.push_str(&name_text(&t.name.value));
                if t.cases.is_empty() && !self.has_comment_before(t.span.end) {
                    self.out.push_str(" {}");
                    self.end_line(t.span.end);
                    return;
                }
                self.out.push_str(" {");
                let open = self.brace_after(t.name.span.end);
                self.end_line(open);
                for c in &t.cases {
                    self.leading(c.span.end, indent + 2);
                    self.pad(indent + 2);
                    self.out.push_str(&format!(
                        "{} -> {}",
                        quote(&c.query),
                        name_text(&c.expected_route.value)
                    ));
                    self.end_line(c.span.end);
                }
                self.close(t.span.end, indent);
            }
            Item::Routing(d) | Item::Entrypoint(d) => {
                self.leading(d.body.span.start, indent);
                self.pad(indent);
                let head = if matches!(item, Item::Routing(_)) {
                    "ROUTING"
                } else {
                    "ENTRYPOINT"
                };
                self.block(head, &d.body, indent);
            }
            Item::Recipe(r) => {
                self.leading(r.header.end, indent);
                self.pad(indent);
                self.out.push_str("RECIPE ");
                self.out.push_str(&name_text(&r.name.value));
                if !r.options.is_empty() {
                    self.out.push_str(" (");
                    self.out.push_str(&opts_text(&r.options, ", "));
                    self.out.push(')');
                }
                self.out.push_str(" {");
                let open = self.brace_after(r.header.end);
                self.end_line(open);
                for (i, it) in r.items.iter().enumerate() {
                    if i > 0 {
                        self.out.push('\n');
                    }
                    self.item(it, indent + 2);
                }
                self.close(r.span.end, indent);
            }
        }
    }

    /// Prints the comments left inside a block, then its closing brace.
    fn close(&mut self, block_end: usize, indent: usize) {
        self.leading(block_end.saturating_sub(1), indent + 2);
        self.pad(indent);
        self.out.push('}');
        self.end_line(block_end);
    }

    /// `head {` + one field per line + `}`, or `head {}` when empty.
    fn block(&mut self, head: &str, body: &FieldBlock, indent: usize) {
        self.out.push_str(head);
        if body.fields.is_empty() && !self.has_comment_before(body.span.end) {
            self.out.push_str(" {}");
            self.end_line(body.span.end);
            return;
        }
        self.out.push_str(" {");
        self.end_line(body.span.start + 1);
        for f in &body.fields {
            self.leading(f.span.end, indent + 2);
            self.pad(indent + 2);
            self.out.push_str(&format!(
                "{}: {}",
                name_text(&f.key.value),
                value_text(&f.value)
            ));
            self.end_line(f.span.end);
        }
        self.close(body.span.end, indent);
    }

    fn route_items(&mut self, items: &[RouteItem], indent: usize) {
        for it in items {
            match &it.kind {
                RouteItemKind::Algorithm(a) => {
                    self.leading(a.algo_type.span.end, indent);
                    self.pad(indent);
                    let mut head = format!("ALGORITHM {}", a.algo_type.value);
                    if !a.options.is_empty() {
                        head.push_str(&format!(" ({})", opts_text(&a.options, ", ")));
                    }
                    match &a.body {
                        Some(b) => self.block(&head, b, indent),
                        None => {
                            self.out.push_str(&head);
                            self.end_line(it.span.end);
                        }
                    }
                }
                RouteItemKind::Plugin(p) => {
                    self.leading(p.name.span.end, indent);
                    self.pad(indent);
                    let head = format!("PLUGIN {}", name_text(&p.name.value));
                    match &p.body {
                        Some(b) => self.block(&head, b, indent),
                        None => {
                            self.out.push_str(&head);
                            self.end_line(it.span.end);
                        }
                    }
                }
                RouteItemKind::Emit(e) => {
                    self.leading(e.kind.span.end, indent);
                    self.pad(indent);
                    self.block(&format!("EMIT {}", e.kind.value), &e.body, indent);
                }
                kind => {
                    self.leading(it.span.end, indent);
                    self.pad(indent);
                    let text = match kind {
                        RouteItemKind::For(f) => {
                            let source = match &f.source {
                                ForSource::Named(n) => name_text(&n.value),
                                ForSource::Models(refs) => format!(
                                    "[{}]",
                                    refs.iter()
                                        .map(|r| quote(&r.model.value))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            };
                            let outputs: Vec<String> = f
                                .outputs
                                .iter()
                                .map(|o| name_text(&o.model.value))
                                .collect();
                            format!(
                                "FOR {} IN {source} {{ MODEL {} }}",
                                f.variable.value,
                                outputs.join(", ")
                            )
                        }
                        RouteItemKind::Priority(n) => format!("PRIORITY {}", n.value),
                        RouteItemKind::Tier(n) => format!("TIER {}", n.value),
                        RouteItemKind::When(e) => format!("WHEN {}", expr_text(e)),
                        RouteItemKind::Name(n) => format!("NAME {}", name_text(&n.value)),
                        RouteItemKind::Description(d) => format!("DESCRIPTION {}", quote(&d.value)),
                        RouteItemKind::Model(refs) => {
                            let cont = format!(",\n{}", " ".repeat(indent + 6));
                            let parts: Vec<String> = refs
                                .iter()
                                .map(|r| {
                                    if r.options.is_empty() {
                                        quote(&r.model.value)
                                    } else {
                                        format!(
                                            "{} ({})",
                                            quote(&r.model.value),
                                            opts_text(&r.options, ", ")
                                        )
                                    }
                                })
                                .collect();
                            format!("MODEL {}", parts.join(&cont))
                        }
                        RouteItemKind::Algorithm(_)
                        | RouteItemKind::Plugin(_)
                        | RouteItemKind::Emit(_) => String::new(),
                    };
                    self.out.push_str(&text);
                    self.end_line(it.span.end);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_layout_and_comments() {
        let src = "# head\n\nSIGNAL  domain \"math\"{description:\"m\" # why\n}\n# about r\nROUTE r(description=\"d\"){PRIORITY 1 WHEN NOT (domain(\"math\") AND domain(\"x\"))\nMODEL \"a\"(reasoning=true),\"b\"\n# dangling\n}\n# tail\n";
        let out = format(src).unwrap_or_else(|d| panic!("{d:?}"));
        let want = "# head\n\nSIGNAL domain math {\n  description: \"m\" # why\n}\n\n# about r\nROUTE r (description = \"d\") {\n  PRIORITY 1\n  WHEN NOT (domain(\"math\") AND domain(\"x\"))\n  MODEL \"a\" (reasoning = true),\n        \"b\"\n  # dangling\n}\n\n# tail\n";
        assert_eq!(out, want);
        assert_eq!(format(&out).ok().as_deref(), Some(want));
    }
}
