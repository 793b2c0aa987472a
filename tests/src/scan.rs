//! Reading a proof's codes back, as a till's scanner would: the SVG rendered to PNG by
//! `rsvg-convert` (librsvg2-bin), the PNG read by `zbarimg` (zbar-tools). `./infra/test`
//! installs both; without them the tests that use this fail (they never skip).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `target/proof/`: where the rendered proofs are kept for a person to look at.
pub fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/proof");
    std::fs::create_dir_all(&dir).expect("target/proof is writable");
    dir
}

/// Runs a tool the test script installs; a missing tool fails the test with what to install.
pub fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} could not run ({e}): ./infra/test installs librsvg2-bin, zbar-tools and chromium (Debian)"));
    assert!(out.status.success() || tool == "zbarimg", "{tool} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The symbols `zbarimg` reads in a PNG, as (symbology, data), sorted. QR payloads are taken as
/// the bytes they hold (`qrcode.binary`), read as UTF-8 as the left code's encoding flag (`1`)
/// says: without that, zbar guesses a charset and reads a short UTF-8 run such as
/// `**運費:1:100:折扣:1:-50` as Shift-JIS.
pub fn scan(png: &Path) -> Vec<(String, String)> {
    let out = run("zbarimg", &["--quiet", "--nodbus", "-Sqrcode.binary", png.to_str().unwrap()]);
    let mut symbols: Vec<(String, String)> = String::from_utf8(out.stdout)
        .expect("zbarimg prints UTF-8")
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(kind, data)| (kind.to_owned(), data.to_owned()))
        .collect();
    symbols.sort();
    symbols
}

/// Saves the proof and its PNG (rsvg-convert, 4 pixels a printer dot) under target/proof.
pub fn rasterize(name: &str, svg: &str) -> PathBuf {
    let dir = out_dir();
    let (svg_path, png_path) = (dir.join(format!("{name}.svg")), dir.join(format!("{name}.png")));
    std::fs::write(&svg_path, svg).unwrap();
    run("rsvg-convert", &["--dpi-x", "812", "--dpi-y", "812", "--background-color", "white", "-o", png_path.to_str().unwrap(), svg_path.to_str().unwrap()]);
    png_path
}

/// What a scan of the proof must give: the view's barcode and both QR strings, exactly.
pub fn expected_symbols(view: &Value) -> Vec<(String, String)> {
    let s = |k: &str| view[k].as_str().unwrap().to_owned();
    let mut want = vec![("CODE-39".to_owned(), s("barcode")), ("QR-Code".to_owned(), s("qr_left")), ("QR-Code".to_owned(), s("qr_right"))];
    want.sort();
    want
}
