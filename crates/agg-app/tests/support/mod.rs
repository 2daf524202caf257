//! What the agg-app tests share.
// Each test file uses some of these helpers, none uses all.
#![allow(dead_code)]

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

/// A saga engine item from one outlet's feed, its text its title.
pub fn saga_item(
    id: &str,
    title: &str,
    outlet: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> agg_saga::SagaItem {
    agg_saga::SagaItem {
        id: id.into(),
        time: Some(at),
        title: title.into(),
        text: title.into(),
        source: Some(outlet.into()),
        feed: Some(format!("https://{outlet}/feed")),
        ..agg_saga::SagaItem::default()
    }
}
