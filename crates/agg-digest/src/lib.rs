//! agg-digest: the daily digest email.
//!
//! - [`select`]: which items go in (never one already sent), ranked by
//!   score, grouped under saga headers, capped, in sections (top stories,
//!   followed sagas, other stories, everything else by source, feed health);
//! - [`render`]: minijinja templates (shipped, overridable) to a subject,
//!   a plain-text part and an HTML part with CSS inlined;
//! - [`mail`]: the MIME message and SMTP sending with lettre, with retries;
//! - [`token`]: HMAC-signed feedback links (👍/👎, follow/mute, unsubscribe);
//! - [`deliver`]: exactly once per (pipeline, local day), through the store.
//!
//! Pure of agent plumbing: the `email_digest` agent (in agg-agents) and
//! `agg digest` both drive [`deliver::run`].

pub mod deliver;
pub mod mail;
pub mod render;
pub mod select;
pub mod token;

pub use deliver::{DigestConfig, Mode, Outcome, Status};
pub use mail::{SendOptions, SmtpUrl};
pub use render::{RenderConfig, Rendered};
pub use select::{MutedPolicy, SagaInfo, Section, SelectOptions, Selection};
pub use token::{Action, Signer, Token, TokenError};

/// Re-exported so option parsing elsewhere names the same time zones.
pub use chrono_tz;
