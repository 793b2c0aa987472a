//! Renewal (續購) and auto-renew (自動續約) through the local stack: the T-15 cancel deadline and
//! T-10 charge day on their boundary days, the two daily jobs fired like EventBridge would
//! (repeated, overlapping, crashing, replayed), declines and recovery, month-end expiries.

use e2e_tests::{Harness, merchant, start};
use serde_json::{Value, json};

/// A merchant whose first 3-month card purchase (+1 bonus month) paid on 2026-09-01 expires on
/// 2026-12-31: cancel deadline 2026-12-16 (T-15), charge day 2026-12-21 (T-10).
async fn subscribed(h: &Harness) -> String {
    let m = merchant();
    h.subscribe(&m, 3, "2026-09-01T10:00:00+08:00").await;
    m
}

/// 00:10 Taipei on `day`, as the renewal-charge schedule fires.
fn at_0010(day: &str) -> String {
    format!("{day}T00:10:00+08:00")
}

async fn charge_run(h: &Harness, day: &str) -> Value {
    let r = h.fire("renewal-charge", &at_0010(day)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

fn templates(h: &Harness, m: &str) -> Vec<String> {
    h.events(m, "MerchantNotification").iter().map(|e| e["template"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn cancel_is_accepted_on_t15_and_refused_on_t14() {
    let h = start().await;
    let m = subscribed(&h).await;
    h.set_now("2026-12-16T23:59:00+08:00");
    let view = h.view(&m).await;
    assert_eq!(view["expires_on"], "2026-12-31");
    assert_eq!(view["auto_renew"]["cancel_deadline"], "2026-12-16");
    assert_eq!(view["auto_renew"]["charge_on"], "2026-12-21");
    assert_eq!(view["auto_renew"]["locked"], false);
    let r = h.set_auto_renew(&m, &json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["auto_renew"]["enabled"], false);
    // Turned back on the same day.
    assert_eq!(h.set_auto_renew(&m, &json!({"enabled": true, "months": 3})).await.status, 200);

    h.set_now("2026-12-17T00:00:00+08:00");
    assert_eq!(h.view(&m).await["auto_renew"]["locked"], true);
    let r = h.set_auto_renew(&m, &json!({"enabled": false})).await;
    assert_eq!((r.status, r.error_code()), (409, Some("cancel_deadline_passed")), "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("2026-12-21"), "says when it can next be disabled");
    assert_eq!(h.view(&m).await["auto_renew"]["enabled"], true, "the refusal changed nothing");

    // Once the renewal is charged the next deadline applies and cancelling works again.
    assert_eq!(charge_run(&h, "2026-12-21").await["charged"], 1);
    h.set_now("2026-12-21T09:00:00+08:00");
    let r = h.set_auto_renew(&m, &json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["expires_on"], "2027-03-31");
}

#[tokio::test]
async fn cycle_change_on_t11_applies_to_the_coming_charge_on_t10_to_the_next() {
    let h = start().await;
    let (early, late) = (subscribed(&h).await, subscribed(&h).await);
    h.set_now("2026-12-20T12:00:00+08:00"); // T-11, after the cancel deadline: not a cancellation
    let r = h.set_auto_renew(&early, &json!({"enabled": true, "months": 6})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["auto_renew"]["months"].as_u64(), r.body["auto_renew"]["next_months"].as_u64()), (Some(6), None));
    h.set_now("2026-12-21T00:05:00+08:00"); // T-10, before the job
    let r = h.set_auto_renew(&late, &json!({"enabled": true, "months": 6})).await;
    assert_eq!(r.status, 200);
    assert_eq!((r.body["auto_renew"]["months"].as_u64(), r.body["auto_renew"]["next_months"].as_u64()), (Some(3), Some(6)));

    assert_eq!(charge_run(&h, "2026-12-21").await["charged"], 2);
    assert_eq!(h.charges(&format!("tok-{early}")).await[0]["amount"], 3300, "6 months charged");
    assert_eq!(h.charges(&format!("tok-{late}")).await[0]["amount"], 1800, "3 months charged");
    h.set_now("2026-12-22T09:00:00+08:00");
    assert_eq!(h.view(&early).await["expires_on"], "2027-06-30");
    let late_view = h.view(&late).await;
    assert_eq!(late_view["expires_on"], "2027-03-31");
    assert_eq!(late_view["auto_renew"]["months"], 6, "the change applies from the next charge");
}

#[tokio::test]
async fn charged_on_t10_once_however_often_the_job_runs() {
    let h = start().await;
    let m = subscribed(&h).await;
    let token = format!("tok-{m}");
    let before = charge_run(&h, "2026-12-20").await; // T-11
    assert_eq!((before["charged"].as_u64(), before["due"].as_u64()), (Some(0), Some(0)));
    assert!(h.charges(&token).await.is_empty());

    let run = charge_run(&h, "2026-12-21").await;
    assert_eq!((run["due"].as_u64(), run["charged"].as_u64()), (Some(1), Some(1)), "{run}");
    let charges = h.charges(&token).await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["idempotency_key"], format!("renew:{m}:2026-12-31:1"));
    assert_eq!(charges[0]["amount"], 1800);

    // Fired again the same day, the next days, and replayed by an operator with an old time.
    for day in ["2026-12-21", "2026-12-22", "2026-12-31", "2026-12-15", "2026-12-21"] {
        assert_eq!(charge_run(&h, day).await["charged"], 0, "{day}");
    }
    assert_eq!(h.charges(&token).await.len(), 1, "one charge for the cycle");
    h.set_now("2026-12-22T09:00:00+08:00");
    let view = h.view(&m).await;
    assert_eq!(view["expires_on"], "2027-03-31", "3 months from 2027-01-01");
    let orders = view["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    let renewal = orders.iter().find(|o| o["payment"]["source"] == "auto_renew").expect("the auto-renewal order");
    assert_eq!((renewal["kind"].as_str(), renewal["status"].as_str(), renewal["amount"].as_u64()), (Some("renewal"), Some("paid"), Some(1800)));
    assert_eq!(h.events(&m, "PlanRenewed").len(), 1);
    assert!(templates(&h, &m).contains(&"auto_renew_succeeded".to_string()));
}

#[tokio::test]
async fn overlapping_runs_charge_each_cycle_once() {
    let h = start().await;
    let mut merchants = Vec::new();
    for _ in 0..6 {
        merchants.push(subscribed(&h).await);
    }
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (c, url) = (h.c.clone(), "/_local/schedules/renewal-charge");
        runs.spawn(async move {
            let body = serde_json::to_vec(&json!({"time": "2026-12-21T00:10:00+08:00"})).unwrap();
            c.raw(reqwest::Method::POST, url, body, &[("content-type", "application/json".into())]).await
        });
    }
    let mut charged = 0;
    while let Some(r) = runs.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        charged += r.body["charged"].as_u64().unwrap();
    }
    assert_eq!(charged, 6, "each plan counted as charged by exactly one run");
    h.set_now("2026-12-22T09:00:00+08:00");
    for m in &merchants {
        assert_eq!(h.charges(&format!("tok-{m}")).await.len(), 1, "{m}");
        assert_eq!(h.view(m).await["expires_on"], "2027-03-31");
        // Events are published at least once; their ids make repeats recognisable.
        let ids: std::collections::BTreeSet<String> = h.events(m, "PlanRenewed").iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids.len(), 1);
    }
}

#[tokio::test]
async fn a_crash_between_charge_and_record_still_charges_once() {
    let h = start().await;
    let m = subscribed(&h).await;
    let token = format!("tok-{m}");
    // The gateway charges, then the answer is lost (as if the job died before recording it).
    h.fault(&h.stack.payment, "error_after", 1).await;
    let run = charge_run(&h, "2026-12-21").await;
    assert_eq!((run["charged"].as_u64(), run["failed"].as_u64()), (Some(0), Some(1)), "{run}");
    assert_eq!(h.charges(&token).await.len(), 1, "the card was charged");
    h.set_now("2026-12-21T09:00:00+08:00");
    assert_eq!(h.view(&m).await["expires_on"], "2026-12-31", "not recorded yet");

    // The next run (here an operator re-run of the same day) re-sends the same key.
    let run = charge_run(&h, "2026-12-21").await;
    assert_eq!(run["charged"], 1, "{run}");
    let charges = h.charges(&token).await;
    assert_eq!(charges.len(), 1, "the repeat was answered with the first charge");
    assert_eq!(h.view(&m).await["expires_on"], "2027-03-31");
    assert_eq!(charge_run(&h, "2026-12-22").await["charged"], 0);
    assert_eq!(h.view(&m).await["orders"].as_array().unwrap().len(), 2, "one renewal order");
}

#[tokio::test]
async fn gateway_outage_is_retried_by_the_next_run() {
    let h = start().await;
    let m = subscribed(&h).await;
    h.fault(&h.stack.payment, "error", 1).await;
    assert_eq!(charge_run(&h, "2026-12-21").await["failed"], 1);
    assert_eq!(charge_run(&h, "2026-12-22").await["charged"], 1);
    assert_eq!(h.charges(&format!("tok-{m}")).await.len(), 1);
}

#[tokio::test]
async fn soft_declines_retry_on_t7_t4_t1_then_recover() {
    let h = start().await;
    let m = subscribed(&h).await;
    let token = format!("tok-{m}");
    h.card_behaviour(&token, true, false).await;
    assert_eq!(charge_run(&h, "2026-12-21").await["declined"], 1); // T-10
    for day in ["2026-12-22", "2026-12-23"] {
        assert_eq!(charge_run(&h, day).await["due"], 0, "{day}: waiting for T-7");
    }
    assert_eq!(charge_run(&h, "2026-12-24").await["declined"], 1); // T-7
    h.card_behaviour(&token, false, false).await;
    assert_eq!(charge_run(&h, "2026-12-27").await["charged"], 1); // T-4
    let keys: Vec<Value> = h.charges(&token).await.iter().map(|c| c["idempotency_key"].clone()).collect();
    assert_eq!(keys, [json!(format!("renew:{m}:2026-12-31:1")), json!(format!("renew:{m}:2026-12-31:2")), json!(format!("renew:{m}:2026-12-31:3"))]);
    h.set_now("2026-12-28T09:00:00+08:00");
    let view = h.view(&m).await;
    assert_eq!(view["expires_on"], "2027-03-31");
    assert_eq!(view["auto_renew"]["suspended"], Value::Null);
    let t = templates(&h, &m);
    assert_eq!(t.iter().filter(|t| *t == "auto_renew_declined").count(), 2, "each decline is notified: {t:?}");
}

#[tokio::test]
async fn every_attempt_declined_suspends_and_the_plan_runs_out() {
    let h = start().await;
    let m = subscribed(&h).await;
    let token = format!("tok-{m}");
    h.card_behaviour(&token, true, false).await;
    for (day, field) in [("2026-12-21", "declined"), ("2026-12-24", "declined"), ("2026-12-27", "declined"), ("2026-12-30", "suspended")] {
        assert_eq!(charge_run(&h, day).await[field], 1, "{day}");
    }
    assert_eq!(charge_run(&h, "2026-12-31").await["due"], 0);
    assert_eq!(h.charges(&token).await.len(), 4);
    h.set_now("2026-12-31T09:00:00+08:00");
    let view = h.view(&m).await;
    assert_eq!(view["auto_renew"]["suspended"], "declined");
    assert_eq!(view["expires_on"], "2026-12-31");
    assert!(view["notices"].as_array().unwrap().iter().any(|n| n["code"] == "auto_renew_suspended"));
    h.set_now("2027-01-01T09:00:00+08:00");
    assert_eq!(h.view(&m).await["status"], "expired");
}

#[tokio::test]
async fn a_hard_decline_is_not_retried() {
    let h = start().await;
    let m = subscribed(&h).await;
    let token = format!("tok-{m}");
    h.card_behaviour(&token, true, true).await;
    assert_eq!(charge_run(&h, "2026-12-21").await["suspended"], 1);
    for day in ["2026-12-24", "2026-12-27", "2026-12-30"] {
        assert_eq!(charge_run(&h, day).await["due"], 0, "{day}");
    }
    assert_eq!(h.charges(&token).await.len(), 1);
    h.set_now("2026-12-22T09:00:00+08:00");
    assert_eq!(h.view(&m).await["auto_renew"]["suspended"], "declined_hard");
    assert!(templates(&h, &m).contains(&"auto_renew_suspended".to_string()));
    // A new card lifts the suspension; the next run charges it.
    let r =
        h.c.platform(reqwest::Method::PUT, &format!("/v1/merchants/{m}/payment-card"), Some(&json!({"card_token": "tok-new-card", "last4": "1881"})), None)
            .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["card"], json!({"last4": "1881"}));
    assert!(!r.body.to_string().contains("tok-new-card"));
    assert_eq!(charge_run(&h, "2026-12-22").await["charged"], 1);
    assert_eq!(h.charges("tok-new-card").await.len(), 1);
}

#[tokio::test]
async fn missed_days_are_caught_up() {
    let h = start().await;
    let m = subscribed(&h).await;
    // No cutoff run from T-14 to T-9: the first run still notifies, once.
    let cutoff = h.fire("renewal-cutoff", "2026-12-22T00:05:00+08:00").await;
    assert_eq!((cutoff.status, cutoff.body["notified"].as_u64()), (200, Some(1)), "{:?}", cutoff.body);
    assert_eq!(h.fire("renewal-cutoff", "2026-12-23T00:05:00+08:00").await.body["notified"], 0);
    // No charge run from T-10 to T-7: T-6 charges.
    assert_eq!(charge_run(&h, "2026-12-25").await["charged"], 1);
    h.set_now("2026-12-25T09:00:00+08:00");
    assert_eq!(h.view(&m).await["expires_on"], "2027-03-31");
    // After expiry nothing is charged any more (a plan that was never charged simply ends).
    let other = subscribed(&h).await;
    assert_eq!(charge_run(&h, "2027-01-01").await["charged"], 0);
    assert!(h.charges(&format!("tok-{other}")).await.is_empty());
}

#[tokio::test]
async fn cutoff_locks_and_notifies_once_with_date_amount_and_card() {
    let h = start().await;
    let m = subscribed(&h).await;
    let off = subscribed(&h).await;
    h.set_now("2026-12-10T09:00:00+08:00");
    assert_eq!(h.set_auto_renew(&off, &json!({"enabled": false})).await.status, 200);
    let on_deadline = h.fire("renewal-cutoff", "2026-12-16T00:05:00+08:00").await;
    assert_eq!(on_deadline.body["notified"], 0, "T-15 can still be cancelled");
    let run = h.fire("renewal-cutoff", "2026-12-17T00:05:00+08:00").await;
    assert_eq!(run.body["notified"], 1, "{:?}", run.body);
    assert_eq!(run.body["window"], json!(["2026-12-17", "2026-12-31"]));
    for _ in 0..2 {
        assert_eq!(h.fire("renewal-cutoff", "2026-12-17T00:05:00+08:00").await.body["notified"], 0);
    }
    let locked: Vec<Value> = h.events(&m, "MerchantNotification").into_iter().filter(|e| e["template"] == "auto_renew_locked").collect();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0]["charge_on"], "2026-12-21");
    assert_eq!(locked[0]["amount"], 1800);
    assert_eq!(locked[0]["card_last4"], "4242");
    assert!(!templates(&h, &off).contains(&"auto_renew_locked".to_string()));
}

#[tokio::test]
async fn month_end_expiries() {
    let h = start().await;
    // Paid 2026-10-01, 3 + 1 months: expires 2027-01-31; T-15 2027-01-16, T-10 2027-01-21.
    let jan = merchant();
    h.subscribe(&jan, 3, "2026-10-01T10:00:00+08:00").await;
    // Paid 2027-11-01: expires on leap day 2028-02-29; T-15 2028-02-14, T-10 2028-02-19.
    let leap = merchant();
    h.subscribe(&leap, 3, "2027-11-01T10:00:00+08:00").await;
    h.set_now("2027-01-02T09:00:00+08:00");
    let view = h.view(&jan).await;
    assert_eq!(
        (view["expires_on"].as_str(), view["auto_renew"]["cancel_deadline"].as_str(), view["auto_renew"]["charge_on"].as_str()),
        (Some("2027-01-31"), Some("2027-01-16"), Some("2027-01-21"))
    );
    h.set_now("2027-12-01T09:00:00+08:00");
    let view = h.view(&leap).await;
    assert_eq!(
        (view["expires_on"].as_str(), view["auto_renew"]["cancel_deadline"].as_str(), view["auto_renew"]["charge_on"].as_str()),
        (Some("2028-02-29"), Some("2028-02-14"), Some("2028-02-19"))
    );

    assert_eq!(charge_run(&h, "2027-01-20").await["charged"], 0);
    assert_eq!(charge_run(&h, "2027-01-21").await["charged"], 1);
    assert_eq!(charge_run(&h, "2028-02-18").await["charged"], 0);
    assert_eq!(charge_run(&h, "2028-02-19").await["charged"], 1);
    h.set_now("2028-02-20T09:00:00+08:00");
    assert_eq!(h.view(&jan).await["expires_on"], "2027-04-30", "from 2027-02-01, 3 months");
    assert_eq!(h.view(&leap).await["expires_on"], "2028-05-31", "from 2028-03-01, 3 months");
}

#[tokio::test]
async fn auto_renew_needs_a_card_and_a_valid_cycle() {
    let h = start().await;
    let m = merchant();
    h.buy(&m, 3, "2026-09-01T10:00:00+08:00").await; // ATM: no card
    h.set_now("2026-10-01T09:00:00+08:00");
    let r = h.set_auto_renew(&m, &json!({"enabled": true, "months": 3})).await;
    assert_eq!((r.status, r.error_code()), (422, Some("card_not_bound")));
    let r = h.set_auto_renew(&m, &json!({"enabled": true, "months": 5})).await;
    assert_eq!((r.status, r.error_code()), (422, Some("invalid_plan")));
    let r = h.set_auto_renew(&m, &json!({"months": 3})).await;
    assert_eq!((r.status, r.error_code()), (422, Some("missing_field")));
    let r = h.set_auto_renew(&m, &json!({"enabled": "yes"})).await;
    assert_eq!((r.status, r.error_code()), (400, Some("malformed_json")));
    let card = |token: &str, last4: &str| json!({"card_token": token, "last4": last4});
    let path = format!("/v1/merchants/{m}/payment-card");
    for (body, code) in [(card("", "4242"), "invalid_card_token"), (card("tok-x", "42"), "invalid_card_last4"), (card("tok x", "4242"), "invalid_card_token")] {
        let r = h.c.platform(reqwest::Method::PUT, &path, Some(&body), None).await;
        assert_eq!((r.status, r.error_code()), (422, Some(code)), "{body}");
    }
    // A card number where the token belongs (Luhn-valid, 13-19 digits): refused, nothing kept.
    let before = h.items().await;
    for pan in ["4111111111111111", "4111-1111-1111-1111", "378282246310005"] {
        let r = h.c.platform(reqwest::Method::PUT, &path, Some(&card(pan, "1111")), None).await;
        assert_eq!((r.status, r.error_code()), (422, Some("card_number_not_allowed")), "{pan}");
        assert!(!r.text.contains(pan), "the error echoes the card number");
    }
    assert_eq!(h.items().await, before, "a refused card number changed the table");
    assert!(h.c.get(&format!("/v1/merchants/{m}/plan")).await.body["card"].is_null());
    let r = h.c.platform(reqwest::Method::PUT, &path, Some(&card("tok-secret-1", "1234")), None).await;
    assert_eq!(r.status, 200);
    let r = h.set_auto_renew(&m, &json!({"enabled": true, "months": 12})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["auto_renew"]["enabled"].as_bool(), r.body["auto_renew"]["months"].as_u64()), (Some(true), Some(12)));
    assert!(!r.body.to_string().contains("tok-secret-1"));
    // Nothing paid: a card can be bound, auto-renew cannot be turned on.
    let fresh = merchant();
    let r = h.c.platform(reqwest::Method::PUT, &format!("/v1/merchants/{fresh}/payment-card"), Some(&card("tok-f", "9999")), None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("none")));
    let r = h.set_auto_renew(&fresh, &json!({"enabled": true, "months": 3})).await;
    assert_eq!((r.status, r.error_code()), (409, Some("no_plan")));
}

#[tokio::test]
async fn the_jobs_read_the_due_plans_not_the_table() {
    let h = start().await;
    // 1,980 plans expiring outside the charge window, 20 inside it (on T-10 of 2026-12-31): a
    // read of the table instead of the index would read 100 times more than it must.
    let client = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    let table = h.stack.config.table_name.clone();
    let mut requests = Vec::new();
    for i in 0..2_000u32 {
        let due = i % 100 == 0;
        let expires_on = if due { "2026-12-31".to_owned() } else { format!("2027-{:02}-{:02}", 1 + i % 12, 1 + i % 28) };
        let m = format!("bulk-{i:05}");
        let item = json!({
            "pk": format!("MERCHANT#{m}"), "sk": "PLAN", "entity": "plan", "merchant_id": m, "ubn": "04595257",
            "starts_on": "2026-09-01", "expires_on": expires_on, "paid_orders": 1,
            "auto_renew": {"enabled": true, "months": 3, "card_last4": "4242"}, "card_token": format!("tok-{m}"),
            "version": 1, "updated_at": "2026-09-01T02:00:00Z"
        });
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = serde_dynamo::to_item(item).unwrap();
        requests.push(
            aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build(),
        );
    }
    for chunk in requests.chunks(25) {
        let mut pending = Some(std::collections::HashMap::from([(table.clone(), chunk.to_vec())]));
        while let Some(items) = pending.filter(|p| !p.is_empty()) {
            let out = client.batch_write_item().set_request_items(Some(items)).send().await.unwrap();
            pending = out.unprocessed_items;
        }
    }
    let cutoff = h.fire("renewal-cutoff", "2026-12-17T00:05:00+08:00").await;
    assert_eq!(cutoff.body["notified"], 20, "{:?}", cutoff.body);
    assert_eq!(cutoff.body["items_read"], 20, "{:?}", cutoff.body);
    let run = charge_run(&h, "2026-12-21").await;
    assert_eq!(run["charged"], 20, "{run}");
    assert_eq!(run["items_read"], 20, "only the due plans were read: {run}");
    assert_eq!(run["queries"], 14, "one query per expiry day of the window (T-10…T, 3 days back): {run}");
}

#[tokio::test]
async fn an_attempt_left_pending_on_the_expiry_day_is_resent_after_it() {
    let h = start().await;
    let m = subscribed(&h).await;
    let token = format!("tok-{m}");
    // The charge run on the expiry day itself loses the gateway's answer.
    h.fault(&h.stack.payment, "error_after", 1).await;
    assert_eq!(charge_run(&h, "2026-12-31").await["failed"], 1);
    // The next days' runs still read that expiry and record the charge, once.
    let run = charge_run(&h, "2027-01-01").await;
    assert_eq!(run["charged"], 1, "{run}");
    assert_eq!(h.charges(&token).await.len(), 1);
    h.set_now("2027-01-02T09:00:00+08:00");
    assert_eq!(h.view(&m).await["expires_on"], "2027-03-31", "renewed from 2027-01-01, not lost");
}
