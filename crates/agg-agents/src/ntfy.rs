//! `ntfy`: a push notification per item that meets its rule, in ntfy's
//! plain-text form (the item's summary as the message; `Title`, `Priority`
//! and `Click` headers), to a topic URL on ntfy.sh or a self-hosted server.
//! Once per item, rate-limited, through the SSRF guard; an access token
//! comes from `token_env`. The shared machinery is in [`crate::notify`].

use agg_core::{Agent, BuildCtx, KindDef, OptionsError, Role};

pub const KIND: KindDef = KindDef {
    name: "ntfy",
    role: Role::Sink,
    summary: "push an ntfy notification per item meeting a rule (score, words, followed saga), once per item",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    Ok(Box::new(crate::notify::build(v, ctx, true)?))
}
