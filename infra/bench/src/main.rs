//! `cold-start`: runs each function's binary the way Lambda does and measures it
//! (docs/benchmarks.md §4; normally through `infra/run-benchmarks`).
//!
//! The binary polls a Runtime API stand-in (`runtime_api`); its AWS endpoint is a call-counting
//! proxy (`aws_proxy`) in front of our own moto (`moto`), where the local stack made the
//! resources and a merchant (`world`, `seed`). Each function gets the events Lambda would
//! (`events`, `scenarios`) and is measured per fresh process (`cold_start`); `--lifecycle` and
//! `--webhook-load` measure orders through warm processes (`lifecycle`, `webhook_load`) with
//! DynamoDB units from item sizes (`capacity`). Arguments: `cli`.

mod aws_proxy;
mod capacity;
mod cli;
mod cold_start;
mod events;
mod launcher;
mod lifecycle;
mod loopback;
mod moto;
mod runtime_api;
mod scenarios;
mod seed;
mod stats;
mod webhook_load;
mod world;

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::Args;
use crate::launcher::{Binaries, Launcher};
use crate::moto::Moto;
use crate::world::{REGION, World};

fn main() {
    let a = Args::parse();
    let log_dir = std::env::temp_dir().join(format!("cold-start-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let moto = Moto::start(&a.root, &log_dir.join("moto.log"));
    // The local stack (seeding) talks to moto directly; the functions go through the proxy.
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &moto.url);
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let code = rt.block_on(run(a, &moto.url, &log_dir));
    drop(rt);
    drop(moto);
    std::process::exit(code);
}

async fn run(a: Args, moto_url: &str, log_dir: &Path) -> i32 {
    let w = match World::start(moto_url, !a.system_cert_dir).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let binaries = if a.sam_build { Binaries::sam(a.bin_dir.clone(), &a.root.join("template.yaml")) } else { Ok(Binaries::cargo(a.bin_dir.clone())) };
    let launcher = match binaries {
        Ok(binaries) => Launcher { binaries, wrap: a.wrap.clone(), log_dir: log_dir.to_owned() },
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };

    let options = cold_start::Options { runs: a.runs, requests: a.requests, only: a.only.as_deref(), extra_env: &a.env };
    let (summaries, mut failed) = cold_start::run(&w, &launcher, &options).await;
    if let Some(label) = &a.label {
        println!("\n{label}");
    }
    cold_start::print_table(&summaries, &options, log_dir);
    let mut life = Value::Null;
    if a.lifecycle > 0 {
        match lifecycle::run(&w, &launcher, a.lifecycle).await {
            Ok(v) => life = v,
            Err(e) => {
                eprintln!("lifecycle: {e}");
                failed = true;
            }
        }
    }
    let mut load = Value::Null;
    if a.webhook_load {
        match webhook_load::run(&w, &launcher, a.concurrency, a.load_runs).await {
            Ok(v) => load = v,
            Err(e) => {
                eprintln!("webhook load: {e}");
                failed = true;
            }
        }
    }
    if let Some(path) = a.json {
        let out = json!({"runs": a.runs, "requests": a.requests, "functions": summaries, "lifecycle": life, "webhook_load": load});
        if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap_or_default()) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
    if failed { 1 } else { 0 }
}
