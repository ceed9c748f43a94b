//! The DSL lexer, parser, compiler and decompiler. Oracle: whatever compiles decompiles to DSL
//! that compiles back to the same tree (the lossless round trip the DSL promises), and the
//! formatter's output of compiling source compiles to that same tree too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn doc(c: &vsr_dsl::Compiled) -> Value {
    let mut doc = json!({ "routing": c.routing });
    if !c.entrypoints.is_empty() {
        doc["entrypoints"] = Value::Array(c.entrypoints.clone());
    }
    if !c.recipes.is_empty() {
        doc["recipes"] = Value::Array(c.recipes.clone());
    }
    doc
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vsr_dsl::parse(src);
    let Ok(first) = vsr_dsl::compile(src) else {
        return;
    };
    let tree = doc(&first);
    let text = vsr_dsl::decompile_config(&tree).expect("a compiled tree must decompile");
    let second = vsr_dsl::compile(&text)
        .unwrap_or_else(|d| panic!("decompiled DSL does not compile: {d:?}\n{text}"));
    assert_eq!(tree, doc(&second), "round trip changed the tree:\n{text}");
    if let Ok(formatted) = vsr_dsl::format(src) {
        let third = vsr_dsl::compile(&formatted)
            .unwrap_or_else(|d| panic!("formatted DSL does not compile: {d:?}\n{formatted}"));
        assert_eq!(tree, doc(&third), "fmt changed the tree:\n{formatted}");
    }
});
