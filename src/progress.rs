//! Progress bars for `agg run` on a terminal: one spinner per agent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use agg_core::AgentOutcome;
use agg_core::Pipeline;
use agg_core::exec::Observer;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Bars {
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new(p: &Pipeline) -> Self {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{spinner} {prefix:<16} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = p
            .agents
            .iter()
            .map(|a| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(a.name.clone());
                b.set_message("waiting");
                (a.name.clone(), b)
            })
            .collect();
        Bars {
            bars: Mutex::new(bars),
        }
    }
}

impl Observer for Bars {
    fn agent_started(&self, agent: &str) {
        if let Some(b) = self.bars.lock().expect("bars lock").get(agent) {
            b.set_message("running");
            b.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn agent_finished(&self, o: &AgentOutcome) {
        if let Some(b) = self.bars.lock().expect("bars lock").get(&o.agent) {
            b.finish_with_message(format!(
                "{} · {} in, {} out, {} new · {} ms",
                o.status, o.items_in, o.items_out, o.items_new, o.duration_ms
            ));
        }
    }
}
