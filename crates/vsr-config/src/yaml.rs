//! A YAML tree that remembers where every node starts, built from `yaml-rust2` parser events.
//! serde_yaml stops at the first error and forgets positions; the loader needs both to report
//! every problem as `file:line:column`.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based position in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(m: Marker) -> Pos {
        Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        }
    }
}

/// How a scalar was written: plain scalars are typed by their text (`true`, `12`, `null`), any
/// quoted or block scalar is a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    Quoted,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(String, ScalarStyle),
    Seq(Vec<Node>),
    /// Entries in document order; keys are scalars (a non-scalar key is reported by the builder).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

/// A typed reading of a plain scalar, following YAML 1.2 core schema (plus `~`).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }

    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar(text, style) = &self.kind else {
            return None;
        };
        if *style == ScalarStyle::Quoted {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Scalar::Float(f64::INFINITY),
            "-.inf" | "-.Inf" | "-.INF" => Scalar::Float(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => Scalar::Float(f64::NAN),
            t => parse_number(t).unwrap_or(Scalar::Str(t)),
        })
    }

    /// A short noun for messages: "a mapping", "a list", "the string \"x\"", …
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Map(_) => "a mapping".into(),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Scalar(..) => match self.scalar() {
                Some(Scalar::Null) => "null".into(),
                Some(Scalar::Bool(b)) => format!("the boolean {b}"),
                Some(Scalar::Int(i)) => format!("the integer {i}"),
                Some(Scalar::Float(f)) => format!("the number {f}"),
                Some(Scalar::Str(s)) => format!("the string {s:?}"),
                None => "a scalar".into(),
            },
        }
    }
}

fn parse_number(t: &str) -> Option<Scalar<'_>> {
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() {
        return None;
    }
    if let Some(hex) = body.strip_prefix("0x") {
        let v = i64::from_str_radix(hex, 16).ok()?;
        return Some(Scalar::Int(if t.starts_with('-') { -v } else { v }));
    }
    if let Some(oct) = body.strip_prefix("0o") {
        let v = i64::from_str_radix(oct, 8).ok()?;
        return Some(Scalar::Int(if t.starts_with('-') { -v } else { v }));
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .map(Scalar::Int)
            .or_else(|| t.parse().ok().map(Scalar::Float));
    }
    // YAML 1.2 core float: digits with an optional fraction and exponent; no bare words.
    let first = body.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'.') {
        return None;
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    t.parse::<f64>().ok().map(Scalar::Float)
}

/// A syntax error from the YAML parser, or a structural problem found while building the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    /// The YAML path of the offending node, when known.
    pub path: String,
    pub message: String,
}

/// Alias expansion beyond this many copied nodes is refused.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

fn count_nodes(n: &Node) -> usize {
    1 + match &n.kind {
        NodeKind::Scalar(..) => 0,
        NodeKind::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(_, v)| count_nodes(v)).sum(),
    }
}

/// Deeper nesting is refused: no config needs it, and recursive walks must stay bounded.
pub const MAX_DEPTH: usize = 128;

#[derive(Default)]
struct Builder {
    /// Set once nesting exceeded [`MAX_DEPTH`] or aliases expanded too much; later events are
    /// ignored.
    too_deep: bool,
    /// Nodes copied by alias expansion so far (bounded against "billion laughs" inputs).
    expanded: usize,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<SyntaxError>,
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Key, Node)>, Option<Key>),
}

impl Builder {
    /// The YAML path of the node being built (for errors found while building).
    fn path(&self) -> String {
        let mut p = String::new();
        for f in &self.stack {
            match f {
                Frame::Seq(_, _, items) => p = crate::diag::join_index(&p, items.len()),
                Frame::Map(_, _, _, Some(k)) => p = crate::diag::join_key(&p, &k.text),
                Frame::Map(_, _, _, None) => {}
            }
        }
        p
    }
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        let here = self.path();
        match self.stack.last_mut() {
            None => {
                self.documents += 1;
                if self.root.is_none() {
                    self.root = Some(node);
                } else {
                    self.errors.push(SyntaxError {
                        pos: node.pos,
                        path: String::new(),
                        message: "more than one YAML document in the file; only one is allowed"
                            .into(),
                    });
                }
            }
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(map_pos, _, entries, pending)) => match pending.take() {
                None => match &node.kind {
                    NodeKind::Scalar(text, _) => {
                        // A block mapping's start event is marked after its first key; the
                        // first key's own position is where the mapping visibly starts.
                        if entries.is_empty() {
                            *map_pos = node.pos;
                        }
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == *text) {
                            let first_pos = first.pos;
                            *pending = Some(Key {
                                text: text.clone(),
                                pos: node.pos,
                            });
                            self.errors.push(SyntaxError {
                                pos: node.pos,
                                path: crate::diag::join_key(&here, text),
                                message: format!(
                                    "duplicate key {text:?} (first at line {}, column {})",
                                    first_pos.line, first_pos.column
                                ),
                            });
                        } else {
                            *pending = Some(Key {
                                text: text.clone(),
                                pos: node.pos,
                            });
                        }
                    }
                    _ => {
                        self.errors.push(SyntaxError {
                            pos: node.pos,
                            path: here,
                            message: "mapping keys must be plain scalars".into(),
                        });
                        *pending = Some(Key {
                            text: String::new(),
                            pos: node.pos,
                        });
                    }
                },
                Some(key) => {
                    let mut node = node;
                    // An omitted value (`key:` then nothing) is marked where the next token
                    // starts, possibly lines below; point at its key instead.
                    if matches!(&node.kind, NodeKind::Scalar(t, ScalarStyle::Plain) if t.is_empty())
                    {
                        node.pos = key.pos;
                    }
                    // A duplicate key keeps the first value; the error above already says so.
                    if !entries.iter().any(|(k, _)| k.text == key.text) {
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        if self.too_deep {
            return;
        }
        if matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.too_deep = true;
            let path = self.path();
            self.errors.push(SyntaxError {
                pos,
                path,
                message: format!("nesting deeper than {MAX_DEPTH} levels is not supported"),
            });
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let style = match (style, &tag) {
                    (_, Some(t)) if t.suffix == "str" => ScalarStyle::Quoted,
                    (TScalarStyle::Plain, _) => ScalarStyle::Plain,
                    _ => ScalarStyle::Quoted,
                };
                let node = Node {
                    kind: NodeKind::Scalar(text, style),
                    pos,
                };
                self.remember(anchor, &node);
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(pos, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(pos, anchor, Vec::new(), None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(p, anchor, items)) => {
                        let n = Node {
                            kind: NodeKind::Seq(items),
                            pos: p,
                        };
                        self.remember(anchor, &n);
                        n
                    }
                    Some(Frame::Map(p, anchor, entries, _)) => {
                        let n = Node {
                            kind: NodeKind::Map(entries),
                            pos: p,
                        };
                        self.remember(anchor, &n);
                        n
                    }
                    None => return,
                };
                self.push_value(node);
            }
            Event::Alias(id) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone());
                if let Some(n) = &found {
                    self.expanded += count_nodes(n);
                    if self.expanded > MAX_ALIAS_NODES {
                        self.too_deep = true;
                        let path = self.path();
                        self.errors.push(SyntaxError {
                            pos,
                            path,
                            message: format!(
                                "aliases expand to more than {MAX_ALIAS_NODES} nodes; refusing to expand further"
                            ),
                        });
                        return;
                    }
                }
                match found {
                    Some(mut n) => {
                        n.pos = pos;
                        self.push_value(n)
                    }
                    None => {
                        let path = self.path();
                        self.errors.push(SyntaxError {
                            pos,
                            path,
                            message: "alias refers to an unknown anchor".into(),
                        });
                        self.push_value(Node {
                            kind: NodeKind::Scalar(String::new(), ScalarStyle::Plain),
                            pos,
                        });
                    }
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML document. An empty input yields `Ok(None)`.
pub fn parse(src: &str) -> Result<Option<Node>, Vec<SyntaxError>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(vec![SyntaxError {
            pos: Pos::from_marker(*m),
            path: String::new(),
            message: format!("YAML syntax error: {}", e.info()),
        }]);
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(builder.root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a:\n  b: 1\n").unwrap().unwrap();
        let NodeKind::Map(entries) = &n.kind else {
            panic!()
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        let NodeKind::Map(inner) = &entries[0].1.kind else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 2, column: 3 });
        assert_eq!(inner[0].1.pos, Pos { line: 2, column: 6 });
    }

    #[test]
    fn plain_scalars_are_typed_and_quoted_ones_are_strings() {
        let n = parse("[1, '1', 1.5, true, null, 1K, ~, \"x\"]")
            .unwrap()
            .unwrap();
        let NodeKind::Seq(items) = &n.kind else {
            panic!()
        };
        let got: Vec<_> = items.iter().map(|i| i.scalar().unwrap()).collect();
        assert_eq!(
            got,
            vec![
                Scalar::Int(1),
                Scalar::Str("1"),
                Scalar::Float(1.5),
                Scalar::Bool(true),
                Scalar::Null,
                Scalar::Str("1K"),
                Scalar::Null,
                Scalar::Str("x"),
            ]
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e[0].pos, Pos { line: 3, column: 1 });
        assert!(e[0].message.contains("duplicate key \"a\""));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e[0].pos.line >= 1);
        assert!(e[0].message.starts_with("YAML syntax error"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        // The YAML parser's own recursion limit or ours, whichever comes first.
        let deep = |e: Vec<SyntaxError>| {
            e.iter()
                .any(|x| x.message.contains("nesting deeper") || x.message.contains("recursion"))
        };
        assert!(deep(parse(&"[".repeat(100_000)).unwrap_err()));
        let block: String = (0..300)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(deep(parse(&block).unwrap_err()));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            src.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&src).unwrap_err();
        assert!(e[0].message.contains("aliases expand"), "{e:?}");
    }

    #[test]
    fn aliases_are_expanded() {
        let n = parse("a: &x {k: 1}\nb: *x\n").unwrap().unwrap();
        let NodeKind::Map(entries) = &n.kind else {
            panic!()
        };
        assert!(matches!(entries[1].1.kind, NodeKind::Map(_)));
    }
}
