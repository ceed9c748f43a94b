//! Every ```dsl example of docs/dsl.md compiles (warnings allowed) and is fmt-stable.

use std::path::Path;

#[test]
fn guide_examples_compile() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dsl.md");
    let Ok(text) = std::fs::read_to_string(&p) else {
        vsr_testkit::missing(format!("{} not found", p.display()));
        return;
    };
    let mut blocks = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```dsl\n") {
        let body = &rest[start + 7..];
        let end = body.find("```").unwrap_or(body.len());
        let src = &body[..end];
        blocks += 1;
        let compiled = vsr_dsl::compile(src)
            .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "docs/dsl.md example", src)));
        let once = vsr_dsl::format(src).unwrap_or_default();
        assert_eq!(vsr_dsl::format(&once).ok(), Some(once.clone()));
        // Formatting keeps the meaning, and so does decompiling.
        let reformatted = vsr_dsl::compile(&once).map(|c| c.routing).ok();
        assert_eq!(reformatted.as_ref(), Some(&compiled.routing));
        let text = vsr_dsl::decompile(&compiled.routing).unwrap_or_default();
        assert_eq!(
            vsr_dsl::compile(&text).map(|c| c.routing).ok(),
            Some(compiled.routing)
        );
        rest = &body[end..];
    }
    assert!(blocks >= 7, "found {blocks} examples");
}
