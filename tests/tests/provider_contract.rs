//! The provider ports' contracts against the simulators, through the real HTTP clients: the
//! Wixtar checks (functions/adapters/src/wixtar/contract.rs) with `HttpWixtarClient`, the
//! payment-gateway checks (functions/adapters/src/payment/contract.rs) with
//! `HttpPaymentGateway` — the same checks `FakeWixtar` and `FakeGateway` pass in the adapters'
//! unit tests, so the fakes the functions' unit tests use cannot drift from the simulators.
//! Each test starts its simulator in-process on a free 127.0.0.1 port; no moto.

use einvoice_adapters::payment::ChargeResult;
use einvoice_adapters::payment::HttpPaymentGateway;
use einvoice_adapters::payment::contract::GatewayControl;
use einvoice_adapters::testing::Fault;
use einvoice_adapters::wixtar::contract::WixtarControl;
use einvoice_adapters::wixtar::{HttpWixtarClient, Winner};
use serde_json::{Value, json};

/// A simulator started in-process on a free port, and its `/_sim` admin endpoints.
struct Sim {
    running: simulators::Running,
    http: reqwest::Client,
}

impl Sim {
    async fn wixtar() -> Self {
        Self::new(simulators::serve(simulators::wixtar::router(), 0).await)
    }

    async fn payment() -> Self {
        Self::new(simulators::serve(simulators::payment::router(), 0).await)
    }

    fn new(running: std::io::Result<simulators::Running>) -> Self {
        Self { running: running.expect("the simulator starts"), http: reqwest::Client::new() }
    }

    fn url(&self) -> String {
        self.running.url()
    }

    async fn post(&self, path: &str, body: Value) {
        let r = self.http.post(format!("{}{path}", self.url())).json(&body).send().await.expect("the simulator answers");
        assert_eq!(r.status().as_u16(), 204, "POST {path} {body}");
    }

    async fn faults(&self, fault: Fault, count: usize) {
        let mode = match fault {
            Fault::Unavailable => "error",
            Fault::AfterWork => "error_after",
        };
        self.post("/_sim/faults", json!({"mode": mode, "count": count})).await;
    }
}

impl WixtarControl for Sim {
    async fn fail_next(&self, fault: Fault, count: usize) {
        self.faults(fault, count).await;
    }

    async fn limit_books(&self, ubn: &str, books: u32) {
        self.post("/_sim/ranges", json!({"ubn": ubn, "books": books})).await;
    }

    async fn register(&self, ubn: &str, rid: &str) {
        self.post("/_sim/credentials", json!({"ubn": ubn, "rid": rid})).await;
    }

    async fn publish_winners(&self, period: &str, winners: &[Winner]) {
        self.post("/_sim/winners", json!({"period": period, "winners": winners})).await;
    }
}

impl GatewayControl for Sim {
    async fn fail_next(&self, fault: Fault, count: usize) {
        self.faults(fault, count).await;
    }

    async fn set_card(&self, card_token: &str, result: ChargeResult) {
        let (decline, hard) = match result {
            ChargeResult::Succeeded => (false, false),
            ChargeResult::Declined => (true, false),
            ChargeResult::DeclinedHard => (true, true),
        };
        self.post(&format!("/_sim/cards/{card_token}"), json!({"decline": decline, "hard": hard})).await;
    }
}

mod wixtar {
    use super::*;

    einvoice_adapters::wixtar_contract_tests!(let sim = Sim::wixtar().await; &HttpWixtarClient::new(sim.url()), &sim);
}

mod gateway {
    use super::*;

    einvoice_adapters::gateway_contract_tests!(let sim = Sim::payment().await; &HttpPaymentGateway::new(sim.url()), &sim);
}
