//! 電子發票證明聯: the contents of the one-dimension barcode and of the two QR codes printed on
//! the proof of an e-invoice. Strings only; drawing them is the printer's job.
//!
//! Sources followed:
//! - 財政部財政資訊中心「電子發票證明聯一維及二維條碼規格說明」v1.8 (2018-08): 第壹章 (barcode,
//!   example `10404UZ176908720122`), 第貳章 (QR fields 1–16, right code starts with `**`, left code
//!   QR V6+ level L, UTF-8 example `AB112233441020523999900000144000001540000000001234567` +
//!   block + `:**********:3:3:1:乾電池:1:105:` / `**口罩:1:210:牛奶:1:25`), 補充說明 3–4
//!   (items without a quantity may be left out; the counts count items, not pieces),
//!   第伍章 reference source `QREncrypter.cs` (AES-128-CBC with IV `Dt8lyToo17X/XkXaQvihuA==`,
//!   PKCS#7 padding, Base64; amounts as `ToString("x8")`, i.e. **lowercase** hex).
//! - ECPay's announcement of 2018-01-17 (證明聯右側 QR Code 調整) quoting the MOF rule that when
//!   too many items exist, the codes carry as many as fit and the rest stay in the uploaded data.
//!
//! Decisions where the spec leaves room, all documented on the items below:
//! - the left code carries the fixed fields and the first item, the right code the items after it
//!   (exactly the MOF example's layout); each code is capped at [`QR_MAX_BYTES`] bytes and the
//!   items that do not fit are left out, keeping the list order (field 10 says how many are in);
//! - the left code ends with `:` only when the right code continues the item list (MOF example);
//! - `:` in an item name becomes the full-width `：`, control characters become spaces.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{Datelike, NaiveDate};

use crate::invoice::{AesKey, InvoiceNumber, InvoicePeriod, RandomCode};
use crate::rule::RuleViolation;
use crate::ubn::Ubn;

/// The fixed IV of the MOF reference encrypter, Base64 `Dt8lyToo17X/XkXaQvihuA==`.
const QR_IV: [u8; 16] = [0x0e, 0xdf, 0x25, 0xc9, 0x3a, 0x28, 0xd7, 0xb5, 0xff, 0x5e, 0x45, 0xda, 0x42, 0xf8, 0xa1, 0xb8];

/// 營業人自行使用區 when unused: ten `*`.
const MERCHANT_AREA_UNUSED: &str = "**********";
/// 中文編碼參數: 0 = Big5, 1 = UTF-8, 2 = Base64. We always write UTF-8.
const ENCODING_UTF8: &str = "1";
/// 右方二維條碼起始符號.
const RIGHT_START: &str = "**";
/// Length of the left code's fixed part (fields 1–8).
pub const QR_HEADER_LEN: usize = 77;

/// Largest payload, in UTF-8 bytes, put in either QR code. The spec sets only a floor (left code
/// QR version 6 or more, level L) and asks for two codes printed the same size, each at least
/// 1.5 cm, side by side on 5.7 cm paper. 190 bytes fit QR version 8 at level L in byte mode
/// (192 bytes) even with a UTF-8 ECI header; 49 modules at 3 dots per module on a 203 dpi printer
/// make 1.8 cm, so both codes and their quiet zones fit the paper.
pub const QR_MAX_BYTES: usize = 190;

/// One 品目 as shown in the QR codes: name, quantity and unit price (whole TWD, decimal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofItem {
    pub name: String,
    pub quantity: u32,
    /// May be negative for a discount line.
    pub unit_price: i64,
}

/// Everything printed on a proof that the codes carry.
#[derive(Debug, Clone)]
pub struct ProofInput<'a> {
    pub number: InvoiceNumber,
    /// The period of the number's 字軌; must contain `issued_on`.
    pub period: InvoicePeriod,
    /// Issue date in Asia/Taipei.
    pub issued_on: NaiveDate,
    pub random_code: RandomCode,
    /// 銷售額 (untaxed). For a taxable invoice, B2C too, [`untaxed_from_total`] of the total.
    pub untaxed_amount: u64,
    /// 總計額 (tax included).
    pub total: u64,
    /// `None` for a consumer (B2C): written as `00000000`.
    pub buyer_ubn: Option<Ubn>,
    pub seller_ubn: Ubn,
    pub items: &'a [ProofItem],
    pub aes_key: &'a AesKey,
}

/// The three strings to print on a 電子發票證明聯.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// 一維條碼 (Code 39), 19 characters: period + number + random code.
    pub barcode: String,
    /// 左方 QR code.
    pub qr_left: String,
    /// 右方 QR code: `**` and the items that follow the left code's.
    pub qr_right: String,
    /// How many items (a prefix of the input's) the two codes carry.
    pub items_in_codes: usize,
}

/// 銷售額 of a taxable (5%) tax-included total: `round(total / 1.05)` in integer arithmetic.
///
/// `total / 1.05 = total × 20 / 21` has a fractional part of k/21, never exactly one half, so
/// half-up and half-even rounding agree. E.g. 340 → 324 (the MOF example), 10 → 10, 11 → 10.
pub fn untaxed_from_total(total: u64) -> u64 {
    ((u128::from(total) * 40 + 21) / 42) as u64
}

/// 一維條碼: period (5) + invoice number (10) + random code (4), e.g. `10404UZ176908720122`.
pub fn barcode(period: InvoicePeriod, number: &InvoiceNumber, random_code: &RandomCode) -> String {
    format!("{period}{number}{random_code}")
}

/// 加密驗證資訊 (24 characters): Base64 of AES-128-CBC(number + random code), with the merchant's
/// key, the MOF fixed IV and PKCS#7 padding (14 bytes pad to one block).
pub fn verification_block(number: &InvoiceNumber, random_code: &RandomCode, key: &AesKey) -> String {
    let mut block = [0u8; 16];
    let plain = format!("{number}{random_code}");
    block[..plain.len()].copy_from_slice(plain.as_bytes());
    let cipher = cbc::Encryptor::<aes::Aes128>::new(key.bytes().into(), &QR_IV.into());
    let sealed = cipher.encrypt_padded_mut::<Pkcs7>(&mut block, plain.len()).expect("14 bytes pad into one block");
    BASE64.encode(sealed)
}

/// 發票開立日期: ROC year (3) + month (2) + day (2), e.g. 2013-05-23 → `1020523`.
fn roc_date(date: NaiveDate) -> String {
    format!("{:03}{:02}{:02}", date.year() - 1911, date.month(), date.day())
}

/// An item as `name:quantity:unit_price`, with `:` in the name replaced by the full-width `：`
/// (the spec asks not to use the separator in names) and control characters by spaces.
fn item_field(item: &ProofItem) -> String {
    let name: String = item
        .name
        .chars()
        .map(|c| match c {
            ':' => '：',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("{name}:{}:{}", item.quantity, item.unit_price)
}

fn decimal_digits(n: usize) -> usize {
    n.to_string().len()
}

/// Builds the barcode and both QR strings.
///
/// Errors: `invoice_period_mismatch` (issue date outside the number's period),
/// `amount_out_of_range` (an amount needs more than 8 hex digits), `untaxed_exceeds_total`.
pub fn build(input: &ProofInput) -> Result<Proof, RuleViolation> {
    build_with_limit(input, QR_MAX_BYTES)
}

fn build_with_limit(input: &ProofInput, limit: usize) -> Result<Proof, RuleViolation> {
    if !input.period.contains(input.issued_on) {
        return Err(RuleViolation::on_field(
            "invoice_period_mismatch",
            "issued_on",
            format!("issued_on {} is outside the invoice number's period {}", input.issued_on, input.period),
        ));
    }
    for (field, amount) in [("untaxed_amount", input.untaxed_amount), ("total", input.total)] {
        if amount > u64::from(u32::MAX) {
            return Err(RuleViolation::on_field("amount_out_of_range", field, format!("{field} does not fit 8 hex digits")));
        }
    }
    if input.untaxed_amount > input.total {
        return Err(RuleViolation::on_field("untaxed_exceeds_total", "untaxed_amount", "untaxed_amount must not exceed total"));
    }

    let header = format!(
        "{number}{date}{random}{untaxed:08x}{total:08x}{buyer}{seller}{block}",
        number = input.number,
        date = roc_date(input.issued_on),
        random = input.random_code,
        untaxed = input.untaxed_amount,
        total = input.total,
        buyer = input.buyer_ubn.map_or_else(|| "00000000".to_owned(), |u| u.to_string()),
        seller = input.seller_ubn,
        block = verification_block(&input.number, &input.random_code, input.aes_key),
    );
    debug_assert_eq!(header.len(), QR_HEADER_LEN);

    let fields: Vec<String> = input.items.iter().map(item_field).collect();
    let total_items = fields.len();
    let (in_left, in_right) = place_items(&fields, limit);
    let recorded = in_left + in_right;

    let mut qr_left = format!(":{MERCHANT_AREA_UNUSED}:{recorded}:{total_items}:{ENCODING_UTF8}");
    qr_left.insert_str(0, &header);
    for field in &fields[..in_left] {
        qr_left.push(':');
        qr_left.push_str(field);
    }
    if in_right > 0 {
        // The separator before the first field of the right code stays at the end of the left
        // one, so that left[77..] + right[2..] reads as one `:`-separated list (MOF example).
        qr_left.push(':');
    }
    let qr_right = format!("{RIGHT_START}{}", fields[in_left..recorded].join(":"));

    Ok(Proof { barcode: barcode(input.period, &input.number, &input.random_code), qr_left, qr_right, items_in_codes: recorded })
}

/// How many items go in the left code (0 or 1: the first item, as in the MOF example) and how
/// many after it in the right, each code staying within `limit` bytes. Stops at the first item
/// that does not fit, so the codes always carry a prefix of the list.
fn place_items(fields: &[String], limit: usize) -> (usize, usize) {
    // Length of the left code before items, counting the "recorded" count at its widest.
    let digits = decimal_digits(fields.len());
    let left_base = QR_HEADER_LEN + 1 + MERCHANT_AREA_UNUSED.len() + 1 + digits + 1 + digits + 1 + ENCODING_UTF8.len();
    let more_follow = fields.len() > 1;
    let in_left = match fields.first() {
        // `:` + field, and the trailing `:` if the right code may continue.
        Some(first) if left_base + 1 + first.len() + usize::from(more_follow) <= limit => 1,
        _ => 0,
    };
    let mut right_len = RIGHT_START.len();
    let mut in_right = 0;
    for field in &fields[in_left..] {
        let extra = field.len() + usize::from(in_right > 0);
        if right_len + extra > limit {
            break;
        }
        right_len += extra;
        in_right += 1;
    }
    (in_left, in_right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::Track;
    use proptest::prelude::*;

    /// FIPS-197's AES-128 example key: public, clearly not a merchant's.
    const TEST_KEY: &str = "2B7E151628AED2A6ABF7158809CF4F3C";

    fn key() -> AesKey {
        AesKey::parse(TEST_KEY).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn item(name: &str, quantity: u32, unit_price: i64) -> ProofItem {
        ProofItem { name: name.to_owned(), quantity, unit_price }
    }

    /// The MOF 第貳章 四 example: AB11223344, 2013-05-23, random 9999, 324 / 340. Its seller
    /// `01234567` is a placeholder that fails the 統一編號 checksum, which [`Ubn`] enforces, so
    /// a valid one (04595252) stands in for it.
    fn mof_example<'a>(items: &'a [ProofItem], key: &'a AesKey) -> ProofInput<'a> {
        ProofInput {
            number: InvoiceNumber::parse("AB11223344").unwrap(),
            period: InvoicePeriod::parse("10206").unwrap(),
            issued_on: d("2013-05-23"),
            random_code: RandomCode::parse("9999").unwrap(),
            untaxed_amount: untaxed_from_total(340),
            total: 340,
            buyer_ubn: None,
            seller_ubn: Ubn::parse("04595252").unwrap(),
            items,
            aes_key: key,
        }
    }

    fn mof_items() -> Vec<ProofItem> {
        vec![item("乾電池", 1, 105), item("口罩", 1, 210), item("牛奶", 1, 25)]
    }

    #[test]
    fn barcode_reproduces_the_mof_example() {
        let b = barcode(InvoicePeriod::parse("10404").unwrap(), &InvoiceNumber::parse("UZ17690872").unwrap(), &RandomCode::from_u16(122).unwrap());
        assert_eq!(b, "10404UZ176908720122");
        assert_eq!(b.len(), 19);
    }

    #[test]
    fn verification_block_known_answers() {
        // Expected values computed independently with OpenSSL 3.0:
        //   IV=$(echo Dt8lyToo17X/XkXaQvihuA== | base64 -d | xxd -p)   # 0edf25c93a28d7b5ff5e45da42f8a1b8
        //   printf 'UZ176908720122' | openssl enc -aes-128-cbc -K 2B7E151628AED2A6ABF7158809CF4F3C -iv $IV | base64
        //   printf 'AB112233449999' | openssl enc -aes-128-cbc -K 2B7E151628AED2A6ABF7158809CF4F3C -iv $IV | base64
        //   printf 'UZ176908720122' | openssl enc -aes-128-cbc -K 00112233445566778899AABBCCDDEEFF -iv $IV | base64
        let n = InvoiceNumber::parse("UZ17690872").unwrap();
        let r = RandomCode::parse("0122").unwrap();
        assert_eq!(verification_block(&n, &r, &key()), "LumMvtfMXDEFTm8NZnKjwA==");
        let n2 = InvoiceNumber::parse("AB11223344").unwrap();
        let r2 = RandomCode::parse("9999").unwrap();
        assert_eq!(verification_block(&n2, &r2, &key()), "u06JqKOOS3Hm74LCp3IFRA==");
        let other = AesKey::parse("00112233445566778899aabbccddeeff").unwrap();
        assert_eq!(verification_block(&n, &r, &other), "KhROv/nz6JPIitoUZ2GU5w==");
        assert_eq!(QR_IV.to_vec(), BASE64.decode("Dt8lyToo17X/XkXaQvihuA==").unwrap());
    }

    #[test]
    fn untaxed_rounds_to_nearest() {
        assert_eq!(untaxed_from_total(340), 324); // MOF example: 0x144 / 0x154
        assert_eq!(untaxed_from_total(105), 100);
        assert_eq!(untaxed_from_total(0), 0);
        assert_eq!(untaxed_from_total(1), 1); // 0.952
        // Closest to .5 that exists: 10 → 9.524 (up), 11 → 10.476 (down).
        assert_eq!(untaxed_from_total(10), 10);
        assert_eq!(untaxed_from_total(11), 10);
        assert_eq!(untaxed_from_total(31), 30); // 29.524
        assert_eq!(untaxed_from_total(32), 30); // 30.476
        assert_eq!(untaxed_from_total(21_000_000_000), 20_000_000_000);
        assert!(untaxed_from_total(u64::MAX) < u64::MAX); // no overflow
    }

    #[test]
    fn b2c_left_code_field_by_field_matches_the_mof_example() {
        let items = mof_items();
        let key = key();
        let proof = build(&mof_example(&items, &key)).unwrap();
        let l = &proof.qr_left;
        assert_eq!(&l[0..10], "AB11223344"); // 發票字軌號碼
        assert_eq!(&l[10..17], "1020523"); // 民國 102-05-23
        assert_eq!(&l[17..21], "9999"); // 隨機碼
        assert_eq!(&l[21..29], "00000144"); // 銷售額 324
        assert_eq!(&l[29..37], "00000154"); // 總計額 340
        assert_eq!(&l[37..45], "00000000"); // 買方: consumer
        assert_eq!(&l[45..53], "04595252"); // 賣方 (the MOF example's 01234567 is no valid UBN)
        assert_eq!(&l[53..77], "u06JqKOOS3Hm74LCp3IFRA=="); // block under the test key
        // The rest is the MOF UTF-8 example byte for byte.
        assert_eq!(&l[..45], &"AB112233441020523999900000144000001540000000001234567"[..45]);
        assert_eq!(&l[77..], ":**********:3:3:1:乾電池:1:105:");
        assert_eq!(proof.qr_right, "**口罩:1:210:牛奶:1:25");
        assert_eq!(proof.barcode, "10206AB112233449999");
        assert_eq!(proof.items_in_codes, 3);
    }

    #[test]
    fn b2b_left_code_field_by_field() {
        let items = [item("顧問服務", 2, 5250)];
        let key = key();
        let total = 10_500;
        let input = ProofInput {
            number: InvoiceNumber::parse("UZ17690872").unwrap(),
            period: InvoicePeriod::parse("11512").unwrap(),
            issued_on: d("2026-11-30"),
            random_code: RandomCode::parse("0122").unwrap(),
            untaxed_amount: untaxed_from_total(total),
            total,
            buyer_ubn: Some(Ubn::parse("04595257").unwrap()),
            seller_ubn: Ubn::parse("22099131").unwrap(),
            items: &items,
            aes_key: &key,
        };
        let proof = build(&input).unwrap();
        let l = &proof.qr_left;
        assert_eq!(&l[0..10], "UZ17690872");
        assert_eq!(&l[10..17], "1151130");
        assert_eq!(&l[17..21], "0122");
        assert_eq!(&l[21..29], "00002710"); // 10000, lowercase hex per the reference "x8"
        assert_eq!(&l[29..37], "00002904"); // 10500
        assert_eq!(&l[37..45], "04595257");
        assert_eq!(&l[45..53], "22099131");
        assert_eq!(&l[53..77], "LumMvtfMXDEFTm8NZnKjwA==");
        // One item: everything in the left code, no trailing separator, right code is `**`.
        assert_eq!(&l[77..], ":**********:1:1:1:顧問服務:2:5250");
        assert_eq!(proof.qr_right, "**");
        assert_eq!(proof.barcode, "11512UZ176908720122");
    }

    #[test]
    fn hex_amounts_are_lowercase() {
        let items = mof_items();
        let key = key();
        let input = ProofInput { untaxed_amount: 3000, total: 3150, ..mof_example(&items, &key) };
        let proof = build(&input).unwrap();
        assert_eq!(&proof.qr_left[21..29], "00000bb8");
        assert_eq!(&proof.qr_left[29..37], "00000c4e");
        let max = ProofInput { untaxed_amount: 0xffff_ffff, total: 0xffff_ffff, ..mof_example(&items, &key) };
        assert_eq!(&build(&max).unwrap().qr_left[21..37], "ffffffffffffffff");
    }

    #[test]
    fn rejects_inconsistent_input() {
        let items = mof_items();
        let key = key();
        let wrong_period = ProofInput { period: InvoicePeriod::parse("10204").unwrap(), ..mof_example(&items, &key) };
        assert_eq!(build(&wrong_period).unwrap_err().code, "invoice_period_mismatch");
        let huge = ProofInput { total: 1 << 32, untaxed_amount: 1, ..mof_example(&items, &key) };
        let err = build(&huge).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("amount_out_of_range", Some("total")));
        let upside_down = ProofInput { untaxed_amount: 341, ..mof_example(&items, &key) };
        assert_eq!(build(&upside_down).unwrap_err().code, "untaxed_exceeds_total");
    }

    #[test]
    fn colons_and_control_characters_in_names_cannot_break_the_format() {
        let items = [item("A:B\nC", 1, 10), item("規格:XL", 2, -5)];
        let key = key();
        let proof = build(&mof_example(&items, &key)).unwrap();
        assert_eq!(&proof.qr_left[77..], ":**********:2:2:1:A：B C:1:10:");
        assert_eq!(proof.qr_right, "**規格：XL:2:-5");
    }

    #[test]
    fn no_items_leaves_only_the_header() {
        let key = key();
        let proof = build(&mof_example(&[], &key)).unwrap();
        assert_eq!(&proof.qr_left[77..], ":**********:0:0:1");
        assert_eq!(proof.qr_right, "**");
        assert_eq!(proof.items_in_codes, 0);
    }

    #[test]
    fn items_split_left_first_then_right_until_full() {
        let key = key();
        // 12 items of 14 bytes ("商品01:1:100" = 6 + 2 + 6): the right code (2 + 11×14 + 10 = 166)
        // takes items 2–12; a 13th would need 181 bytes, more than a 170-byte budget.
        let items: Vec<ProofItem> = (1..=13).map(|i| item(&format!("商品{i:02}"), 1, 100)).collect();
        let proof = build_with_limit(&mof_example(&items, &key), 170).unwrap();
        assert_eq!(&proof.qr_left[77..], ":**********:12:13:1:商品01:1:100:");
        assert!(proof.qr_right.starts_with("**商品02:1:100:商品03:1:100:"));
        assert!(proof.qr_right.ends_with(":商品12:1:100"));
        assert_eq!(proof.qr_right.len(), 166);
        assert_eq!(proof.items_in_codes, 12);

        // With the default budget, a long list is cut where the right code fills up.
        let many: Vec<ProofItem> = (1..=40).map(|i| item(&format!("商品{i:02}"), 1, 100)).collect();
        let proof = build(&mof_example(&many, &key)).unwrap();
        assert!(proof.qr_right.len() <= QR_MAX_BYTES && proof.qr_left.len() <= QR_MAX_BYTES);
        assert_eq!(proof.items_in_codes, 1 + (QR_MAX_BYTES - 2 + 1) / 15);
        assert!(proof.qr_left.contains(&format!(":{}:40:1:", proof.items_in_codes)));
    }

    #[test]
    fn a_first_item_too_long_for_the_left_code_moves_to_the_right() {
        let key = key();
        let long = "長".repeat(40); // 120 bytes: the left code (94 + 1 + 125 + 1) would pass 190
        let items = [item(&long, 1, 10), item("短", 1, 5)];
        let proof = build(&mof_example(&items, &key)).unwrap();
        assert_eq!(&proof.qr_left[77..], ":**********:2:2:1:");
        assert_eq!(proof.qr_right, format!("**{long}:1:10:短:1:5"));
        // An item too long for any code ends the list there: later ones are not shown either.
        let huge = "長".repeat(70);
        let items = [item("短", 1, 5), item(&huge, 1, 10), item("短", 1, 5)];
        let proof = build(&mof_example(&items, &key)).unwrap();
        assert_eq!(&proof.qr_left[77..], ":**********:1:3:1:短:1:5");
        assert_eq!(proof.qr_right, "**");
    }

    /// Reads the codes back the way a scanner app does: left[77..] + right[2..], split on `:`.
    fn read_back(left: &str, right: &str) -> (Vec<String>, Vec<String>) {
        let joined = format!("{}{}", &left[QR_HEADER_LEN..], &right[RIGHT_START.len()..]);
        let fields: Vec<String> = joined.split(':').map(str::to_owned).collect();
        let (head, items) = fields.split_at(5);
        (head.to_vec(), items.to_vec())
    }

    fn header_shape_ok(h: &str) -> bool {
        let b = h.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let lower_hex = |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        b.len() == QR_HEADER_LEN
            && b[0..2].iter().all(u8::is_ascii_uppercase)
            && digits(2..21)
            && lower_hex(21..37)
            && digits(37..53)
            && BASE64.decode(&h[53..77]).map(|v| v.len() == 16).unwrap_or(false)
    }

    proptest! {
        #[test]
        fn left_code_always_has_the_77_char_header_and_items_read_back(
            track in "[A-Z]{2}", seq in 0u32..100_000_000, random in 0u16..10_000,
            day in 0i64..3650, total in 0u64..=u64::from(u32::MAX), b2b in any::<bool>(),
            raw_items in prop::collection::vec(("[a-zA-Z0-9 :商品\n]{0,30}", 0u32..1000, -1000i64..100_000), 0..20),
        ) {
            let key = key();
            let issued_on = d("2020-01-01") + chrono::Duration::days(day);
            let items: Vec<ProofItem> = raw_items.iter().map(|(n, q, p)| item(n, *q, *p)).collect();
            let input = ProofInput {
                number: InvoiceNumber::from_parts(Track::parse(&track).unwrap(), seq).unwrap(),
                period: InvoicePeriod::containing(issued_on),
                issued_on,
                random_code: RandomCode::from_u16(random).unwrap(),
                untaxed_amount: untaxed_from_total(total),
                total,
                buyer_ubn: b2b.then(|| Ubn::parse("04595257").unwrap()),
                seller_ubn: Ubn::parse("22099131").unwrap(),
                items: &items,
                aes_key: &key,
            };
            let proof = build(&input).unwrap();
            let l = &proof.qr_left;
            prop_assert!(header_shape_ok(&l[..QR_HEADER_LEN]), "{}", l);
            prop_assert_eq!(&l[..10], input.number.as_str());
            prop_assert_eq!(u64::from_str_radix(&l[29..37], 16).unwrap(), total);
            prop_assert_eq!(&l[37..45], if b2b { "04595257" } else { "00000000" });
            prop_assert!(l[QR_HEADER_LEN..].starts_with(":**********:"));
            prop_assert!(proof.qr_right.starts_with("**"));
            prop_assert!(l.len() <= QR_MAX_BYTES && proof.qr_right.len() <= QR_MAX_BYTES);
            prop_assert_eq!(proof.barcode.len(), 19);
            prop_assert_eq!(&proof.barcode[5..15], &l[..10]);

            let (head, fields) = read_back(l, &proof.qr_right);
            prop_assert_eq!(head[0].as_str(), "");
            prop_assert_eq!(head[1].as_str(), "**********");
            prop_assert_eq!(head[2].parse::<usize>().unwrap(), proof.items_in_codes);
            prop_assert_eq!(head[3].parse::<usize>().unwrap(), items.len());
            prop_assert_eq!(head[4].as_str(), "1");
            let expected: Vec<String> = items[..proof.items_in_codes].iter().map(item_field).collect();
            let got: Vec<String> = fields.chunks(3).filter(|c| c.len() == 3).map(|c| c.join(":")).collect();
            prop_assert_eq!(got, expected);
            if proof.items_in_codes == 0 { prop_assert!(fields.is_empty()); }
            else { prop_assert_eq!(fields.len(), 3 * proof.items_in_codes); }
        }
    }
}
