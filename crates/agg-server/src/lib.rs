//! agg-server: running pipelines unattended and serving what they make.
//!
//! [`schedule`] decides when a pipeline runs (its crontab in its time zone,
//! across DST changes, with a catch-up policy after downtime); [`feeds`]
//! renders saga feeds (RSS 2.0 and Atom); [`http`] serves them with ETag and
//! Last-Modified; [`greader`] is the client API readers sync with; [`serve`] ties the scheduler, the per-pipeline lease in the
//! store and the HTTP server together for `agg serve`.

pub mod feeds;
pub mod greader;
pub mod http;
pub mod schedule;
pub mod serve;
pub mod ui;
