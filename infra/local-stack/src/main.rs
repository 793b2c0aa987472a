//! `local-stack [serve|demo|soak]`: serve the whole product on 127.0.0.1 against moto, walk a
//! demo scenario against a running stack, or soak it (`./infra/soak`).

use einvoice_adapters::config::{ProcessEnv, Vars};
use einvoice_adapters::telemetry;
use local_stack::{LocalConfig, LocalStack, client, default_template_path, demo, soak};

fn port(name: &str, default: u16) -> u16 {
    ProcessEnv.optional(name, &default.to_string()).parse().unwrap_or(default)
}

#[tokio::main]
async fn main() {
    telemetry::init();
    let code = match std::env::args().nth(1).as_deref() {
        Some("demo") => {
            let url = ProcessEnv.optional("LOCAL_STACK_URL", &format!("http://127.0.0.1:{}", port("PORT", 3000)));
            demo::run(&url, &format!("http://127.0.0.1:{}", port("WIXTAR_SIM_PORT", 4010))).await
        }
        Some("soak") => {
            let number = |name: &str, default: usize| ProcessEnv.optional(name, &default.to_string()).parse().unwrap_or(default);
            soak::run(soak::SoakConfig {
                base_url: ProcessEnv.optional("LOCAL_STACK_URL", &format!("http://127.0.0.1:{}", port("PORT", 3000))),
                wixtar_url: format!("http://127.0.0.1:{}", port("WIXTAR_SIM_PORT", 4010)),
                merchants: number("SOAK_MERCHANTS", 3),
                orders_per_merchant: number("SOAK_ORDERS", 100),
                clients: number("SOAK_CLIENTS", 8),
                wixtar_errors: u32::try_from(number("SOAK_WIXTAR_ERRORS", 15)).unwrap_or(15),
                crashes_per_point: u32::try_from(number("SOAK_CRASHES", 3)).unwrap_or(3),
                idle_merchants: number("SOAK_IDLE_MERCHANTS", 0),
                goal: std::env::var("SOAK_GOAL_MS").ok().and_then(|ms| ms.parse().ok()).map(std::time::Duration::from_millis),
            })
            .await
        }
        None | Some("serve") => serve().await,
        Some(other) => {
            eprintln!("usage: local-stack [serve|demo|soak] (got {other:?})");
            2
        }
    };
    std::process::exit(code);
}

async fn serve() -> i32 {
    let config = LocalConfig {
        port: port("PORT", 3000),
        table_name: ProcessEnv.optional("TABLE_NAME", "einvoice-local"),
        event_bus_name: ProcessEnv.optional("EVENT_BUS_NAME", "einvoice-local-events"),
        platform_secret: ProcessEnv.optional("PLATFORM_SIGNING_SECRET", client::LOCAL_PLATFORM_SECRET),
        payment_secret: ProcessEnv.optional("PAYMENT_SIGNING_SECRET", client::LOCAL_PAYMENT_SECRET),
        plan_catalogue: ProcessEnv.optional("PLAN_CATALOGUE", local_stack::DEFAULT_PLAN_CATALOGUE),
        wixtar_port: port("WIXTAR_SIM_PORT", 4010),
        payment_port: port("PAYMENT_SIM_PORT", 4020),
        template: std::env::var("TEMPLATE_PATH").map(Into::into).unwrap_or_else(|_| default_template_path()),
        webhook_read_back: ProcessEnv.optional("ORDER_WEBHOOK_READ_BACK", "true") == "true",
        consume_stream: true,
    };
    match LocalStack::start(config).await {
        Ok(stack) => {
            eprintln!(
                "local stack on {} (Wixtar simulator {}, payment-gateway simulator {}); Ctrl-C stops it",
                stack.url(),
                stack.wixtar.url(),
                stack.payment.url()
            );
            let _ = tokio::signal::ctrl_c().await;
            0
        }
        Err(e) => {
            eprintln!("local stack failed to start: {e}");
            1
        }
    }
}
