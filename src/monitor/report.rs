//! The drift report: one self-contained HTML page per day.
//!
//! No scripts, no network: inline CSS and SVG drawn here, so the file can
//! be mailed, attached to a ticket or opened on an air-gapped host. It is
//! written as XHTML-compatible HTML5 (every element closed, every attribute
//! quoted) so that an XML parser can check it. What fired comes first, then
//! the columns by PSI, then one card per column: today's histogram over the
//! reference's, the missing and out-of-range rates, and PSI over the last runs.

use std::fmt::Write;

use chrono::NaiveDate;

use super::drift::{self, Band, ColumnDrift, Drift, Level, Thresholds};
use super::profile::{ColumnProfile, Profile, Role};
use crate::ledger::Record;

/// PSI points per column in the trend (the last runs with a stored profile).
pub const TREND_RUNS: usize = 30;

pub struct Input<'a> {
    pub job: &'a str,
    pub date: NaiveDate,
    pub profile: &'a Profile,
    pub reference: &'a Profile,
    pub reference_path: &'a str,
    pub thresholds: &'a Thresholds,
    pub record: Option<&'a Record>,
    /// Older days first, today last: the date and each column's PSI
    /// (`None` where that day's profile has other edges).
    pub history: Vec<(NaiveDate, Drift)>,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn pct(x: f64) -> String {
    if x == 0.0 {
        "0%".into()
    } else if x < 0.001 {
        format!("{:.2}%", x * 100.0)
    } else {
        format!("{:.1}%", x * 100.0)
    }
}

fn level_class(l: Level) -> &'static str {
    match l {
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Alert => "alert",
    }
}

fn band_word(b: Option<Band>) -> &'static str {
    match b {
        Some(Band::Stable) => "stable",
        Some(Band::Moderate) => "moderate",
        Some(Band::Significant) => "significant",
        None => "-",
    }
}

/// The page. `drift` is today's comparison (the same one the run recorded).
pub fn render(input: &Input<'_>, today: &Drift) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let status = today.level();
    let title = format!("batchscore drift report: {} {}", input.job, input.date);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    // Header: what, when, verdict.
    let verdict = match status {
        Level::Ok => "no drift",
        Level::Warning => "moderate drift",
        Level::Alert => "drift alert",
    };
    let _ = write!(
        h,
        "<header>\n<h1><span class=\"job\">{}</span> <span class=\"date\">{}</span> <span class=\"pill {}\">{}</span></h1>\n",
        esc(input.job),
        input.date,
        level_class(status),
        verdict
    );
    let mut facts = vec![format!("{} rows profiled", thousands(input.profile.rows))];
    let ref_what = if let Some(f) = &input.reference.input {
        format!("file {}", f.display())
    } else {
        match (input.reference.dates.first(), input.reference.dates.last()) {
            (Some(a), Some(b)) if a == b => format!("{a}"),
            (Some(a), Some(b)) => format!("{a} to {b}"),
            _ => "?".into(),
        }
    };
    facts.push(format!(
        "reference: {} ({} rows, <code>{}</code>)",
        esc(&ref_what),
        thousands(input.reference.rows),
        esc(input.reference_path)
    ));
    if let Some(r) = input.record {
        let run = match (&r.error, r.status) {
            (Some(e), _) => {
                format!("run <b class=\"alert-text\">failed</b> (exit {}): {}", e.exit_code, esc(&e.message))
            }
            (None, _) => format!(
                "run succeeded: {} rows scored, {} rejected",
                thousands(r.rows.scored),
                thousands(r.rows.rejected)
            ),
        };
        facts.push(run);
        if let Some(m) = &r.monitor
            && m.withheld
        {
            facts.push(
                "<b class=\"alert-text\">output withheld by the quality gate</b> (on_alert = \"fail\")"
                    .into(),
            );
        }
    } else {
        facts.push("no run record for this date".into());
    }
    let _ = writeln!(h, "<ul class=\"facts\">");
    for f in facts {
        let _ = writeln!(h, "<li>{f}</li>");
    }
    let _ = writeln!(h, "</ul>\n</header>\n<main>");

    // 1. The checks that fired.
    let _ = writeln!(h, "<section id=\"checks\">\n<h2>Checks</h2>");
    if today.checks.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"none ok\">No check fired: every column is within the thresholds (PSI &lt; {}, missing rate up by at most {}, at most {} out of range, at most {} unseen).</p>",
            input.thresholds.psi_moderate,
            pct(input.thresholds.max_null_rate_increase),
            pct(input.thresholds.max_out_of_range),
            pct(input.thresholds.max_unseen)
        );
    } else {
        let _ = writeln!(h, "<ul class=\"checks\">");
        for c in &today.checks {
            let _ = writeln!(
                h,
                "<li class=\"{}\"><span class=\"pill {}\">{}</span> <span class=\"kind\">{}</span> <a href=\"#{}\">{}</a></li>",
                level_class(c.level),
                level_class(c.level),
                c.level,
                esc(&c.check.replace('_', " ")),
                anchor(&c.column, c.role),
                esc(&c.message)
            );
        }
        let _ = writeln!(h, "</ul>");
    }
    let _ = writeln!(h, "</section>");

    // 2. Every column by PSI.
    let trend_of = |c: &ColumnDrift| -> Vec<(NaiveDate, Option<f64>)> {
        input
            .history
            .iter()
            .map(|(d, dr)| {
                (*d, dr.columns.iter().find(|x| x.column == c.column && x.role == c.role).and_then(|x| x.psi))
            })
            .collect()
    };
    let _ = writeln!(
        h,
        "<section id=\"table\">\n<h2>Columns by PSI</h2>\n<div class=\"scroll\">\n<table>\n<thead><tr><th>column</th><th>role</th><th class=\"num\">PSI</th><th>band</th>\
         <th class=\"num\">missing</th><th class=\"num\">missing (ref)</th><th class=\"num\">out of range</th><th class=\"num\">unseen</th><th>PSI, last {TREND_RUNS} runs</th></tr></thead>\n<tbody>"
    );
    for c in &today.columns {
        // The cell whose check fired is marked, so a row says why it is red.
        let hot = |check: &str| {
            if today.checks.iter().any(|k| k.check == check && k.column == c.column && k.role == c.role) {
                "num hot"
            } else {
                "num"
            }
        };
        let _ = writeln!(
            h,
            "<tr class=\"{}\"><td><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"{}\">{}</td><td><span class=\"band {}\">{}</span></td>\
             <td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td><td class=\"spark\">{}</td></tr>",
            level_class(c.level),
            anchor(&c.column, c.role),
            esc(&c.column),
            c.role,
            hot("psi"),
            c.psi.map_or("-".into(), |p| format!("{p:.3}")),
            band_word(c.band),
            band_word(c.band),
            hot("null_rate"),
            pct(c.null_rate),
            pct(c.reference_null_rate),
            hot("out_of_range"),
            c.out_of_range.map_or("-".into(), pct),
            hot("unseen"),
            c.unseen.map_or("-".into(), pct),
            sparkline(&trend_of(c), input.thresholds)
        );
    }
    let _ = writeln!(h, "</tbody>\n</table>\n</div>\n</section>");

    // 3. One card per column: scores first (the model's own view), then features by PSI.
    for (role, heading) in [(Role::Score, "Scores"), (Role::Feature, "Features")] {
        let cols: Vec<&ColumnDrift> = today.columns.iter().filter(|c| c.role == role).collect();
        if cols.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<section id=\"{}\">\n<h2>{heading}</h2>\n<div class=\"cards\">", role);
        for c in cols {
            let (Some(run), Some(base)) =
                (input.profile.column(&c.column, c.role), input.reference.column(&c.column, c.role))
            else {
                continue;
            };
            card(&mut h, c, run, base, &trend_of(c), input.thresholds);
        }
        let _ = writeln!(h, "</div>\n</section>");
    }
    let _ = writeln!(
        h,
        "</main>\n<footer>batchscore {} · PSI bands: &lt; {} stable, {}–{} moderate, &gt; {} significant · bins are the reference's deciles between its min and max, with a bin below and one above for values outside the reference's range.</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        input.thresholds.psi_moderate,
        input.thresholds.psi_moderate,
        input.thresholds.psi_significant,
        input.thresholds.psi_significant
    );
    h
}

fn anchor(column: &str, role: Role) -> String {
    // Ids must be XML names: column names may hold spaces, slashes, anything.
    let mut s = format!("{role}-");
    for b in column.bytes() {
        if b.is_ascii_alphanumeric() {
            s.push(b as char);
        } else {
            let _ = write!(s, "_{b:02x}");
        }
    }
    s
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn card(
    h: &mut String,
    c: &ColumnDrift,
    run: &ColumnProfile,
    base: &ColumnProfile,
    trend: &[(NaiveDate, Option<f64>)],
    t: &Thresholds,
) {
    let _ = writeln!(
        h,
        "<article class=\"card {}\" id=\"{}\">\n<h3><span class=\"name\">{}</span> <span class=\"band {}\">PSI {}</span></h3>",
        level_class(c.level),
        anchor(&c.column, c.role),
        esc(&c.column),
        band_word(c.band),
        c.psi.map_or("-".into(), |p| format!("{p:.3}"))
    );
    h.push_str(&histogram(c, run, base));
    let _ = writeln!(
        h,
        "<p class=\"legend\"><span class=\"key today\"></span> today <span class=\"key ref\"></span> reference</p>"
    );
    let _ = writeln!(h, "<dl>");
    let mut fact = |k: &str, v: String| {
        let _ = writeln!(h, "<dt>{k}</dt><dd>{v}</dd>");
    };
    fact(
        "missing",
        format!("{} <span class=\"muted\">(ref {})</span>", pct(c.null_rate), pct(c.reference_null_rate)),
    );
    if let (Some(a), Some(b)) = (&run.numeric, &base.numeric) {
        if let Some(o) = c.out_of_range {
            fact("out of range", pct(o));
        }
        let m = |x: Option<f64>| x.map_or("-".into(), drift::short);
        fact("mean", format!("{} <span class=\"muted\">(ref {})</span>", m(a.mean), m(b.mean)));
        fact("std", format!("{} <span class=\"muted\">(ref {})</span>", m(a.std), m(b.std)));
        fact(
            "min … max",
            format!(
                "{} … {} <span class=\"muted\">(ref {} … {})</span>",
                m(a.min),
                m(a.max),
                m(b.min),
                m(b.max)
            ),
        );
    }
    if let Some(a) = &run.categorical {
        if let Some(u) = c.unseen {
            let eg = if a.unseen_examples.is_empty() {
                String::new()
            } else {
                format!(
                    " <span class=\"muted\">({})</span>",
                    a.unseen_examples.iter().map(|e| esc(&format!("{e:?}"))).collect::<Vec<_>>().join(", ")
                )
            };
            fact("unseen", format!("{}{eg}", pct(u)));
        } else {
            fact(
                "categories",
                "the reference's top categories + other (high cardinality: unseen not checked)".into(),
            );
        }
        if let Some(s) = c.class_share_change {
            fact("class share change", format!("{:.1} points", s * 100.0));
        }
    }
    fact("PSI trend", sparkline(trend, t));
    let _ = writeln!(h, "</dl>\n</article>");
}

const W: f64 = 360.0;
const H: f64 = 150.0;
const PAD_L: f64 = 34.0;
const PAD_B: f64 = 22.0;
const PAD_T: f64 = 8.0;

/// Today's share per bin (filled) over the reference's (outlined), bins
/// drawn equal-width: they are deciles, so the reference is flat at 10% and
/// drift shows as bars leaving the line. The outer bins (outside the
/// reference's range) are narrower and red when they hold anything.
fn histogram(c: &ColumnDrift, run: &ColumnProfile, base: &ColumnProfile) -> String {
    let (counts, ref_counts, labels, outer): (Vec<u64>, Vec<u64>, Vec<String>, bool) =
        match (&run.numeric, &base.numeric, &run.categorical, &base.categorical) {
            (Some(a), Some(b), _, _) => {
                let labels = b.edges.iter().map(|e| drift::short(*e)).collect();
                (a.counts.clone(), b.counts.clone(), labels, true)
            }
            (_, _, Some(a), Some(b)) => {
                let mut x = a.counts.clone();
                x.push(a.other);
                let mut y = b.counts.clone();
                y.push(b.other);
                let mut labels: Vec<String> = a.categories.clone();
                labels.push(if b.complete { "unseen".into() } else { "other".into() });
                (x, y, labels, false)
            }
            _ => (vec![], vec![], vec![], false),
        };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"hist\" data-column=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(&c.column),
        esc(&format!("histogram of {} today against the reference", c.column))
    );
    let n: u64 = counts.iter().sum();
    let m: u64 = ref_counts.iter().sum();
    if counts.is_empty() || (n == 0 && m == 0) {
        let _ = write!(s, "<text x=\"{}\" y=\"{}\" class=\"empty\">no values</text></svg>", W / 2.0, H / 2.0);
        return s;
    }
    let share = |v: u64, t: u64| if t == 0 { 0.0 } else { v as f64 / t as f64 };
    let top = counts
        .iter()
        .map(|&v| share(v, n))
        .chain(ref_counts.iter().map(|&v| share(v, m)))
        .fold(0.0f64, f64::max)
        .max(0.01);
    let k = counts.len();
    // Widths: the outer bins of a numeric histogram get half a bin.
    let weights: Vec<f64> = (0..k).map(|i| if outer && (i == 0 || i == k - 1) { 0.5 } else { 1.0 }).collect();
    let total: f64 = weights.iter().sum();
    let plot_w = W - PAD_L - 4.0;
    let plot_h = H - PAD_T - PAD_B;
    let y = |v: f64| PAD_T + plot_h * (1.0 - v / top);
    // Axis and grid.
    for frac in [0.0, 0.5, 1.0] {
        let v = top * frac;
        let yy = y(v);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{PAD_L}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - 4.0,
            PAD_L - 3.0,
            yy + 3.0,
            if v == 0.0 { "0".into() } else { format!("{:.0}%", v * 100.0) }
        );
    }
    let mut x = PAD_L;
    for i in 0..k {
        let w = plot_w * weights[i] / total;
        let today = share(counts[i], n);
        let before = share(ref_counts[i], m);
        let outside = outer && (i == 0 || i == k - 1);
        let class = if outside && counts[i] > 0 { "bar out" } else { "bar" };
        let _ = write!(
            s,
            "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} today ({}), {} reference</title></rect>",
            x + w * 0.12,
            y(today),
            (w * 0.76).max(0.5),
            (PAD_T + plot_h - y(today)).max(0.0),
            esc(&bin_label(i, k, &labels, outer)),
            pct(today),
            thousands(counts[i]),
            pct(before)
        );
        let _ = write!(
            s,
            "<rect class=\"ref\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            x + w * 0.12,
            y(before),
            (w * 0.76).max(0.5),
            (PAD_T + plot_h - y(before)).max(0.0)
        );
        x += w;
    }
    // X labels: for numeric, the reference's min, median edge and max; for
    // categories, each name when there are few.
    let base_y = H - PAD_B + 13.0;
    if outer {
        let edge_x = |j: usize| PAD_L + plot_w * (0.5 + j as f64) / total;
        let picks: Vec<usize> = match labels.len() {
            0 => vec![],
            1 => vec![0],
            l => vec![0, l / 2, l - 1],
        };
        for (p, j) in picks.iter().enumerate() {
            let anchor = match (p, picks.len()) {
                (0, _) => "start",
                (p, l) if p + 1 == l => "end",
                _ => "middle",
            };
            let _ = write!(
                s,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{base_y}\" text-anchor=\"{anchor}\">{}</text>",
                edge_x(*j),
                esc(&labels[*j])
            );
        }
    } else if k <= 8 {
        let mut x = PAD_L;
        for (i, l) in labels.iter().enumerate() {
            let w = plot_w * weights[i] / total;
            let short: String = l.chars().take(10).collect();
            let _ = write!(
                s,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{base_y}\" text-anchor=\"middle\">{}</text>",
                x + w / 2.0,
                esc(&short)
            );
            x += w;
        }
    } else {
        let _ = write!(
            s,
            "<text class=\"tick\" x=\"{PAD_L}\" y=\"{base_y}\">{k} categories (hover for names)</text>"
        );
    }
    s.push_str("</svg>\n");
    s
}

fn bin_label(i: usize, k: usize, labels: &[String], outer: bool) -> String {
    if !outer {
        return labels.get(i).cloned().unwrap_or_default();
    }
    let e = |j: usize| labels.get(j).cloned().unwrap_or_default();
    if i == 0 {
        format!("below {}", e(0))
    } else if i == k - 1 {
        format!("above {}", e(labels.len().saturating_sub(1)))
    } else if labels.len() == 1 {
        format!("= {}", e(0))
    } else {
        format!("{} to {}", e(i - 1), e(i))
    }
}

/// PSI over the last runs, with the two band lines; today is the last point.
fn sparkline(points: &[(NaiveDate, Option<f64>)], t: &Thresholds) -> String {
    const SW: f64 = 120.0;
    const SH: f64 = 20.0;
    let vals: Vec<(usize, f64)> =
        points.iter().enumerate().filter_map(|(i, (_, p))| p.map(|p| (i, p))).collect();
    let top = vals.iter().map(|v| v.1).fold(t.psi_significant * 1.2, f64::max);
    let n = points.len().max(2);
    let x = |i: usize| 3.0 + (SW - 6.0) * i as f64 / (n - 1) as f64;
    let y = |v: f64| SH - 3.0 - (SH - 6.0) * (v / top).min(1.0);
    let mut s = format!(
        "<svg class=\"trend\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {SW} {SH}\" width=\"{SW}\" height=\"{SH}\" role=\"img\" aria-label=\"PSI over the last {} runs\">",
        points.len()
    );
    for (v, class) in [(t.psi_moderate, "band-moderate"), (t.psi_significant, "band-significant")] {
        let _ =
            write!(s, "<line class=\"{class}\" x1=\"0\" x2=\"{SW}\" y1=\"{:.1}\" y2=\"{:.1}\"/>", y(v), y(v));
    }
    if vals.len() > 1 {
        let pts: Vec<String> = vals.iter().map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v))).collect();
        let _ = write!(s, "<polyline class=\"line\" points=\"{}\"/>", pts.join(" "));
    }
    for (i, v) in &vals {
        let last = *i + 1 == points.len();
        let _ = write!(
            s,
            "<circle class=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\"><title>{}: PSI {v:.3}</title></circle>",
            if last { "dot today" } else { "dot" },
            x(*i),
            y(*v),
            if last { 2.8 } else { 1.6 },
            points[*i].0
        );
    }
    s.push_str("</svg>");
    s
}

const CSS: &str = r#"
:root{--ok:#1a7f37;--warn:#9a6700;--alert:#cf222e;--ink:#1f2328;--muted:#656d76;--line:#d0d7de;--today:#0969da;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 20px}
header{padding-top:18px;border-bottom:1px solid var(--line)}
h1{font-size:22px;margin:0 0 6px;display:flex;flex-wrap:wrap;gap:10px;align-items:center}
h1 .date{color:var(--muted);font-weight:500}
h2{font-size:17px;margin:22px 0 10px}
h3{font-size:14px;margin:0 0 6px;display:flex;justify-content:space-between;gap:8px;align-items:baseline}
h3 .name{overflow-wrap:anywhere}
code{font-size:12px;overflow-wrap:anywhere}
.facts{list-style:none;margin:0 0 12px;padding:0;color:var(--muted);font-size:13px}
.facts li{margin:2px 0;overflow-wrap:anywhere}
.pill{display:inline-block;border-radius:999px;padding:1px 10px;font-size:12px;font-weight:600;color:#fff;vertical-align:middle;text-transform:uppercase;letter-spacing:.03em}
.pill.ok{background:var(--ok)}.pill.warning{background:var(--warn)}.pill.alert{background:var(--alert)}
.alert-text{color:var(--alert)}
.none{padding:10px 14px;border-radius:6px;background:#dafbe1;border:1px solid #aceebb;margin:0}
.checks{list-style:none;padding:0;margin:0}
.checks li{padding:8px 12px;border-left:4px solid var(--line);background:var(--bg);margin:0 0 6px;border-radius:0 6px 6px 0;overflow-wrap:anywhere}
.checks li.alert{border-color:var(--alert);background:#ffebe9}
.checks li.warning{border-color:var(--warn);background:#fff8c5}
.checks .kind{font-weight:600;margin-right:4px}
.checks a{color:inherit;text-decoration:none}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:13px}
td.hot{color:var(--alert);font-weight:700}
td.spark{padding-top:1px;padding-bottom:1px;line-height:0}
th,td{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:middle}
th{background:var(--bg);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.alert td:first-child{box-shadow:inset 4px 0 0 var(--alert)}
tr.warning td:first-child{box-shadow:inset 4px 0 0 var(--warn)}
td a{color:var(--today);text-decoration:none}
.band{font-size:12px;font-weight:600;white-space:nowrap}
.band.stable{color:var(--ok)}.band.moderate{color:var(--warn)}.band.significant{color:var(--alert)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;min-width:0}
.card.alert{border-color:var(--alert);box-shadow:0 0 0 1px var(--alert)}
.card.warning{border-color:var(--warn)}
svg.hist{width:100%;height:auto;display:block}
svg .bar{fill:var(--today);opacity:.78}
svg .bar.out{fill:var(--alert);opacity:.9}
svg .ref{fill:none;stroke:#24292f;stroke-width:1.2;stroke-dasharray:3 2}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .tick{font-size:10px;fill:var(--muted)}
svg .empty{font-size:12px;fill:var(--muted);text-anchor:middle}
svg.trend{vertical-align:middle}
svg .line{fill:none;stroke:var(--today);stroke-width:1.4}
svg .dot{fill:var(--today)}
svg .dot.today{fill:var(--ink)}
svg .band-moderate{stroke:var(--warn);stroke-dasharray:2 2;stroke-width:.8}
svg .band-significant{stroke:var(--alert);stroke-dasharray:2 2;stroke-width:.8}
.legend{margin:2px 0 6px;font-size:12px;color:var(--muted)}
.key{display:inline-block;width:12px;height:10px;margin:0 3px 0 8px;vertical-align:-1px}
.key.today{background:var(--today);opacity:.78}
.key.ref{border:1.2px dashed #24292f}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0;font-size:13px}
dt{color:var(--muted)}
dd{margin:0;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.muted{color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:24px 20px 30px}
@media (max-width:600px){header,main,footer{padding-left:10px;padding-right:10px}.cards{grid-template-columns:1fr}h1{font-size:19px}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_xml_names_and_distinct() {
        assert_eq!(anchor("mean radius", Role::Feature), "feature-mean_20radius");
        assert_ne!(anchor("a b", Role::Feature), anchor("a_b", Role::Feature));
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
