//! Each function on its own (docs/benchmarks.md §4): per run a fresh process, its cold start
//! (spawn → first `/next` poll), the latency of each invocation (event handed out → answer
//! posted), its peak RSS (`VmHWM`) after the last one, and its AWS calls at init and per
//! invocation. Medians over runs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::aws_proxy::{calls_text, count};
use crate::launcher::Launcher;
use crate::runtime_api::RuntimeApi;
use crate::scenarios::{self, Claims, Scenario};
use crate::seed::{self, RenewalDates};
use crate::stats::{median, ms};
use crate::world::World;

/// What to run: how many fresh processes per function, invocations each, and extra variables.
pub struct Options<'a> {
    pub runs: usize,
    pub requests: usize,
    /// Binaries to run (`--only`); all when `None`.
    pub only: Option<&'a [String]>,
    pub extra_env: &'a [(String, String)],
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    cold_start_ms: f64,
    /// Time spent waiting for AWS (moto) during init, as the proxy saw it.
    init_aws_ms: f64,
    init_calls: BTreeMap<String, usize>,
    latencies_ms: Vec<f64>,
    /// AWS calls of each invocation.
    invocation_calls: Vec<BTreeMap<String, usize>>,
    peak_rss_kb: u64,
    rss_kb: u64,
    first_answer: String,
}

/// One function's row: medians over its runs.
#[derive(Debug, Serialize)]
pub struct Summary {
    function: &'static str,
    event: &'static str,
    binary_bytes: u64,
    runs: usize,
    requests: usize,
    cold_start_ms_median: f64,
    cold_start_ms_min: f64,
    init_aws_ms_median: f64,
    cold_start_without_aws_ms_median: f64,
    first_request_ms_median: f64,
    last_request_ms_median: f64,
    peak_rss_mb_median: f64,
    init_calls: BTreeMap<String, usize>,
    first_request_calls: BTreeMap<String, usize>,
    last_request_calls: BTreeMap<String, usize>,
    first_answer: String,
    runs_detail: Vec<RunResult>,
}

/// Runs every scenario of `options` whose binary exists; its summaries, and whether a run failed.
pub async fn run(w: &World, launcher: &Launcher, options: &Options<'_>) -> (Vec<Summary>, bool) {
    let scenarios = Scenario::ALL.into_iter().filter(|s| options.only.is_none_or(|o| o.iter().any(|n| n == s.binary())));
    let mut claims = Claims::default();
    let mut summaries = Vec::new();
    let mut failed = false;
    for s in scenarios {
        let bin = launcher.binaries.path(s.binary());
        if !bin.exists() {
            eprintln!("{}: no binary at {} (skipped)", s.name(), bin.display());
            continue;
        }
        let mut runs = Vec::new();
        for r in 0..options.runs {
            match run_once(w, launcher, &mut claims, s, r, options).await {
                Ok(res) => runs.push(res),
                Err(e) => {
                    eprintln!("{} run {}: {e}", s.name(), r + 1);
                    failed = true;
                    break;
                }
            }
        }
        if !runs.is_empty() {
            let sum = summarize(s, &bin, options.requests, runs);
            eprintln!(
                "{:<16} cold {:>6.2} ms (AWS {:>5.2} ms)  1st {:>7.2} ms  #{} {:>6.2} ms  peak RSS {:>5.1} MB",
                sum.function,
                sum.cold_start_ms_median,
                sum.init_aws_ms_median,
                sum.first_request_ms_median,
                options.requests,
                sum.last_request_ms_median,
                sum.peak_rss_mb_median
            );
            summaries.push(sum);
        }
    }
    (summaries, failed)
}

async fn run_once(w: &World, launcher: &Launcher, claims: &mut Claims, s: Scenario, run: usize, options: &Options<'_>) -> Result<RunResult, String> {
    let renewal = match s {
        Scenario::RenewalCutoff | Scenario::RenewalCharge => seed::auto_renew_merchant(&w.client).await?,
        _ => RenewalDates::default(),
    };
    if s == Scenario::RenewalCharge {
        // The charge runs on a plan the cutoff locked, as in production.
        seed::local_cutoff(&w.client, &renewal.cutoff_time).await?;
    }
    let api = RuntimeApi::start().await;
    w.proxy.take();
    let log = format!("{}-{run}.log", s.name().replace(' ', "-"));
    let (instance, cold) = launcher.start(w, &api, s.binary(), &log, options.extra_env).await?;
    let init = w.proxy.take();

    let mut latencies = Vec::new();
    let mut invocation_calls = Vec::new();
    let mut first_answer = String::new();
    for i in 0..options.requests {
        let event = scenarios::event_for(w, claims, s, &renewal, run, i).await?;
        let (latency, outcome) = api.invoke(event).await?;
        let answer = scenarios::check(s, &outcome).map_err(|e| format!("{} invocation {}: {e}", s.name(), i + 1))?;
        claims.check_answered(w).await?;
        if i == 0 {
            first_answer = answer;
        }
        latencies.push(ms(latency));
        invocation_calls.push(count(&w.proxy.take()));
    }
    Ok(RunResult {
        cold_start_ms: ms(cold),
        init_aws_ms: init.iter().map(|c| ms(c.took)).fold(0.0, |a, b| a + b),
        init_calls: count(&init),
        latencies_ms: latencies,
        invocation_calls,
        peak_rss_kb: instance.status_kb("VmHWM"),
        rss_kb: instance.status_kb("VmRSS"),
        first_answer,
    })
}

fn summarize(s: Scenario, bin: &Path, requests: usize, runs: Vec<RunResult>) -> Summary {
    let pick = |f: &dyn Fn(&RunResult) -> f64| median(runs.iter().map(f).collect());
    Summary {
        function: s.name(),
        event: s.event_kind(),
        binary_bytes: std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0),
        runs: runs.len(),
        requests,
        cold_start_ms_median: pick(&|r| r.cold_start_ms),
        cold_start_ms_min: runs.iter().map(|r| r.cold_start_ms).fold(f64::INFINITY, f64::min),
        init_aws_ms_median: pick(&|r| r.init_aws_ms),
        cold_start_without_aws_ms_median: pick(&|r| r.cold_start_ms - r.init_aws_ms),
        first_request_ms_median: pick(&|r| r.latencies_ms.first().copied().unwrap_or(f64::NAN)),
        last_request_ms_median: pick(&|r| r.latencies_ms.last().copied().unwrap_or(f64::NAN)),
        peak_rss_mb_median: pick(&|r| r.peak_rss_kb as f64 / 1024.0),
        init_calls: runs.first().map(|r| r.init_calls.clone()).unwrap_or_default(),
        first_request_calls: runs.first().and_then(|r| r.invocation_calls.first().cloned()).unwrap_or_default(),
        last_request_calls: runs.first().and_then(|r| r.invocation_calls.last().cloned()).unwrap_or_default(),
        first_answer: runs.first().map(|r| r.first_answer.clone()).unwrap_or_default(),
        runs_detail: runs,
    }
}

/// The table of `summaries` (nothing when there are none).
pub fn print_table(summaries: &[Summary], options: &Options<'_>, log_dir: &Path) {
    if summaries.is_empty() {
        return;
    }
    println!(
        "\n| function | size (MB) | cold start (ms) | of which AWS (ms) | 1st request (ms) | request #{} (ms) | peak RSS (MB) | AWS calls: init | AWS calls: 1st request |",
        options.requests
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
    for s in summaries {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} |",
            s.function,
            s.binary_bytes as f64 / 1_000_000.0,
            s.cold_start_ms_median,
            s.init_aws_ms_median,
            s.first_request_ms_median,
            s.last_request_ms_median,
            s.peak_rss_mb_median,
            calls_text(&s.init_calls),
            calls_text(&s.first_request_calls)
        );
    }
    println!("\nmedians of {} runs × {} invocations; moto and the function on 127.0.0.1; logs in {}", options.runs, options.requests, log_dir.display());
}
