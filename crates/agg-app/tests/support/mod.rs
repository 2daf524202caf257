//! What the agg-app tests share.

/// Loads the pipeline in `file` with the real agent registry, failing the
/// test with its diagnostics when it does not load.
pub fn load(file: &std::path::Path) -> agg_core::Pipeline {
    let env = |_: &str| None;
    let mut loaded = agg_core::pipeline::load(file, &agg_agents::registry(), &env).unwrap();
    let diags: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.render(&loaded.sources))
        .collect();
    loaded
        .pipeline
        .take()
        .unwrap_or_else(|| panic!("{diags:?}"))
}
