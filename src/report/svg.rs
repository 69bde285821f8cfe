//! Geometry of the HTML report's small inline charts: numbers in, positions out. The
//! templates draw the SVG elements from these, so every text they carry is escaped there;
//! nothing here writes markup.

use serde::Serialize;

/// Width of the drawing area of every chart, in SVG user units.
const PLOT_WIDTH: f64 = 640.0;
/// Room left of the plot for labels.
const LEFT: f64 = 90.0;
/// Room right of the plot, so that the last tick label fits.
const RIGHT: f64 = 40.0;

/// Rounds to a tenth of a unit, enough for a screen and short in the markup.
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// A linear map from a value range starting at 0 onto the plot's width.
#[derive(Clone, Copy)]
struct Axis {
    max: f64,
}

impl Axis {
    fn new(max: f64) -> Self {
        Self {
            max: if max.is_finite() && max > 0.0 {
                max
            } else {
                1.0
            },
        }
    }

    fn x(self, value: f64) -> f64 {
        round(LEFT + value.clamp(0.0, self.max) / self.max * PLOT_WIDTH)
    }

    fn length(self, value: f64) -> f64 {
        round(value.clamp(0.0, self.max) / self.max * PLOT_WIDTH)
    }

    /// Ticks at a 1-2-5 step, at most about eight of them, labelled by `label`.
    fn ticks(self, label: impl Fn(f64) -> String) -> Vec<Tick> {
        let rough = self.max / 8.0;
        let magnitude = 10f64.powf(rough.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|step| *step >= rough)
            .unwrap_or(10.0 * magnitude);
        let count = (self.max / step).floor() as u32;
        (0..=count)
            .map(|i| f64::from(i) * step)
            .map(|value| Tick {
                x: self.x(value),
                label: label(value),
            })
            .collect()
    }
}

/// A tick on a horizontal axis.
#[derive(Clone, Debug, Serialize)]
pub struct Tick {
    /// Horizontal position.
    pub x: f64,
    /// The value at the tick, formatted.
    pub label: String,
}

/// The phase of an iteration a band of its timeline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    /// Before the first injection.
    Baseline,
    /// From the first injection to the last revert.
    Fault,
    /// From the last revert to the end of the iteration.
    Recovery,
}

/// What a marker on a timeline marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerKind {
    /// A fault took effect.
    Injection,
    /// A fault was reverted.
    Revert,
    /// The first detection signal.
    Detection,
    /// The steady state held again.
    Recovery,
}

/// A phase of an iteration, in milliseconds from the iteration's start.
#[derive(Clone, Debug)]
pub struct PhaseSpan {
    /// Which phase.
    pub kind: PhaseKind,
    /// Where it starts.
    pub from_ms: f64,
    /// Where it ends.
    pub to_ms: f64,
    /// What the band says to a screen reader and in a tooltip.
    pub label: String,
}

/// A moment of an iteration, in milliseconds from the iteration's start.
#[derive(Clone, Debug)]
pub struct Moment {
    /// What happened.
    pub kind: MarkerKind,
    /// When.
    pub at_ms: f64,
    /// What the marker says to a screen reader and in a tooltip.
    pub label: String,
}

/// A band of a timeline, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Band {
    /// Which phase.
    pub kind: PhaseKind,
    /// Left edge.
    pub x: f64,
    /// Width, at least one unit so that a short phase stays visible.
    pub width: f64,
    /// The band's title.
    pub label: String,
}

/// A marker of a timeline, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Marker {
    /// What it marks.
    pub kind: MarkerKind,
    /// Horizontal position.
    pub x: f64,
    /// The marker's title.
    pub label: String,
}

/// One iteration drawn as phase bands with markers over a time axis.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// The view box's width.
    pub width: f64,
    /// Where the plot (and its axis) starts.
    pub plot_from: f64,
    /// Where it ends.
    pub plot_to: f64,
    /// The view box's height.
    pub height: f64,
    /// The phases, left to right.
    pub bands: Vec<Band>,
    /// The moments, in time order.
    pub markers: Vec<Marker>,
    /// The time axis.
    pub ticks: Vec<Tick>,
}

/// Lays out an iteration of `length_ms` with its phases and moments.
pub fn timeline(
    length_ms: f64,
    phases: &[PhaseSpan],
    moments: &[Moment],
    label: impl Fn(f64) -> String,
) -> Timeline {
    let axis = Axis::new(length_ms);
    let bands = phases
        .iter()
        .filter(|phase| phase.to_ms >= phase.from_ms)
        .map(|phase| Band {
            kind: phase.kind,
            x: axis.x(phase.from_ms),
            width: axis.length(phase.to_ms - phase.from_ms).max(1.0),
            label: phase.label.clone(),
        })
        .collect();
    let mut markers: Vec<Marker> = moments
        .iter()
        .map(|moment| Marker {
            kind: moment.kind,
            x: axis.x(moment.at_ms),
            label: moment.label.clone(),
        })
        .collect();
    markers.sort_by(|a, b| a.x.total_cmp(&b.x));
    Timeline {
        width: LEFT + PLOT_WIDTH + RIGHT,
        plot_from: LEFT,
        plot_to: LEFT + PLOT_WIDTH,
        height: 78.0,
        bands,
        markers,
        ticks: axis.ticks(label),
    }
}

/// One value of a strip plot, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Dot {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position, staggered so that equal values stay apart.
    pub y: f64,
    /// The dot's title.
    pub label: String,
}

/// A vertical rule across a strip plot (a percentile).
#[derive(Clone, Debug, Serialize)]
pub struct Rule {
    /// Horizontal position.
    pub x: f64,
    /// Which statistic, such as `p90`.
    pub name: String,
    /// What it stands for, such as `p90 695 ms`.
    pub label: String,
}

/// Values of one measure over the iterations as dots on an axis, with percentile rules.
#[derive(Clone, Debug, Serialize)]
pub struct Strip {
    /// The view box's width.
    pub width: f64,
    /// Where the plot (and its axis) starts.
    pub plot_from: f64,
    /// Where it ends.
    pub plot_to: f64,
    /// The view box's height.
    pub height: f64,
    /// One dot per measured iteration.
    pub dots: Vec<Dot>,
    /// p50, p90 and max.
    pub rules: Vec<Rule>,
    /// The value axis.
    pub ticks: Vec<Tick>,
}

/// Lays out `values` (label, value) with `rules` (statistic, value) on an axis from 0.
pub fn strip(
    values: &[(String, f64)],
    rules: &[(&str, f64)],
    label: impl Fn(f64) -> String,
) -> Strip {
    let max = values
        .iter()
        .map(|(_, value)| *value)
        .chain(rules.iter().map(|(_, value)| *value))
        .fold(0.0, f64::max);
    let axis = Axis::new(max * 1.05);
    let dots = values
        .iter()
        .enumerate()
        .map(|(i, (text, value))| Dot {
            x: axis.x(*value),
            y: 22.0 + 7.0 * (i % 3) as f64,
            label: text.clone(),
        })
        .collect();
    let rules = rules
        .iter()
        .map(|(name, value)| Rule {
            x: axis.x(*value),
            name: (*name).to_owned(),
            label: format!("{name} {}", label(*value)),
        })
        .collect();
    Strip {
        width: LEFT + PLOT_WIDTH + RIGHT,
        plot_from: LEFT,
        plot_to: LEFT + PLOT_WIDTH,
        height: 62.0,
        dots,
        rules,
        ticks: axis.ticks(label),
    }
}

/// One horizontal bar of a grouped bar chart, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Bar {
    /// Which series it belongs to, such as `p50`.
    pub series: String,
    /// Top edge.
    pub y: f64,
    /// Length.
    pub width: f64,
    /// The value, formatted, drawn after the bar.
    pub value: String,
}

/// A group of bars under one label (a phase).
#[derive(Clone, Debug, Serialize)]
pub struct BarGroup {
    /// The group's label.
    pub label: String,
    /// Vertical middle of the group, for its label.
    pub y: f64,
    /// The bars, one per series with a value.
    pub bars: Vec<Bar>,
}

/// Horizontal bars grouped by label, one bar per series, on an axis from 0.
#[derive(Clone, Debug, Serialize)]
pub struct GroupedBars {
    /// The view box's width.
    pub width: f64,
    /// Where the plot (and its axis) starts.
    pub plot_from: f64,
    /// Where it ends.
    pub plot_to: f64,
    /// The view box's height.
    pub height: f64,
    /// Where bars start.
    pub x: f64,
    /// Height of one bar.
    pub bar_height: f64,
    /// Where the value axis runs.
    pub axis_y: f64,

    /// The groups, top to bottom.
    pub groups: Vec<BarGroup>,
    /// The value axis.
    pub ticks: Vec<Tick>,
}

/// One group's label and its (series, value) pairs, the input of [`grouped_bars`].
pub type GroupValues = (String, Vec<(String, Option<f64>)>);

/// Lays out groups of (series, value) bars; a missing value draws no bar.
pub fn grouped_bars(groups: &[GroupValues], label: impl Fn(f64) -> String) -> GroupedBars {
    const BAR: f64 = 12.0;
    const GAP: f64 = 10.0;
    const TOP: f64 = 6.0;
    let max = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().filter_map(|(_, value)| *value))
        .fold(0.0, f64::max);
    // Room after the longest bar for its value.
    let axis = Axis::new(max * 1.15);
    let mut y = TOP;
    let mut placed = Vec::with_capacity(groups.len());
    for (group_label, bars) in groups {
        let top = y;
        let mut group_bars = Vec::new();
        for (series, value) in bars {
            if let Some(value) = value {
                group_bars.push(Bar {
                    series: series.clone(),
                    y: round(y),
                    width: axis.length(*value).max(1.0),
                    value: label(*value),
                });
            }
            y += BAR + 2.0;
        }
        placed.push(BarGroup {
            label: group_label.clone(),
            y: round((top + y - 2.0) / 2.0),
            bars: group_bars,
        });
        y += GAP;
    }
    GroupedBars {
        width: LEFT + PLOT_WIDTH + RIGHT,
        plot_from: LEFT,
        plot_to: LEFT + PLOT_WIDTH,
        height: round(y + 16.0),
        x: LEFT,
        bar_height: BAR,
        axis_y: round(y),
        groups: placed,
        ticks: axis.ticks(label),
    }
}

/// A point of a line chart, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position.
    pub y: f64,
    /// What the point says in a tooltip.
    pub label: String,
}

/// One series of a line chart, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    /// The series' name, also its style class.
    pub name: String,
    /// The `points` attribute of its polyline.
    pub path: String,
    /// Its points.
    pub points: Vec<Point>,
}

/// A tick on a vertical axis.
#[derive(Clone, Debug, Serialize)]
pub struct YTick {
    /// Vertical position.
    pub y: f64,
    /// The value at the tick, formatted.
    pub label: String,
}

/// A label on a line chart's time axis: where it is and which way its text runs from
/// there, so that it stays inside the chart.
#[derive(Clone, Debug, Serialize)]
pub struct TimeTick {
    /// Horizontal position of the tick.
    pub x: f64,
    /// The time at the tick, formatted.
    pub label: String,
    /// The SVG `text-anchor`: `middle`, or `start`/`end` at the chart's edges.
    pub anchor: &'static str,
}

/// Steps of a time axis, in seconds: each a round number on a clock or a calendar.
const TIME_STEPS: [f64; 22] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10800.0, 21600.0, 43200.0, 86400.0, 172800.0, 604800.0, 1209600.0, 2592000.0,
];
/// At most this many labels on a time axis: each is about 14 characters wide.
const MAX_TIME_TICKS: f64 = 5.0;
/// Room taken by one character of a tick label (11 px text), a little generously.
const CHAR_WIDTH: f64 = 7.0;
/// The time span drawn around a single moment, in seconds.
const SINGLE_MOMENT_SPAN: f64 = 60.0;

/// The time axis's step for `span` seconds: the smallest round step that gives at most
/// [`MAX_TIME_TICKS`] ticks.
fn time_step(span: f64) -> f64 {
    let last = TIME_STEPS[TIME_STEPS.len() - 1];
    TIME_STEPS
        .iter()
        .copied()
        .find(|step| span / step < MAX_TIME_TICKS)
        .unwrap_or_else(|| (span / MAX_TIME_TICKS / last).ceil() * last)
}

/// A time tick's label (UTC), as fine as the step between ticks needs: seconds below a
/// minute, minutes below a day, the date above.
pub fn time_label(seconds: f64, step: f64) -> String {
    let format = if step < 60.0 {
        "%m-%d %H:%M:%S"
    } else if step < 86_400.0 {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    };
    jiff::Timestamp::from_millisecond((seconds * 1e3) as i64)
        .map(|t| t.strftime(format).to_string())
        .unwrap_or_default()
}

/// Lines over time: values from 0 up, against a time axis from the first point to the last.
#[derive(Clone, Debug, Serialize)]
pub struct LineChart {
    /// The view box's width.
    pub width: f64,
    /// The view box's height.
    pub height: f64,
    /// Where the plot starts.
    pub plot_from: f64,
    /// Where it ends.
    pub plot_to: f64,
    /// The top of the plot.
    pub top: f64,
    /// Where the time axis runs.
    pub axis_y: f64,
    /// The series.
    pub lines: Vec<Line>,
    /// The time axis.
    pub x_ticks: Vec<TimeTick>,
    /// The value axis.
    pub y_ticks: Vec<YTick>,
}

/// One series of [`line_chart`]: its name and its (time in seconds, value, tooltip) points.
pub type Series = (String, Vec<(f64, f64, String)>);

/// Lays out series of values over time; `time` formats a time tick given the step between
/// ticks (both in seconds), and `value` a value tick.
pub fn line_chart(
    series: &[Series],
    time: impl Fn(f64, f64) -> String,
    value: impl Fn(f64) -> String,
) -> LineChart {
    const TOP: f64 = 10.0;
    const PLOT_HEIGHT: f64 = 160.0;
    let all = || series.iter().flat_map(|(_, points)| points.iter());
    let t_min = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let t_max = all().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let (t_min, span) = if t_min.is_finite() && t_max > t_min {
        (t_min, t_max - t_min)
    } else if t_min.is_finite() {
        // One moment only: centre it in a span wide enough for ticks around it.
        (t_min - SINGLE_MOMENT_SPAN / 2.0, SINGLE_MOMENT_SPAN)
    } else {
        (0.0, 1.0)
    };
    let v_axis = Axis::new(all().map(|p| p.1).fold(0.0, f64::max) * 1.1);
    let x = |t: f64| round(LEFT + (t - t_min) / span * PLOT_WIDTH);
    let y = |v: f64| round(TOP + PLOT_HEIGHT - v_axis.length(v) / PLOT_WIDTH * PLOT_HEIGHT);
    let lines = series
        .iter()
        .map(|(name, points)| {
            let placed: Vec<Point> = points
                .iter()
                .map(|(t, v, label)| Point {
                    x: x(*t),
                    y: y(*v),
                    label: label.clone(),
                })
                .collect();
            Line {
                name: name.clone(),
                path: placed
                    .iter()
                    .map(|p| format!("{},{}", p.x, p.y))
                    .collect::<Vec<_>>()
                    .join(" "),
                points: placed,
            }
        })
        .collect();
    // Ticks at round times inside the span, labelled as finely as their step needs: no two
    // labels alike, none past the chart's edges.
    let step = time_step(span);
    let first = (t_min / step).ceil() * step;
    let width = LEFT + PLOT_WIDTH + RIGHT;
    let x_ticks = (0..)
        .map(|i| first + f64::from(i) * step)
        .take_while(|t| *t <= t_min + span)
        .map(|t| {
            let label = time(t, step);
            let at = x(t);
            let half = label.chars().count() as f64 * CHAR_WIDTH / 2.0;
            let anchor = if at + half > width {
                "end"
            } else if at - half < 0.0 {
                "start"
            } else {
                "middle"
            };
            TimeTick {
                x: at,
                label,
                anchor,
            }
        })
        .collect();
    let y_ticks = v_axis
        .ticks(&value)
        .into_iter()
        .map(|tick| YTick {
            // The tick's horizontal offset on a plot of PLOT_WIDTH is its share of the axis.
            y: round(TOP + PLOT_HEIGHT - (tick.x - LEFT) / PLOT_WIDTH * PLOT_HEIGHT),
            label: tick.label,
        })
        .collect();
    LineChart {
        width: LEFT + PLOT_WIDTH + RIGHT,
        height: TOP + PLOT_HEIGHT + 30.0,
        plot_from: LEFT,
        plot_to: LEFT + PLOT_WIDTH,
        top: TOP,
        axis_y: TOP + PLOT_HEIGHT,
        lines,
        x_ticks,
        y_ticks,
    }
}

/// The length of a 0-100 score's bar out of `full`.
pub fn score_length(score: f64, full: f64) -> f64 {
    round(score.clamp(0.0, 100.0) / 100.0 * full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(value: f64) -> String {
        format!("{value}")
    }

    #[test]
    fn timeline_places_phases_and_markers_on_the_axis() {
        let phases = [
            PhaseSpan {
                kind: PhaseKind::Baseline,
                from_ms: 0.0,
                to_ms: 1000.0,
                label: "baseline".into(),
            },
            PhaseSpan {
                kind: PhaseKind::Fault,
                from_ms: 1000.0,
                to_ms: 3000.0,
                label: "fault".into(),
            },
        ];
        let moments = [Moment {
            kind: MarkerKind::Detection,
            at_ms: 2000.0,
            label: "detected".into(),
        }];
        let t = timeline(4000.0, &phases, &moments, label);
        assert_eq!(t.bands[0].x, LEFT);
        assert_eq!(t.bands[0].width, PLOT_WIDTH / 4.0);
        assert_eq!(t.bands[1].x, LEFT + PLOT_WIDTH / 4.0);
        assert_eq!(t.bands[1].width, PLOT_WIDTH / 2.0);
        assert_eq!(t.markers[0].x, LEFT + PLOT_WIDTH / 2.0);
        let labels: Vec<&str> = t.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "0", "500", "1000", "1500", "2000", "2500", "3000", "3500", "4000"
            ]
        );
    }

    #[test]
    fn empty_or_zero_ranges_do_not_divide_by_zero() {
        let t = timeline(0.0, &[], &[], label);
        assert!(t.ticks.iter().all(|tick| tick.x.is_finite()));
        let s = strip(&[], &[], label);
        assert!(s.dots.is_empty() && s.ticks.iter().all(|tick| tick.x.is_finite()));
        let b = grouped_bars(&[("baseline".into(), vec![("p50".into(), None)])], label);
        assert!(b.groups[0].bars.is_empty());
    }

    #[test]
    fn bars_are_proportional_and_never_vanish() {
        let b = grouped_bars(
            &[(
                "fault".into(),
                vec![("p50".into(), Some(0.001)), ("p99".into(), Some(100.0))],
            )],
            label,
        );
        let bars = &b.groups[0].bars;
        assert_eq!(bars[0].width, 1.0);
        assert_eq!(bars[1].width, round(PLOT_WIDTH / 1.15));
        assert!(bars[1].y > bars[0].y);
    }

    #[test]
    fn line_chart_spans_time_and_values_from_zero() {
        let chart = line_chart(
            &[(
                "ttd".into(),
                vec![
                    (100.0, 0.0, "a".into()),
                    (200.0, 50.0, "b".into()),
                    (300.0, 100.0, "c".into()),
                ],
            )],
            time,
            label,
        );
        let points = &chart.lines[0].points;
        assert_eq!(points[0].x, LEFT);
        assert_eq!(points[2].x, LEFT + PLOT_WIDTH);
        assert_eq!(points[1].x, LEFT + PLOT_WIDTH / 2.0);
        assert_eq!(points[0].y, chart.axis_y, "zero sits on the time axis");
        assert!(points[2].y < points[1].y && points[1].y < points[0].y);
        assert!(points[2].y >= chart.top);
        assert_eq!(chart.lines[0].path.split(' ').count(), 3);
        let ticks: Vec<&str> = chart.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            ticks,
            ["120", "180", "240", "300"],
            "round steps of a minute"
        );
        let single = line_chart(&[("s".into(), vec![(5.0, 1.0, "x".into())])], time, label);
        assert_eq!(single.lines[0].points[0].x, LEFT + PLOT_WIDTH / 2.0);
        let empty = line_chart(&[], time, label);
        assert!(empty.x_ticks.iter().all(|t| t.x.is_finite()));
    }

    fn time(t: f64, _step: f64) -> String {
        format!("{t}")
    }

    /// The labels are distinct, and each one's text (at the anchor's side) is inside the chart.
    fn assert_readable(chart: &LineChart) {
        let labels: Vec<&str> = chart.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert!(labels.len() >= 2, "{labels:?}");
        let mut distinct = labels.clone();
        distinct.dedup();
        assert_eq!(distinct, labels, "labels repeat");
        for t in &chart.x_ticks {
            let w = t.label.chars().count() as f64 * CHAR_WIDTH;
            let (from, to) = match t.anchor {
                "start" => (t.x, t.x + w),
                "end" => (t.x - w, t.x),
                _ => (t.x - w / 2.0, t.x + w / 2.0),
            };
            assert!(from >= 0.0 && to <= chart.width, "{t:?} past the edge");
            assert!(t.x >= chart.plot_from && t.x <= chart.plot_to, "{t:?}");
        }
    }

    #[test]
    fn time_labels_of_few_points_are_distinct_and_inside_the_chart() {
        // 2026-12-07 04:43:08 UTC, as in one run per experiment of a new history.
        let t0 = 1_796_618_588.0;
        let one = line_chart(
            &[("ttd".into(), vec![(t0, 1.0, "a".into())])],
            time_label,
            label,
        );
        assert_readable(&one);
        assert_eq!(one.lines[0].points[0].x, LEFT + PLOT_WIDTH / 2.0);
        for gap in [1.0, 3.0, 40.0, 600.0, 7.0 * 86400.0] {
            let two = line_chart(
                &[(
                    "ttd".into(),
                    vec![(t0, 1.0, "a".into()), (t0 + gap, 2.0, "b".into())],
                )],
                time_label,
                label,
            );
            assert_readable(&two);
        }
    }

    #[test]
    fn score_bar_is_clamped_to_its_full_length() {
        assert_eq!(score_length(50.0, 200.0), 100.0);
        assert_eq!(score_length(130.0, 200.0), 200.0);
        assert_eq!(score_length(-1.0, 200.0), 0.0);
    }
}
