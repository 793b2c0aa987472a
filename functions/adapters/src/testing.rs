//! Fakes of every port the functions call out through (feature `testing`), for unit tests of
//! their decisions without moto or the simulators: the table ([`MemoryStore`]), Wixtar
//! ([`FakeWixtar`]), the payment gateway ([`FakeGateway`]), the event bus ([`RecordingBus`])
//! and SES ([`FakeMailer`]). Each keeps what it was sent, answers as the real peer's
//! contract says (docs/wixtar-protocol.md, docs/payment-gateway-protocol.md), and takes
//! [`Fault`]s: the next calls fail before the work is done, or after it (the answer lost).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

pub use crate::store::memory::MemoryStore;

use crate::events::{DomainEvent, EventPublisher, PublishError};
use crate::mail::{MailError, Mailer, OutgoingMail};
use crate::payment::{ChargeReceipt, ChargeRequest, ChargeResult, PaymentGateway, PaymentInstructions, PaymentRequest};
use crate::upstream::UpstreamError;
use crate::wixtar::rules::{self, HeldAllowance, Refusal};
use crate::wixtar::{
    AllowanceUpload, InvoiceUpload, OnboardingReceipt, OnboardingRequest, PosIdentity, UnusedSpan, UploadReceipt, Winner, WinnersAnswer, WireRange,
    WixtarClient, none_when,
};

pub use crate::wixtar::rules::{BOOK, track_for};

/// How the next calls to a fake fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Unavailable before doing anything (a timeout, a 503).
    Unavailable,
    /// The work is done, then the answer is lost (a 5xx or timeout after the work).
    AfterWork,
}

/// Armed faults, consumed one per call.
#[derive(Debug, Default)]
struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    fn arm(&self, fault: Fault, count: usize) {
        let mut armed = lock(&self.0);
        armed.clear();
        armed.extend(std::iter::repeat_n(fault, count));
    }

    /// Runs `work` under the next armed fault, if any. As at the simulators, an `AfterWork`
    /// fault is used up only by work that succeeds: a refusal is answered as usual and leaves it
    /// armed for the next call.
    fn run<T>(&self, work: impl FnOnce() -> Result<T, UpstreamError>) -> Result<T, UpstreamError> {
        let mut armed = lock(&self.0);
        match armed.first() {
            Some(Fault::Unavailable) => {
                armed.remove(0);
                Err(UpstreamError::Unavailable("injected fault: unavailable".into()))
            }
            Some(Fault::AfterWork) => work().and_then(|_| {
                armed.remove(0);
                Err(UpstreamError::Unavailable("injected fault: the answer was lost after the work".into()))
            }),
            None => work(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accepted(number: &str, status: &str) -> UploadReceipt {
    UploadReceipt { number: number.to_owned(), status: status.to_owned() }
}

/// One invoice Wixtar holds, with what was done to it since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldInvoice {
    pub upload: InvoiceUpload,
    pub received: u32,
    pub voided: bool,
    /// Allowance number → (content, voided).
    pub allowances: BTreeMap<String, (AllowanceUpload, bool)>,
}

#[derive(Debug, Default)]
struct WixtarState {
    /// request_id → (request, reference).
    onboarding: BTreeMap<String, (OnboardingRequest, String)>,
    /// Contact hand-offs received, repeats included.
    hand_offs: u32,
    /// UBN → the RID Wixtar knows for it.
    registered: BTreeMap<String, String>,
    /// UBN → most books it may get per period.
    book_limits: BTreeMap<String, u32>,
    /// (UBN, request_id) → range.
    allocations: BTreeMap<(String, String), WireRange>,
    /// Books handed out per period (numbers are unique in a period across sellers).
    books_per_period: BTreeMap<String, u32>,
    /// (UBN, number) → invoice.
    invoices: BTreeMap<(String, String), HeldInvoice>,
    /// (UBN, period) → unused spans.
    unused: BTreeMap<(String, String), Vec<UnusedSpan>>,
    /// Period → MOF's list of winners (中獎清冊), once published.
    winners: BTreeMap<String, Vec<Winner>>,
}

/// Wixtar in memory: books of [`BOOK`] numbers per UBN and period, uploads checked against
/// them and idempotent by number, voids and allowances, unused-number reports, MOF's winners
/// lists ([`FakeWixtar::publish_winners`]), credentials
/// accepted until a UBN's real RID is registered. What it refuses it refuses with the
/// simulator's rules (`wixtar::rules`), and the Wixtar contract (`wixtar::contract`) runs
/// against both. Unlike the simulator, an `AfterWork` fault also loses the answer of a
/// contact hand-off or a range query (the simulator keeps it armed through them).
#[derive(Debug, Default)]
pub struct FakeWixtar {
    state: Mutex<WixtarState>,
    faults: Faults,
}

impl FakeWixtar {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `count` calls fail with `fault`.
    pub fn fail_next(&self, fault: Fault, count: usize) {
        self.faults.arm(fault, count);
    }

    /// From now on only `rid` is accepted for `ubn` (401 `invalid_credentials` otherwise).
    pub fn register(&self, ubn: &str, rid: &str) {
        lock(&self.state).registered.insert(ubn.to_owned(), rid.to_owned());
    }

    /// `ubn` gets at most `books` books per period; then `no_ranges_available`.
    pub fn limit_books(&self, ubn: &str, books: u32) {
        lock(&self.state).book_limits.insert(ubn.to_owned(), books);
    }

    /// The contact hand-offs received, by request id.
    pub fn onboarding(&self) -> Vec<OnboardingRequest> {
        lock(&self.state).onboarding.values().map(|(r, _)| r.clone()).collect()
    }

    /// How many contact hand-offs were received, repeats of one request id included.
    pub fn hand_offs_received(&self) -> u32 {
        lock(&self.state).hand_offs
    }

    /// Every invoice held, by (UBN, number).
    pub fn invoices(&self) -> Vec<HeldInvoice> {
        lock(&self.state).invoices.values().cloned().collect()
    }

    /// The unused-number report of a UBN for a period.
    pub fn unused_report(&self, ubn: &str, period: &str) -> Option<Vec<UnusedSpan>> {
        lock(&self.state).unused.get(&(ubn.to_owned(), period.to_owned())).cloned()
    }

    /// Publishes MOF's list of winners of `period` (as `POST /_sim/winners` does): from now on
    /// [`WixtarClient::winners`] answers each UBN its own uploaded numbers on it. A number
    /// already listed takes the new kind and amount; an empty list publishes no winners.
    pub fn publish_winners(&self, period: &str, winners: &[Winner]) -> Result<(), Refusal> {
        rules::publish_winners(&mut lock(&self.state).winners, period, winners)
    }

    /// MOF's list of `period` as published (`None`: not yet).
    pub fn published_winners(&self, period: &str) -> Option<Vec<Winner>> {
        lock(&self.state).winners.get(period).cloned()
    }

    fn authenticate(state: &WixtarState, pos: &PosIdentity) -> Result<(), Refusal> {
        rules::check_pos(pos)?;
        match state.registered.get(&pos.ubn) {
            Some(rid) if *rid != pos.rid => Err(rules::INVALID_CREDENTIALS),
            _ => Ok(()),
        }
    }

    /// A POS call: faults, then the POS identity, then `work` on the state.
    fn pos_call<T>(&self, pos: &PosIdentity, work: impl FnOnce(&mut WixtarState) -> Result<T, Refusal>) -> Result<T, UpstreamError> {
        self.faults.run(|| {
            let mut state = lock(&self.state);
            Self::authenticate(&state, pos)?;
            Ok(work(&mut state)?)
        })
    }
}

/// The allowances an invoice holds, as the rules see them.
fn held(invoice: &HeldInvoice) -> impl Iterator<Item = HeldAllowance<'_>> {
    invoice.allowances.iter().map(|(number, (a, voided))| HeldAllowance { number, total: a.total, voided: *voided })
}

#[async_trait]
impl WixtarClient for FakeWixtar {
    async fn hand_off_contact(&self, req: &OnboardingRequest) -> Result<OnboardingReceipt, UpstreamError> {
        self.faults.run(|| {
            if req.request_id.is_empty() || req.ubn.is_empty() {
                return Err(rules::HAND_OFF_INCOMPLETE.into());
            }
            let mut state = lock(&self.state);
            state.hand_offs += 1;
            let (_, reference) = state.onboarding.entry(req.request_id.clone()).or_insert_with(|| (req.clone(), format!("WX-{}", req.request_id)));
            Ok(OnboardingReceipt { reference: reference.clone() })
        })
    }

    async fn number_ranges(&self, pos: &PosIdentity, period: &str) -> Result<Vec<WireRange>, UpstreamError> {
        self.pos_call(pos, |state| {
            if !rules::valid_period(period) {
                return Err(rules::BAD_PERIOD);
            }
            Ok(state.allocations.iter().filter(|((ubn, _), r)| *ubn == pos.ubn && r.period == period).map(|(_, r)| r.clone()).collect())
        })
    }

    async fn allocate_range(&self, pos: &PosIdentity, period: &str, request_id: &str) -> Result<Option<WireRange>, UpstreamError> {
        let answer = self.pos_call(pos, |state| {
            if !rules::valid_period(period) {
                return Err(rules::BAD_PERIOD);
            }
            if request_id.is_empty() {
                return Err(rules::REQUEST_ID_REQUIRED);
            }
            if let Some(known) = state.allocations.get(&(pos.ubn.clone(), request_id.to_owned())) {
                return if known.period == period { Ok(known.clone()) } else { Err(Refusal::conflict("request_id_conflict")) };
            }
            let books = state.allocations.iter().filter(|((ubn, _), r)| *ubn == pos.ubn && r.period == period).count() as u32;
            let issued = state.books_per_period.get(period).copied().unwrap_or(0);
            let range = rules::nth_book(period, issued).filter(|_| state.book_limits.get(&pos.ubn).is_none_or(|max| books < *max));
            let range = range.ok_or(Refusal::conflict("no_ranges_available"))?;
            state.books_per_period.insert(period.to_owned(), issued + 1);
            state.allocations.insert((pos.ubn.clone(), request_id.to_owned()), range.clone());
            Ok(range)
        });
        none_when(answer, 409, "no_ranges_available")
    }

    async fn upload_invoice(&self, pos: &PosIdentity, invoice: &InvoiceUpload) -> Result<UploadReceipt, UpstreamError> {
        self.pos_call(pos, |state| {
            let ranges = state.allocations.iter().filter(|((ubn, _), _)| *ubn == pos.ubn).map(|(_, r)| r);
            rules::check_upload(&pos.ubn, invoice, ranges)?;
            let key = (pos.ubn.clone(), invoice.number.clone());
            match state.invoices.get_mut(&key) {
                Some(held) if held.upload != *invoice => return Err(Refusal::conflict("number_conflict")),
                Some(held) => held.received += 1,
                None => {
                    state.invoices.insert(key, HeldInvoice { upload: invoice.clone(), received: 1, voided: false, allowances: BTreeMap::new() });
                }
            }
            Ok(accepted(&invoice.number, "accepted"))
        })
    }

    async fn find_invoice(&self, pos: &PosIdentity, number: &str) -> Result<Option<UploadReceipt>, UpstreamError> {
        let answer = self.pos_call(pos, |state| {
            if number.is_empty() {
                return Err(rules::NUMBER_REQUIRED);
            }
            match state.invoices.contains_key(&(pos.ubn.clone(), number.to_owned())) {
                true => Ok(accepted(number, "accepted")),
                false => Err(Refusal::not_found()),
            }
        });
        none_when(answer, 404, "not_found")
    }

    async fn void_invoice(&self, pos: &PosIdentity, number: &str, _reason: &str) -> Result<UploadReceipt, UpstreamError> {
        self.pos_call(pos, |state| {
            let invoice = state.invoices.get_mut(&(pos.ubn.clone(), number.to_owned())).ok_or(Refusal::not_found())?;
            rules::may_void(held(invoice))?;
            invoice.voided = true;
            Ok(accepted(number, "void"))
        })
    }

    async fn upload_allowance(&self, pos: &PosIdentity, allowance: &AllowanceUpload) -> Result<UploadReceipt, UpstreamError> {
        self.pos_call(pos, |state| {
            let invoice = state.invoices.get_mut(&(pos.ubn.clone(), allowance.invoice_number.clone())).ok_or(Refusal::not_found())?;
            if rules::take_allowance(&invoice.upload, invoice.voided, held(invoice), allowance)? {
                invoice.allowances.insert(allowance.number.clone(), (allowance.clone(), false));
            }
            Ok(accepted(&allowance.number, "accepted"))
        })
    }

    async fn void_allowance(&self, pos: &PosIdentity, number: &str, _reason: &str) -> Result<UploadReceipt, UpstreamError> {
        self.pos_call(pos, |state| {
            let held = state
                .invoices
                .iter_mut()
                .filter(|((ubn, _), _)| *ubn == pos.ubn)
                .find_map(|(_, held)| held.allowances.get_mut(number))
                .ok_or(Refusal::not_found())?;
            held.1 = true;
            Ok(accepted(number, "void"))
        })
    }

    async fn report_unused(&self, pos: &PosIdentity, period: &str, unused: &[UnusedSpan]) -> Result<(), UpstreamError> {
        self.pos_call(pos, |state| {
            if !rules::valid_period(period) {
                return Err(rules::UNUSED_REPORT_MALFORMED);
            }
            state.unused.insert((pos.ubn.clone(), period.to_owned()), unused.to_vec());
            Ok(())
        })
    }

    async fn winners(&self, pos: &PosIdentity, period: &str) -> Result<WinnersAnswer, UpstreamError> {
        self.pos_call(pos, |state| {
            if !rules::valid_period(period) {
                return Err(rules::BAD_PERIOD);
            }
            let uploaded = |number: &str| state.invoices.get(&(pos.ubn.clone(), number.to_owned())).is_some_and(|i| i.upload.period == period);
            Ok(rules::winners_for(state.winners.get(period).map(Vec::as_slice), uploaded))
        })
    }
}

/// One `#[tokio::test]` per check of a provider port's contract (the functions of module
/// `<checks>`), each against a peer made by `let <pattern> = <make>;` and called with
/// `<args>`: what `wixtar_contract_tests!` and `gateway_contract_tests!` expand to.
#[macro_export]
macro_rules! provider_contract_tests {
    ($checks:path; let $pat:pat = $make:expr; $args:tt; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                use $checks as checks;
                let $pat = $make;
                checks::$check $args.await;
            }
        )+
    };
}

/// One charge the fake gateway answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCharge {
    pub card_token: String,
    pub amount: u64,
    pub idempotency_key: String,
    pub receipt: ChargeReceipt,
}

#[derive(Debug, Default)]
struct GatewayState {
    /// Payments opened, each with the instructions it was answered (replayed to repeats).
    payments: Vec<(PaymentRequest, PaymentInstructions)>,
    /// By idempotency key: the first answer, replayed to repeats.
    charges: BTreeMap<String, FakeCharge>,
    /// Card token → what its charges answer (cards pass unless told otherwise).
    cards: BTreeMap<String, ChargeResult>,
}

/// The payment gateway in memory: payments opened once per order, card charges idempotent by
/// key, cards that pass or decline as told. The payment-gateway contract
/// (`payment::contract`) runs against it and against the simulator. Unlike the simulator, an
/// `AfterWork` fault also loses the answer of a payment creation.
#[derive(Debug, Default)]
pub struct FakeGateway {
    state: Mutex<GatewayState>,
    faults: Faults,
}

impl FakeGateway {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail_next(&self, fault: Fault, count: usize) {
        self.faults.arm(fault, count);
    }

    /// Charges of `card_token` answer `result` from now on.
    pub fn set_card(&self, card_token: &str, result: ChargeResult) {
        lock(&self.state).cards.insert(card_token.to_owned(), result);
    }

    pub fn payments(&self) -> Vec<PaymentRequest> {
        lock(&self.state).payments.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Charges made, one per idempotency key.
    pub fn charges(&self) -> Vec<FakeCharge> {
        lock(&self.state).charges.values().cloned().collect()
    }
}

#[async_trait]
impl PaymentGateway for FakeGateway {
    async fn create_payment(&self, req: &PaymentRequest) -> Result<PaymentInstructions, UpstreamError> {
        self.faults.run(|| {
            if req.amount == 0 {
                return Err(UpstreamError::Rejected { status: 400, message: r#"{"error":"amount must be a positive integer"}"#.into() });
            }
            let mut state = lock(&self.state);
            let n = state.payments.len() + 1;
            let instructions = match state.payments.iter().find(|(p, _)| p.order_id == req.order_id) {
                Some((_, first)) => first.clone(),
                None => {
                    let instructions = match req.method {
                        einvoice_domain::PaymentMethod::Atm => PaymentInstructions::Atm {
                            bank_code: "822".into(),
                            virtual_account: format!("9999{n:010}"),
                            expires_at: chrono::DateTime::from_timestamp(4_102_444_800, 0).expect("2100-01-01"),
                        },
                        einvoice_domain::PaymentMethod::Card => PaymentInstructions::Card { payment_url: format!("https://pay.example/{}", req.order_id) },
                    };
                    state.payments.push((req.clone(), instructions.clone()));
                    instructions
                }
            };
            // What HttpPaymentGateway makes of a stored answer of the other method.
            match (&instructions, req.method) {
                (PaymentInstructions::Atm { .. }, einvoice_domain::PaymentMethod::Atm)
                | (PaymentInstructions::Card { .. }, einvoice_domain::PaymentMethod::Card) => Ok(instructions),
                _ => Err(UpstreamError::Unavailable("gateway answered with another payment method".into())),
            }
        })
    }

    async fn charge(&self, req: &ChargeRequest) -> Result<ChargeReceipt, UpstreamError> {
        self.faults.run(|| {
            let mut state = lock(&self.state);
            if let Some(first) = state.charges.get(&req.idempotency_key) {
                return Ok(first.receipt.clone());
            }
            let result = state.cards.get(&req.card_token).copied().unwrap_or(ChargeResult::Succeeded);
            let receipt = ChargeReceipt { charge_id: format!("ch_{:06}", state.charges.len() + 1), result };
            let charge =
                FakeCharge { card_token: req.card_token.clone(), amount: req.amount, idempotency_key: req.idempotency_key.clone(), receipt: receipt.clone() };
            state.charges.insert(req.idempotency_key.clone(), charge);
            Ok(receipt)
        })
    }
}

/// The event bus in memory: every event published, in order.
#[derive(Debug, Default)]
pub struct RecordingBus {
    events: Mutex<Vec<DomainEvent>>,
    failures_left: Mutex<u32>,
}

impl RecordingBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `count` publishes fail (nothing of them is published).
    pub fn fail_next(&self, count: u32) {
        *lock(&self.failures_left) = count;
    }

    pub fn events(&self) -> Vec<DomainEvent> {
        lock(&self.events).clone()
    }

    /// The events of one detail type.
    pub fn of_type(&self, detail_type: &str) -> Vec<DomainEvent> {
        self.events().into_iter().filter(|e| e.detail_type == detail_type).collect()
    }
}

#[async_trait]
impl EventPublisher for RecordingBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        {
            let mut left = lock(&self.failures_left);
            if *left > 0 {
                *left -= 1;
                return Err(PublishError("injected fault: the bus is unavailable".into()));
            }
        }
        lock(&self.events).extend(events.iter().cloned());
        Ok(())
    }
}

/// SES in memory: every mail accepted, with its message id; errors on demand.
#[derive(Debug, Default)]
pub struct FakeMailer {
    sent: Mutex<Vec<(String, OutgoingMail)>>,
    errors: Mutex<Vec<MailError>>,
}

impl FakeMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next sends fail with these errors, in order.
    pub fn fail_with(&self, errors: impl IntoIterator<Item = MailError>) {
        lock(&self.errors).extend(errors);
    }

    /// Mails accepted, with their message ids.
    pub fn sent(&self) -> Vec<(String, OutgoingMail)> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl Mailer for FakeMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        {
            let mut errors = lock(&self.errors);
            if !errors.is_empty() {
                return Err(errors.remove(0));
            }
        }
        let mut sent = lock(&self.sent);
        let id = format!("msg-{:05}", sent.len() + 1);
        sent.push((id.clone(), mail.clone()));
        Ok(id)
    }
}
