//! The command line:
//!
//! `cold-start --bin-dir /work/target-release/release [--runs 5] [--requests 10]
//!  [--only order-webhook,renewal-cutoff] [--lifecycle 5] [--json out.json]
//!  [--env KEY=VALUE]… [--system-cert-dir] [--wrap "strace -f -tt -o /tmp/trace"]
//!  [--root <checkout>] [--label "heading"] [--webhook-load [--concurrency 50] [--load-runs 3]]`
//!
//! (`--only none --webhook-load` measures only the webhook load), or
//! `cold-start --sam-build .aws-sam/build --wrap qemu-aarch64-static …` for the deployed arm64
//! binaries (`<Function>/bootstrap`, matched to binaries through template.yaml) under emulation.

use std::path::PathBuf;

pub struct Args {
    pub bin_dir: PathBuf,
    /// `--bin-dir` is a `sam build` directory (`.aws-sam/build`).
    pub sam_build: bool,
    /// A heading printed above the table (e.g. what machine or emulator ran the binaries).
    pub label: Option<String>,
    pub runs: usize,
    pub requests: usize,
    pub only: Option<Vec<String>>,
    pub json: Option<PathBuf>,
    /// The checkout (moto's virtualenv, template.yaml).
    pub root: PathBuf,
    pub wrap: Option<String>,
    /// Extra `KEY=VALUE` variables for the functions (e.g. `SSL_CERT_FILE=…`).
    pub env: Vec<(String, String)>,
    /// Orders to run through their whole happy path for the per-order call and unit counts.
    pub lifecycle: usize,
    /// Do not set `SSL_CERT_FILE`: the functions then read the whole system certificate directory.
    pub system_cert_dir: bool,
    /// Also measure a burst of concurrent deliveries of one order and the largest order.
    pub webhook_load: bool,
    /// Deliveries (and order-webhook instances) of a burst.
    pub concurrency: usize,
    /// Bursts measured.
    pub load_runs: usize,
}

impl Args {
    /// The process's arguments; an unknown flag or a missing value panics with its name.
    pub fn parse() -> Self {
        let mut a = Self {
            bin_dir: PathBuf::from("/work/target-release/release"),
            sam_build: false,
            label: None,
            runs: 5,
            requests: 10,
            only: None,
            json: None,
            wrap: None,
            env: Vec::new(),
            lifecycle: 0,
            system_cert_dir: false,
            webhook_load: false,
            concurrency: 50,
            load_runs: 3,
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--bin-dir" => a.bin_dir = val().into(),
                "--sam-build" => {
                    a.bin_dir = val().into();
                    a.sam_build = true;
                }
                "--label" => a.label = Some(val()),
                "--runs" => a.runs = val().parse().expect("--runs N"),
                "--requests" => a.requests = val().parse().expect("--requests N"),
                "--only" => a.only = Some(val().split(',').map(str::to_owned).collect()),
                "--json" => a.json = Some(val().into()),
                "--root" => a.root = val().into(),
                "--wrap" => a.wrap = Some(val()),
                "--lifecycle" => a.lifecycle = val().parse().expect("--lifecycle N"),
                "--system-cert-dir" => a.system_cert_dir = true,
                "--webhook-load" => a.webhook_load = true,
                "--concurrency" => a.concurrency = val().parse().expect("--concurrency N"),
                "--load-runs" => a.load_runs = val().parse().expect("--load-runs N"),
                "--env" => {
                    let kv = val();
                    let (k, v) = kv.split_once('=').expect("--env KEY=VALUE");
                    a.env.push((k.to_owned(), v.to_owned()));
                }
                other => panic!("unknown flag {other}"),
            }
        }
        a
    }
}
