//! The writer's part for load (issue 12): `[workload]`'s traffic fields,
//! `[workload.arrivals]`, `[s3.capacity]` and `[s3.rate_limits]`, the
//! inverse of `load_traffic.rs`.

use retrylab_load::{KeyPopularity, OpenLoop, QueueSpec, RateLimitSpec, Traffic};

// Times the loader reads as seconds rounded to whole milliseconds, as a disruption's.
use super::seconds_for_whole_ms_duration as seconds;
use super::{array, float, integer, latency, millis, Toml, Written};

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
    let points = array(&schedule.points, |point| {
        let at = seconds(point.at);
        Written {
            text: format!("{{ at_s = {}, rate_per_s = {}, ramp = {} }}", at.text, float(point.rate_per_s), point.ramp),
            note: at.note,
        }
    });
    out.field("schedule", points);
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
    let bursts = array(&schedule.bursts, |burst| {
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
    });
    out.field("bursts", bursts);
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
    let slowdowns = array(&capacity.slowdowns, |slowdown| {
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
    });
    out.field("slowdowns", slowdowns);
}

/// `[s3.rate_limits]`.
pub(super) fn rate_limits(out: &mut Toml, limits: &RateLimitSpec) {
    out.table("s3.rate_limits");
    out.field("writes_per_s", Written::exact(float(limits.writes_per_s)));
    out.field("reads_per_s", Written::exact(float(limits.reads_per_s)));
    out.field("prefix_depth", integer(u64::from(limits.prefix_depth)));
    out.field("split_after_s", seconds(limits.split_after));
    out.field("splits_max", integer(u64::from(limits.splits_max)));
}
