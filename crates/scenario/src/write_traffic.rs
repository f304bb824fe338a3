//! The writer's part for load (issue 12): `[workload]`'s traffic fields,
//! `[workload.arrivals]`, `[s3.capacity]` and `[s3.rate_limits]`, the
//! inverse of `load_traffic.rs`.

use std::time::Duration;

use retrylab_load::{KeyPopularity, OpenLoop, QueueSpec, RateLimitSpec, Traffic};

use super::{float, integer, latency, millis, seconds_for_whole_ms, Toml, Written};

/// A time the loader reads as seconds rounded to whole milliseconds.
fn seconds(duration: Duration) -> Written {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let written = seconds_for_whole_ms(ms);
    if Duration::from_millis(ms) == duration || written.note.is_some() {
        return written;
    }
    Written { note: Some(format!("the scenario has {duration:?}; the file takes whole milliseconds")), ..written }
}

/// The traffic fields of `[workload]` (after the kind's own), then
/// `[workload.arrivals]`. Only what is set: a mixed workload refuses these fields.
pub(super) fn traffic_fields(out: &mut Toml, traffic: &Traffic) {
    if let Some(think) = &traffic.think_time {
        out.field("think_time_ms", Written::exact(latency(think)));
    }
    if let Some(deadline) = traffic.deadline {
        out.field("deadline_ms", millis(deadline));
    }
    if let Some(limit) = traffic.concurrency_max {
        out.field("concurrency_max", integer(limit));
    }
    if let KeyPopularity::Zipf { exponent } = traffic.popularity {
        out.field("zipf_exponent", Written::exact(float(exponent)));
    }
    // Absent is 1; a mixed workload takes no `prefixes` at all.
    if traffic.prefixes != 1 {
        out.field("prefixes", integer(traffic.prefixes));
    }
    if let Some(open) = &traffic.open_loop {
        arrivals(out, open);
    }
}

fn arrivals(out: &mut Toml, open: &OpenLoop) {
    let schedule = &open.schedule;
    out.table("workload.arrivals");
    out.field("rate_per_s", Written::exact(float(schedule.rate_per_s)));
    out.field("duration_s", seconds(open.duration));
    let points: Vec<Written> = schedule
        .points
        .iter()
        .map(|point| {
            let at = seconds(point.at);
            Written {
                text: format!(
                    "{{ at_s = {}, rate_per_s = {}, ramp = {} }}",
                    at.text,
                    float(point.rate_per_s),
                    point.ramp
                ),
                note: at.note,
            }
        })
        .collect();
    out.field("schedule", inline_array(points));
    if let Some(diurnal) = &schedule.diurnal {
        let period = seconds(diurnal.period);
        let peak = seconds(diurnal.peak_at);
        let note = period.note.or(peak.note);
        out.field(
            "diurnal",
            Written {
                text: format!(
                    "{{ amplitude = {}, period_s = {}, peak_at_s = {} }}",
                    float(diurnal.amplitude),
                    period.text,
                    peak.text
                ),
                note,
            },
        );
    }
    let bursts: Vec<Written> = schedule
        .bursts
        .iter()
        .map(|burst| {
            let (start, duration) = (seconds(burst.start), seconds(burst.duration));
            Written {
                text: format!(
                    "{{ start_s = {}, duration_s = {}, rate_per_s = {} }}",
                    start.text,
                    duration.text,
                    float(burst.rate_per_s)
                ),
                note: start.note.or(duration.note),
            }
        })
        .collect();
    out.field("bursts", inline_array(bursts));
}

/// `[s3.capacity]`.
pub(super) fn capacity(out: &mut Toml, capacity: &QueueSpec) {
    out.table("s3.capacity");
    out.field("servers", integer(u64::from(capacity.servers)));
    if let Some(queue_max) = capacity.queue_max {
        out.field("queue_max", integer(queue_max));
    }
    if let Some(timeout) = capacity.queue_timeout {
        out.field("queue_timeout_ms", millis(timeout));
    }
    let slowdowns: Vec<Written> = capacity
        .slowdowns
        .iter()
        .map(|slowdown| {
            let (start, end) = (seconds(slowdown.start), seconds(slowdown.end));
            Written {
                text: format!(
                    "{{ start_s = {}, end_s = {}, factor = {} }}",
                    start.text,
                    end.text,
                    float(slowdown.service_time_factor)
                ),
                note: start.note.or(end.note),
            }
        })
        .collect();
    out.field("slowdowns", inline_array(slowdowns));
}

/// `[s3.rate_limits]`.
pub(super) fn rate_limits(out: &mut Toml, limits: &RateLimitSpec) {
    out.table("s3.rate_limits");
    out.field("writes_per_s", Written::exact(float(limits.writes_per_s)));
    out.field("reads_per_s", Written::exact(float(limits.reads_per_s)));
    out.field("prefix_depth", integer(u64::from(limits.prefix_depth)));
    out.field("split_after_s", seconds_f64(limits.split_after));
    out.field("splits_max", integer(u64::from(limits.splits_max)));
}

/// `split_after_s` is read as seconds rounded to whole milliseconds too.
fn seconds_f64(duration: Duration) -> Written {
    seconds(duration)
}

fn inline_array(elements: Vec<Written>) -> Written {
    let notes: Vec<String> =
        elements.iter().enumerate().filter_map(|(i, e)| e.note.as_ref().map(|n| format!("[{i}]: {n}"))).collect();
    let texts: Vec<String> = elements.into_iter().map(|e| e.text).collect();
    Written { text: format!("[{}]", texts.join(", ")), note: (!notes.is_empty()).then(|| notes.join("; ")) }
}
