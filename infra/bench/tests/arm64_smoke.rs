//! The arm64 smoke of `./infra/test`: order-webhook, cross-built for aarch64 (Lambda's arm64,
//! glibc), runs under qemu-user through the Runtime API stand-in (`cold-start`) against moto,
//! with the HTTP API's and the function URL's events (`infra/bench/fixtures`), and answers as
//! on x86_64: 202 with the order claimed for its invoice.
//!
//! `./infra/test` builds the binary (debug profile) and names its directory in
//! `ARM64_SMOKE_BIN_DIR`; the deployed release binaries of every function are run the same way
//! by `infra/run-benchmarks`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `e_machine` of an ELF header: 183 is AArch64.
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not an ELF file", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn order_webhook_built_for_arm64_answers_under_emulation() {
    let dir = PathBuf::from(
        std::env::var("ARM64_SMOKE_BIN_DIR").expect("ARM64_SMOKE_BIN_DIR is not set: ./infra/test cross-builds order-webhook for aarch64 and sets it"),
    );
    let binary = dir.join("order-webhook");
    assert_eq!(elf_machine(&binary), 183, "{} is not an aarch64 binary", binary.display());

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let report = std::env::temp_dir().join(format!("arm64-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_cold-start"))
        .args(["--bin-dir".as_ref(), dir.as_os_str()])
        .args(["--only", "order-webhook", "--runs", "1", "--requests", "2", "--wrap", "qemu-aarch64-static"])
        .args(["--root".as_ref(), root.as_os_str(), "--json".as_ref(), report.as_os_str()])
        .output()
        .expect("cold-start runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cold-start failed ({}):\n{stderr}\n{}", out.status, String::from_utf8_lossy(&out.stdout));

    let report: Value = serde_json::from_slice(&std::fs::read(&report).expect("the JSON report")).expect("JSON");
    let functions = report["functions"].as_array().expect("functions");
    let rows: Vec<(&str, &str, usize)> = functions
        .iter()
        .map(|f| (f["function"].as_str().unwrap_or(""), f["first_answer"].as_str().unwrap_or(""), f["runs_detail"][0]["latencies_ms"].as_array().map_or(0, Vec::len)))
        .collect();
    assert_eq!(
        rows,
        vec![("order-webhook", "HTTP 202, invoice issuing", 2), ("order-webhook (function URL)", "HTTP 202, invoice issuing", 2)],
        "{stderr}"
    );
    // An aarch64 binary on this x86_64 machine ran only through qemu; its init read the
    // platform's signing secret as it does on Lambda.
    for f in functions {
        assert_eq!(f["init_calls"]["secretsmanager.GetSecretValue"], 1, "{f}");
    }
}
