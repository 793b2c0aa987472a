//! 電子發票證明聯 (the printed proof of an e-invoice) as one SVG document: the MOF layout on
//! 57 mm thermal paper, with the Code 39 barcode and the two QR codes drawn from the strings
//! [`crate::proof`] built. Pure: no I/O.
//!
//! Sources followed:
//! - 財政部財政資訊中心「電子發票證明聯一維及二維條碼規格說明」v1.8: 第壹章 (the barcode is Code 39,
//!   19 characters), 第貳章 二 (two QR codes side by side, tops aligned, the same size, each coding
//!   area at least 1.5 cm square with at least 0.2 cm (±10%) blank around it; the left code QR
//!   version 6 or more at level L or better), 第陸章 三 (the same, as a FAQ);
//! - the proof's format since 2014-01-01: 5.7 cm wide, 9 cm long, the period and the number
//!   enlarged and bold, then issue date and time, 隨機碼, 總計, 賣方 and (B2B) 買方, the barcode,
//!   the two QR codes; B2B proofs also show 格式 25 (三聯式收銀機發票 / 電子發票證明聯).
//!
//! Decisions where the spec leaves room:
//! - one SVG unit is one dot of a 203 dpi thermal printer ([`DOTS_PER_MM`]), so every bar and
//!   module is a whole number of dots and prints without resampling;
//! - Code 39: narrow element 1 dot (0.125 mm), wide 3 dots (ratio 3; ISO/IEC 16388 asks at least
//!   2.2 for elements under 0.5 mm), 1-dot gaps between characters, 10-dot quiet zones: the 21
//!   symbols (`*` + 19 + `*`) take 335 dots (41.9 mm) of the 48 mm a 57 mm printer prints;
//! - QR (crate `fast_qr`): level L (the spec's floor; the most room for data), byte mode for
//!   UTF-8 text (the data says encoding 1 = UTF-8 itself, no ECI header), both codes at one
//!   version — the lowest from 6 that holds both — so they print the same size; 3 dots
//!   (0.375 mm) a module: V6 is 123 dots = 15.4 mm, V8 (the most [`crate::proof::QR_MAX_BYTES`]
//!   needs) 147 dots = 18.4 mm, V12 the largest pair the paper holds; 16 dots (2 mm) of blank
//!   around each code, 32 between them;
//! - 中獎 (the winning proof, printed once, DESIGN.md §7): the same layout, with a framed stamp
//!   under the codes — 「中獎」, the prize kind as MOF names it and its amount, then the print
//!   time — and 中獎 in the document's title; nothing above the codes moves, so they scan the
//!   same.

use std::fmt::Write;

use barcoders::sym::code39::Code39;
use chrono::NaiveDateTime;
use fast_qr::{ECL, QRBuilder, QRCode, Version};

use crate::invoice::{InvoiceNumber, InvoicePeriod};
use crate::prize::PrizeKind;
use crate::rule::RuleViolation;

/// Printer dots per millimetre at 203 dpi.
pub const DOTS_PER_MM: f64 = 203.0 / 25.4;
/// Paper width and proof length, in millimetres.
pub const PAPER_WIDTH_MM: f64 = 57.0;
pub const PROOF_LENGTH_MM: f64 = 90.0;

/// Code 39 narrow and wide element widths, in dots.
pub const BAR_NARROW: u32 = 1;
pub const BAR_WIDE: u32 = 3;
/// Code 39 quiet zone on each side (10 narrow elements), in dots.
pub const BAR_QUIET: u32 = 10 * BAR_NARROW;
const BAR_HEIGHT: u32 = 48;
/// Top of the barcode, in dots (under the detail lines).
const BARS_TOP: u32 = 302;

/// QR module size and the blank kept around each code (2 mm), in dots.
pub const QR_MODULE: u32 = 3;
pub const QR_QUIET: u32 = 16;
/// The versions a pair may use: from the spec's floor for the left code (6) to the largest
/// pair that fits the paper with its blanks (12: 2 × 65 × 3 + 4 × 16 = 454 dots).
const QR_VERSIONS: [Version; 7] = [Version::V06, Version::V07, Version::V08, Version::V09, Version::V10, Version::V11, Version::V12];

const FONT: &str = "'WenQuanYi Micro Hei','Noto Sans CJK TC','Noto Sans TC','PingFang TC','Microsoft JhengHei',sans-serif";
/// Left edge of the detail lines and right edge of what is right-aligned, in dots.
const TEXT_LEFT: u32 = 48;
const TEXT_COLUMN: u32 = 248;
/// Widest line of text, in dots (50 mm).
const TEXT_MAX_WIDTH: f64 = 400.0;
const NAME_FONT: f64 = 28.0;
/// The 中獎 stamp under the codes: gap after the QR blank, frame height and stroke, in dots.
const STAMP_GAP: u32 = 8;
const STAMP_HEIGHT: u32 = 84;
const STAMP_STROKE: u32 = 3;
const STAMP_FONT: f64 = 32.0;

/// What a 電子發票證明聯 shows. The codes are the invoice's stored strings, drawn as they are.
#[derive(Debug, Clone)]
pub struct ProofSheet<'a> {
    /// 營業人名稱: the seller's company name; `None` leaves its line blank.
    pub seller_name: Option<&'a str>,
    pub period: InvoicePeriod,
    pub number: InvoiceNumber,
    /// Issue date and time in Asia/Taipei.
    pub issued_at: NaiveDateTime,
    pub random_code: &'a str,
    /// 總計 (tax included), whole TWD.
    pub total: u64,
    pub seller_ubn: &'a str,
    /// 買方 統一編號; `Some` for a B2B invoice, which also prints 格式 25.
    pub buyer_ubn: Option<&'a str>,
    /// 一維條碼 (19 characters).
    pub barcode: &'a str,
    pub qr_left: &'a str,
    pub qr_right: &'a str,
    /// 補印: printed again after the first print.
    pub reprint: bool,
    /// 中獎: the winning proof's stamp; `None` for an ordinary proof.
    pub prize: Option<PrizeMark>,
}

/// What the 中獎 stamp of a winning proof (中獎電子發票證明聯) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrizeMark {
    pub kind: PrizeKind,
    /// 獎金, whole TWD, from MOF's list.
    pub amount: u64,
    /// When it was printed (the one print), Asia/Taipei.
    pub printed_at: NaiveDateTime,
}

/// `中獎 六獎 200元`: the stamp's first line.
pub fn prize_label(mark: &PrizeMark) -> String {
    format!("中獎 {} {}元", mark.kind.label(), mark.amount)
}

/// `115年11-12月`: the period as the proof prints it.
pub fn period_label(period: InvoicePeriod) -> String {
    let end = period.end_month();
    format!("{}年{:02}-{:02}月", period.roc_year(), end - 1, end)
}

/// `UA-00000057`: the number as the proof prints it.
pub fn number_label(number: &InvoiceNumber) -> String {
    format!("{}-{}", number.track(), &number.as_str()[2..])
}

/// The two QR codes at level L and one version: the lowest of [`QR_VERSIONS`] that holds both.
/// (A version too small is refused by a table look-up, before any drawing.)
pub fn qr_pair(left: &str, right: &str) -> Result<[QRCode; 2], RuleViolation> {
    let encode_at = |data: &str, version: Version| QRBuilder::new(data.as_bytes()).ecl(ECL::L).version(version).build().ok();
    for version in QR_VERSIONS {
        if let Some(l) = encode_at(left, version) {
            if let Some(r) = encode_at(right, version) {
                return Ok([l, r]);
            }
        }
    }
    Err(RuleViolation::on_field("qr_too_long", "qr_left", "qr_left and qr_right do not fit two QR codes side by side on 57 mm paper"))
}

/// The Code 39 bars of `data` (with its `*` start and stop) as (offset, width) in dots from
/// the first bar.
pub fn code39_bars(data: &str) -> Result<Vec<(u32, u32)>, RuleViolation> {
    let code = Code39::new(data)
        .map_err(|_| RuleViolation::on_field("invalid_barcode", "barcode", "barcode must be Code 39 characters: 0-9 A-Z - . space $ / + %"))?;
    // The encoder writes a narrow element as one module and a wide one as two; runs of equal
    // modules are the elements, bars and spaces taking turns.
    let modules = code.encode();
    let mut bars = Vec::new();
    let (mut x, mut i) = (0, 0);
    while i < modules.len() {
        let run = modules[i..].iter().take_while(|m| **m == modules[i]).count();
        let width = if run == 1 { BAR_NARROW } else { BAR_WIDE };
        if modules[i] == 1 {
            bars.push((x, width));
        }
        x += width;
        i += run;
    }
    Ok(bars)
}

/// Renders the proof: an SVG 57 mm wide and 90 mm long, one unit per printer dot.
///
/// Errors: `invalid_barcode` (not Code 39, or wider than the paper), `qr_too_long` (the two
/// codes do not fit side by side on the paper).
pub fn render(sheet: &ProofSheet) -> Result<String, RuleViolation> {
    let page_width = PAPER_WIDTH_MM * DOTS_PER_MM;
    let page_height = PROOF_LENGTH_MM * DOTS_PER_MM;
    let center = page_width / 2.0;
    let bars = code39_bars(sheet.barcode)?;
    let bars_width = bars.last().map_or(0, |(x, w)| x + w);
    if f64::from(bars_width + 2 * BAR_QUIET) > page_width {
        return Err(RuleViolation::on_field("invalid_barcode", "barcode", "the barcode does not fit the 57 mm paper"));
    }
    let qr = qr_pair(sheet.qr_left, sheet.qr_right)?;
    let qr_size = qr[0].size as u32 * QR_MODULE;
    let pair_width = 2 * qr_size + 2 * QR_QUIET;

    let mut svg = String::with_capacity(16 * 1024);
    let _ = write!(
        svg,
        r##"<?xml version="1.0" encoding="UTF-8"?><svg xmlns="http://www.w3.org/2000/svg" width="57mm" height="90mm" viewBox="0 0 {page_width:.2} {page_height:.2}" font-family="{FONT}"><title>{heading} {number}</title><rect width="100%" height="100%" fill="#fff"/><g fill="#000">"##,
        number = number_label(&sheet.number),
        heading = if sheet.prize.is_some() { "中獎電子發票證明聯" } else { "電子發票證明聯" },
    );
    if let Some(name) = sheet.seller_name.map(str::trim).filter(|n| !n.is_empty()) {
        let size = NAME_FONT.min(TEXT_MAX_WIDTH / em_width(name));
        text(&mut svg, center, 44.0, size, "middle", true, name);
    }
    let title = if sheet.reprint { "電子發票證明聯補印" } else { "電子發票證明聯" };
    text(&mut svg, center, 92.0, 36.0, "middle", true, title);
    text(&mut svg, center, 144.0, 44.0, "middle", true, &period_label(sheet.period));
    text(&mut svg, center, 194.0, 44.0, "middle", true, &number_label(&sheet.number));

    let left = f64::from(TEXT_LEFT);
    let column = f64::from(TEXT_COLUMN);
    text(&mut svg, left, 230.0, 22.0, "start", false, &sheet.issued_at.format("%Y-%m-%d %H:%M:%S").to_string());
    if sheet.buyer_ubn.is_some() {
        text(&mut svg, page_width - left, 230.0, 22.0, "end", false, "格式:25");
    }
    text(&mut svg, left, 258.0, 22.0, "start", false, &format!("隨機碼:{}", sheet.random_code));
    text(&mut svg, column, 258.0, 22.0, "start", false, &format!("總計:{}", sheet.total));
    text(&mut svg, left, 286.0, 22.0, "start", false, &format!("賣方:{}", sheet.seller_ubn));
    if let Some(buyer) = sheet.buyer_ubn {
        text(&mut svg, column, 286.0, 22.0, "start", false, &format!("買方:{buyer}"));
    }

    // Codes: whole dots, one path each, crisp edges (no anti-aliased seams between modules).
    svg.push_str(r#"<g shape-rendering="crispEdges">"#);
    let bars_top = BARS_TOP;
    let bars_left = (page_width as u32 - bars_width) / 2;
    svg.push_str(r#"<path d=""#);
    for (x, w) in &bars {
        let _ = write!(svg, "M{},{bars_top}h{w}v{BAR_HEIGHT}h-{w}z", bars_left + x);
    }
    svg.push_str(r#""/>"#);
    let qr_top = bars_top + BAR_HEIGHT + QR_QUIET;
    let qr_left = (page_width as u32 - pair_width) / 2;
    qr_path(&mut svg, &qr[0], qr_left, qr_top);
    qr_path(&mut svg, &qr[1], qr_left + qr_size + 2 * QR_QUIET, qr_top);
    svg.push_str("</g>");
    if let Some(mark) = &sheet.prize {
        stamp(&mut svg, mark, page_width, qr_top + qr_size + QR_QUIET + STAMP_GAP);
    }
    svg.push_str("</g></svg>");
    Ok(svg)
}

/// The 中獎 stamp: a frame 50 mm wide from `top`, the prize line (shrunk to fit) and the print
/// time. Below the codes' blank, so it never touches them; the lowest `top` (V12 codes) still
/// leaves the frame inside the 90 mm.
fn stamp(svg: &mut String, mark: &PrizeMark, page_width: f64, top: u32) {
    let (left, width) = (f64::from(TEXT_LEFT) - 8.0, page_width - 2.0 * (f64::from(TEXT_LEFT) - 8.0));
    let top = f64::from(top);
    let _ = write!(
        svg,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{width:.1}" height="{STAMP_HEIGHT}" fill="none" stroke="#000" stroke-width="{STAMP_STROKE}"/>"##
    );
    let label = prize_label(mark);
    let size = STAMP_FONT.min((width - 24.0) / em_width(&label));
    text(svg, page_width / 2.0, top + 40.0, size, "middle", true, &label);
    text(svg, page_width / 2.0, top + 70.0, 20.0, "middle", false, &format!("列印:{}", mark.printed_at.format("%Y-%m-%d %H:%M:%S")));
}

/// Width of a line of text in ems: CJK and other wide characters 1, ASCII 0.6 (digits and
/// Latin letters of the sans fonts named).
fn em_width(s: &str) -> f64 {
    s.chars().map(|c| if c.is_ascii() { 0.6 } else { 1.0 }).sum::<f64>().max(1.0)
}

fn text(svg: &mut String, x: f64, y: f64, size: f64, anchor: &str, bold: bool, content: &str) {
    let weight = if bold { r#" font-weight="bold""# } else { "" };
    let _ = write!(svg, r#"<text x="{x:.1}" y="{y:.1}" font-size="{size:.1}" text-anchor="{anchor}"{weight}>"#);
    escape_into(svg, content);
    svg.push_str("</text>");
}

/// XML text escaping (the seller's name is free text). Writes only characters XML 1.0 allows,
/// whatever `s` holds: control characters become spaces, other characters XML forbids
/// (U+FFFE, U+FFFF) and noncharacters become U+FFFD.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c if !crate::text::is_xml_char(c) || crate::text::is_noncharacter(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// One path for a QR code's dark modules: a rectangle per horizontal run.
fn qr_path(svg: &mut String, code: &QRCode, left: u32, top: u32) {
    let width = code.size;
    svg.push_str(r#"<path d=""#);
    for (row, line) in code.data[..width * width].chunks(width).enumerate() {
        let mut col = 0;
        while col < width {
            let dark = line[col].value();
            let run = line[col..].iter().take_while(|m| m.value() == dark).count();
            if dark {
                let (x, y, w) = (left + col as u32 * QR_MODULE, top + row as u32 * QR_MODULE, run as u32 * QR_MODULE);
                let _ = write!(svg, "M{x},{y}h{w}v{QR_MODULE}h-{w}z");
            }
            col += run;
        }
    }
    svg.push_str(r#""/>"#);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::QR_MAX_BYTES;

    fn sheet<'a>(buyer: Option<&'a str>, reprint: bool) -> ProofSheet<'a> {
        ProofSheet {
            seller_name: Some("小明商行股份有限公司"),
            period: InvoicePeriod::parse("11512").unwrap(),
            number: InvoiceNumber::parse("UA00000057").unwrap(),
            issued_at: "2026-11-15T14:03:21".parse().unwrap(),
            random_code: "0122",
            total: 1050,
            seller_ubn: "04595252",
            buyer_ubn: buyer,
            barcode: "11512UA000000570122",
            qr_left: "UA000000571151115012200000000000004000000000004595252LumMvtfMXDEFTm8NZnKjwA==:**********:2:2:1:烏龍茶:1:500:",
            qr_right: "**運費:1:50",
            reprint,
            prize: None,
        }
    }

    #[test]
    fn period_and_number_as_printed() {
        assert_eq!(period_label(InvoicePeriod::parse("11512").unwrap()), "115年11-12月");
        assert_eq!(period_label(InvoicePeriod::parse("11502").unwrap()), "115年01-02月");
        assert_eq!(number_label(&InvoiceNumber::parse("UA00000057").unwrap()), "UA-00000057");
    }

    #[test]
    fn b2c_proof_shows_the_mof_fields_and_no_buyer() {
        let svg = render(&sheet(None, false)).unwrap();
        assert!(svg.contains(r#"width="57mm" height="90mm""#));
        for shown in [
            "小明商行股份有限公司",
            ">電子發票證明聯<",
            ">115年11-12月<",
            ">UA-00000057<",
            ">2026-11-15 14:03:21<",
            ">隨機碼:0122<",
            ">總計:1050<",
            ">賣方:04595252<",
        ] {
            assert!(svg.contains(shown), "{shown} missing");
        }
        for absent in ["買方", "格式", "補印"] {
            assert!(!svg.contains(absent), "{absent} shown on a B2C proof");
        }
    }

    #[test]
    fn b2b_proof_shows_buyer_and_format_25_and_reprint_is_marked() {
        let svg = render(&sheet(Some("12345675"), true)).unwrap();
        for shown in [">買方:12345675<", ">格式:25<", ">電子發票證明聯補印<"] {
            assert!(svg.contains(shown), "{shown} missing");
        }
    }

    proptest::proptest! {
        /// Whatever text the sheet carries (noncharacters, controls, markup), the SVG is a
        /// well-formed XML 1.0 document and shows the name's allowed characters as they are.
        #[test]
        fn any_text_gives_a_well_formed_document(
            name in proptest::prelude::any::<String>(),
            marked in "[<>&\"'\u{0}-\u{1F}\u{7F}-\u{9F}\u{FDD0}-\u{FDEF}\u{FFFE}\u{FFFF}\u{1FFFE}\u{10FFFF}a公]{0,40}",
            code in proptest::prelude::any::<String>(),
        ) {
            let mut s = sheet(Some("12345675"), false);
            let name = format!("{name}{marked}");
            s.seller_name = Some(&name);
            s.random_code = &code;
            let svg = render(&s).unwrap();
            let doc = roxmltree::Document::parse(&svg).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}: {name:?}")))?;
            proptest::prop_assert_eq!(doc.root_element().tag_name().name(), "svg");
            if !name.trim().is_empty() {
                let shown = doc.descendants().find(|n| n.has_tag_name("text")).and_then(|n| n.text()).unwrap_or_default();
                let expected: String = name
                    .trim()
                    .chars()
                    .map(|c| match c {
                        c if c.is_control() => ' ',
                        c if !crate::text::is_xml_char(c) || crate::text::is_noncharacter(c) => '\u{FFFD}',
                        c => c,
                    })
                    .collect();
                proptest::prop_assert_eq!(shown, expected);
            }
        }
    }

    #[test]
    fn noncharacters_in_the_name_still_give_xml() {
        let mut s = sheet(None, false);
        let name = "A\u{FFFE}B\u{FFFF}C\u{1}D";
        s.seller_name = Some(name);
        let svg = render(&s).unwrap();
        assert!(svg.contains(">A\u{FFFD}B\u{FFFD}C D<"), "{svg}");
        roxmltree::Document::parse(&svg).unwrap();
    }

    #[test]
    fn seller_name_is_escaped_and_shrunk_to_fit() {
        let mut s = sheet(None, false);
        let long = format!("A&B <{}>", "公".repeat(30));
        s.seller_name = Some(&long);
        let svg = render(&s).unwrap();
        assert!(svg.contains("A&amp;B &lt;公公"));
        let size: f64 = svg.split("font-size=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(size < NAME_FONT && size * em_width(&long) <= TEXT_MAX_WIDTH + 0.1, "{size}");
        s.seller_name = None;
        assert!(!render(&s).unwrap().contains("公公"));
    }

    #[test]
    fn qr_codes_share_one_version_at_level_l_and_at_least_v6() {
        let version_and_level = |q: &QRCode| format!("{:?} {:?} {}", q.version, q.ecl, q.size);
        let [l, r] = qr_pair("AB11223344", "**").unwrap();
        assert_eq!((version_and_level(&l), version_and_level(&r)), ("Some(V06) Some(L) 41".into(), "Some(V06) Some(L) 41".into()));
        // The largest payload the proof builder writes (UTF-8, 3 bytes per CJK character) needs
        // V8, on either side; the other code follows it, so both print the same size.
        let big = format!("{}{}", "a".repeat(77), "茶".repeat((QR_MAX_BYTES - 77) / 3));
        assert!(big.len() + 2 <= QR_MAX_BYTES);
        for [l, r] in [qr_pair(&big, "**x").unwrap(), qr_pair("AB11223344", &format!("**{big}")).unwrap()] {
            assert_eq!((version_and_level(&l), version_and_level(&r)), ("Some(V08) Some(L) 49".into(), "Some(V08) Some(L) 49".into()));
        }
        // More than V12 holds (367 bytes) does not fit the paper.
        assert!(qr_pair(&"x".repeat(367), "**").is_ok());
        assert_eq!(qr_pair(&"x".repeat(368), "**").err().unwrap().code, "qr_too_long");
    }

    #[test]
    fn qr_sizes_follow_the_mof_minimums() {
        let mm = |dots: u32| f64::from(dots) / DOTS_PER_MM;
        // Coding area ≥ 1.5 cm at the smallest version, blank ≥ 0.2 cm (±10%) around each code.
        assert!(mm(41 * QR_MODULE) >= 15.0);
        assert!(mm(QR_QUIET) >= 1.8 && QR_QUIET >= 4 * QR_MODULE);
        // V8 pair with its blanks fits the paper.
        assert!(mm(2 * 49 * QR_MODULE + 4 * QR_QUIET) <= PAPER_WIDTH_MM);
    }

    #[test]
    fn code39_bars_are_three_of_nine_with_narrow_1_and_wide_3_dots() {
        let bars = code39_bars("11512UA000000570122").unwrap();
        // 21 symbols (`*` + 19 + `*`), 5 bars each.
        assert_eq!(bars.len(), 21 * 5);
        assert!(bars.iter().all(|(_, w)| *w == BAR_NARROW || *w == BAR_WIDE));
        // Each symbol: 9 elements, 3 of them wide (6 narrow + 3 wide = 12 dots), then a 1-dot gap.
        let (x, w) = bars.last().unwrap();
        assert_eq!(x + w, 21 * (6 * BAR_NARROW + 3 * BAR_WIDE) + 20 * BAR_NARROW);
        for symbol in bars.chunks(5) {
            let span = symbol[4].0 + symbol[4].1 - symbol[0].0;
            let wide_bars = symbol.iter().filter(|(_, w)| *w == BAR_WIDE).count() as u32;
            let wide_spaces = (span - symbol.iter().map(|(_, w)| w).sum::<u32>() - 4 * BAR_NARROW) / (BAR_WIDE - BAR_NARROW);
            assert_eq!(wide_bars + wide_spaces, 3, "{symbol:?}");
        }
        assert!(f64::from(x + w + 2 * BAR_QUIET) / DOTS_PER_MM <= 48.0);
        assert_eq!(code39_bars("11512ua000000570122").unwrap_err().code, "invalid_barcode");
    }

    fn winning(sheet: ProofSheet<'_>, kind: PrizeKind, amount: u64) -> ProofSheet<'_> {
        ProofSheet { prize: Some(PrizeMark { kind, amount, printed_at: "2026-12-07T13:05:09".parse().unwrap() }), ..sheet }
    }

    fn paths(svg: &str) -> Vec<&str> {
        svg.split("<path d=\"").skip(1).map(|p| p.split('"').next().unwrap()).collect()
    }

    #[test]
    fn a_winning_proof_is_the_proof_with_a_prize_stamp_under_the_codes() {
        let plain = render(&sheet(None, false)).unwrap();
        let svg = render(&winning(sheet(None, false), PrizeKind::Sixth, 200)).unwrap();
        for shown in ["<title>中獎電子發票證明聯 UA-00000057</title>", ">中獎 六獎 200元<", ">列印:2026-12-07 13:05:09<", ">電子發票證明聯<", ">總計:1050<"]
        {
            assert!(svg.contains(shown), "{shown} missing");
        }
        assert!(!plain.contains("中獎") && !plain.contains("<rect x="), "an ordinary proof has no stamp");
        // The codes are drawn exactly where the ordinary proof draws them.
        assert_eq!(paths(&svg), paths(&plain));
        // Everything before the stamp is the ordinary proof (but the title).
        let body = |s: &str| s.split("</title>").nth(1).unwrap().split("<rect x=").next().unwrap().trim_end_matches("</g></svg>").to_owned();
        assert_eq!(body(&svg), body(&plain));
        roxmltree::Document::parse(&svg).unwrap();
    }

    #[test]
    fn the_prize_stamp_stays_on_the_paper_and_below_the_largest_codes() {
        let big = "x".repeat(367);
        let mut s = winning(sheet(None, false), PrizeKind::Cloud, 1_000_000);
        s.qr_left = &big;
        let svg = render(&s).unwrap();
        assert!(svg.contains(">中獎 雲端發票專屬獎 1000000元<"));
        let attr = |tag: &str, name: &str| -> f64 {
            let at = svg.find(tag).unwrap();
            svg[at..].split(&format!(" {name}=\"")).nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
        };
        let (top, height, width, x) = (attr("<rect x=", "y"), attr("<rect x=", "height"), attr("<rect x=", "width"), attr("<rect x=", "x"));
        let qr_bottom = f64::from(BARS_TOP + BAR_HEIGHT + QR_QUIET + 65 * QR_MODULE + QR_QUIET);
        assert!(top >= qr_bottom, "the stamp starts below the V12 codes' blank: {top} < {qr_bottom}");
        assert!(top + height <= PROOF_LENGTH_MM * DOTS_PER_MM, "inside the 90 mm");
        assert!(x >= 0.0 && x + width <= PAPER_WIDTH_MM * DOTS_PER_MM);
        // The longest label is shrunk to the frame.
        let label = prize_label(&s.prize.unwrap());
        let size: f64 = svg.split(">中獎 雲端").next().unwrap().rsplit("font-size=\"").next().unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(size < STAMP_FONT && size * em_width(&label) <= width, "{size}");
    }

    #[test]
    fn qr_codes_are_drawn_side_by_side_with_tops_aligned() {
        let svg = render(&sheet(None, false)).unwrap();
        let paths = paths(&svg);
        assert_eq!(paths.len(), 3, "barcode and two QR codes");
        let first_move = |p: &str| -> (u32, u32) {
            let mut it = p[1..].split(['h', ',']).map(|n| n.parse::<u32>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        };
        // Both codes start with the finder pattern's top row: same top, mirrored left edges.
        let ((lx, ly), (rx, ry)) = (first_move(paths[1]), first_move(paths[2]));
        assert_eq!(ly, ry);
        let size = 41 * QR_MODULE;
        assert_eq!(rx - lx, size + 2 * QR_QUIET);
        let page = PAPER_WIDTH_MM * DOTS_PER_MM;
        assert!(f64::from(lx) >= f64::from(QR_QUIET) && f64::from(rx + size + QR_QUIET) <= page);
    }
}
