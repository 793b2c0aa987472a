//! Pure rules of the Wixtar (美麗科技) e-invoice link for a shop platform.
//!
//! Small types that cannot hold an invalid value ([`Ubn`], [`PlanMonths`], [`UsagePeriod`]),
//! and functions that take the time they need as an argument. No I/O, no async.

pub mod buyer;
pub mod card;
pub mod checkout;
pub mod clock;
pub mod invoice;
pub mod order;
pub mod period;
pub mod plan;
pub mod prize;
pub mod proof;
pub mod proof_sheet;
pub mod recovery;
pub mod renewal;
pub mod returns;
pub mod rule;
pub mod sale;
pub mod settings;
pub mod tax;
pub mod text;
pub mod ubn;

pub use buyer::{Buyer, BuyerWire, Carrier, CarrierKind, LoveCode};
pub use checkout::{CheckoutRequest, Company, Contact, PaymentMethod};
pub use clock::{Clock, FixedClock, SystemClock, taipei_date};
pub use invoice::{AesKey, InvoiceNumber, InvoicePeriod, NumberBlock, NumberRange, RandomCode, Track, upload_deadline};
pub use order::{
    Decision, DeliveryStatus, DisabledReason, IssueSettings, Logistics, Order, OrderId, OrderState, OrderWire, PaymentStatus, TaxedSale, decide, invoice_lines,
    invoice_total, taxed_sale,
};
pub use period::{AutoRenewDates, UsagePeriod};
pub use plan::{PlanCatalogue, PlanMonths, PlanOffer, PlanStatus};
pub use prize::{ClaimWindow, Claimant, PrizeKind, WinnerFacts, claimant, periods_to_ask};
pub use proof::{Proof, ProofInput, ProofItem};
pub use renewal::{
    AutoRenew, AutoRenewRefusal, AutoRenewRequest, AutoRenewView, AutoRenewWire, ChargeApplied, ChargeAttempts, ChargeDecision, ChargeEffect, ChargeOrder,
    ChargeOutcome, CutoffNotice, RetryPolicy, SuspendReason,
};
pub use rule::RuleViolation;
pub use sale::{Amounts, InvoiceLine};
pub use tax::{KindAmounts, TaxKind, TaxSettings, TaxType};
pub use ubn::Ubn;
