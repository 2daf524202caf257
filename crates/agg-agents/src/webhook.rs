//! `webhook`: POSTs a JSON object per item that meets its rule (score,
//! words, followed saga) to a URL, once per item, rate-limited, through the
//! SSRF guard. The shared machinery is in [`crate::notify`].

use agg_core::{Agent, BuildCtx, KindDef, OptionsError, Role};

pub const KIND: KindDef = KindDef {
    name: "webhook",
    role: Role::Sink,
    summary: "POST a JSON message per item meeting a rule (score, words, followed saga), once per item",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    Ok(Box::new(crate::notify::build(v, ctx, false)?))
}
