//! Pure rules of the Wixtar (美麗科技) e-invoice link for a shop platform.
//!
//! Small types that cannot hold an invalid value ([`Ubn`], [`PlanMonths`], [`UsagePeriod`]),
//! and functions that take the time they need as an argument. No I/O, no async.

pub mod checkout;
pub mod clock;
pub mod plan;
pub mod period;
pub mod rule;
pub mod settings;
pub mod ubn;

pub use checkout::{CheckoutRequest, Company, Contact, PaymentMethod};
pub use clock::{Clock, FixedClock, SystemClock, taipei_date};
pub use plan::{PlanCatalogue, PlanMonths, PlanOffer, PlanStatus};
pub use period::{AutoRenewDates, UsagePeriod};
pub use rule::RuleViolation;
pub use ubn::Ubn;
