//! Progress of a long load: a bar with rows/s and time left on a terminal, a log line every
//! few seconds otherwise (CI logs, `./dev run`'s output piped to a file).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain log line repeats.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    /// What is being done and to what, for the log lines: (`seeding`, `rows`).
    what: (&'static str, &'static str),
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    done: u64,
    total: u64,
}

impl Progress {
    /// `total` is an estimate (the exact count of confirmation records is known only once
    /// generated); the bar grows it when passed.
    #[must_use]
    pub fn new(total: u64, bar: bool) -> Self {
        Self::of("seeding", "rows", total, bar)
    }

    /// Progress of `doing` (`sealing`) over `total` `units` (`records`).
    #[must_use]
    pub fn of(doing: &'static str, units: &'static str, total: u64, bar: bool) -> Self {
        let bar = bar.then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {units} · {{rate}} · ETA {{eta}}"
                ))
                .expect("a valid template")
                // indicatif's {per_sec} prints four decimals: whole rows read better.
                .with_key("rate", move |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} {units}/s", s.per_sec());
                }),
            );
            b
        });
        let now = Instant::now();
        Self { what: (doing, units), bar, started: now, last_log: now, done: 0, total }
    }

    pub fn add(&mut self, rows: u64) {
        self.done += rows;
        self.total = self.total.max(self.done);
        if let Some(bar) = &self.bar {
            bar.set_length(self.total);
            bar.set_position(self.done);
        } else if self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64();
            let rate = self.done as f64 / secs.max(1e-3);
            let left = (self.total - self.done) as f64 / rate.max(1.0);
            let (doing, units) = self.what;
            tracing::info!(
                "{doing}: {} of about {} {units}, {rate:.0} {units}/s, about {left:.0} s left",
                self.done,
                self.total
            );
        }
    }

    pub fn finish(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        if rows > 0 {
            let (doing, units) = self.what;
            tracing::info!(
                rows,
                seconds = format!("{secs:.1}"),
                per_s = format!("{:.0}", rows as f64 / secs),
                "{doing} done: {rows} {units}"
            );
        }
    }
}
