use super::*;
use crate::kit::testing::{ApiClient, Receiver};
use std::path::PathBuf;

fn relay_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kit/providers/relay/provider.toml")
}

/// A minimal valid description (no spec, no auth), with `extra` appended.
fn minimal(extra: &str) -> String {
    format!(
        r#"name = "mini"
[endpoint]
settings = {{ base_url = "{{{{base_url}}}}" }}
[webhooks]
secret = "s"
signature_header = "X-Sig"
algorithm = "hmac-sha256"
[[routes]]
role = "start"
method = "POST"
path = "/conversations"
handover_id = "/ref"
status = 201
response = {{ id = "{{{{conversation}}}}" }}
[[routes]]
role = "message"
method = "POST"
path = "/conversations/{{conversation}}/messages"
text = "/text"
require = ["/kind"]
[agent.join]
body = {{ conv = "{{{{conversation}}}}", seq = "{{{{seq}}}}", who = "{{{{agent}}}}" }}
[agent.message]
body = {{ conv = "{{{{conversation}}}}", text = "{{{{text}}}}" }}
[agent.end]
body = {{ conv = "{{{{conversation}}}}" }}
{extra}"#
    )
}

#[test]
fn the_worked_example_and_a_minimal_description_are_accepted() {
    let relay = Description::load(&relay_path()).unwrap();
    assert_eq!(relay.name, "relay-desk");
    assert!(relay.spec.as_ref().unwrap().ends_with("relay/openapi.json"));
    assert!(relay.has_close());
    let mini = Description::parse(&minimal("")).unwrap();
    assert!(!mini.has_close());
    assert_eq!(
        mini.routes[1].conversation_source(),
        Some(Source::Param("conversation".into()))
    );
}

#[test]
fn mistakes_are_refused_with_what_to_fix() {
    let cases: &[(String, &str)] = &[
        (
            minimal("").replace("role = \"start\"", "role = \"other\""),
            "exactly one route with role = \"start\" (it has 0)",
        ),
        (
            minimal("").replace("text = \"/text\"\n", ""),
            "routes[1] (POST /conversations/{conversation}/messages): a message route needs `text`",
        ),
        (
            minimal("").replace("text = \"/text\"", "text = \"text\""),
            "`text` must be a JSON pointer (start with `/`), not `text`",
        ),
        (
            minimal("").replace("who = \"{{agent}}\"", "who = \"{{agent_name}}\""),
            "agent.join.body: /who: unknown variable `{{agent_name}}`",
        ),
        (
            minimal("").replace(
                "conv = \"{{conversation}}\", text",
                "conv = \"{{text}}\", text",
            ),
            "",
        ),
        (
            minimal("").replace(
                "path = \"/conversations/{conversation}/messages\"",
                "path = \"/conversations/{id}/messages\"",
            ),
            "path parameter `{conversation}`, which `path` does not have",
        ),
        (
            minimal("").replace(
                "algorithm = \"hmac-sha256\"",
                "algorithm = \"hmac-sha256\"\nsigned = { timestamp_then_body = \".\" }",
            ),
            "`timestamp_header` is required",
        ),
        (
            minimal("").replace("secret = \"s\"", "secret = \"s\"\nsecrett = 1"),
            "unknown field `secrett`",
        ),
        (
            minimal("").replace(
                "method = \"POST\"\npath = \"/conversations\"\n",
                "method = \"post\"\npath = \"/conversations\"\n",
            ),
            "`method` must be an HTTP method in capitals, not `post`",
        ),
    ];
    for (text, want) in cases {
        match Description::parse(text) {
            Ok(_) if want.is_empty() => {}
            Ok(_) => panic!("accepted a description that should fail with: {want}"),
            Err(e) if !want.is_empty() => assert!(e.contains(want), "{e}\n  wanted: {want}"),
            Err(e) => panic!("refused a valid description: {e}"),
        }
    }
}

#[tokio::test]
async fn the_simulator_serves_records_checks_and_signs_as_described() {
    let desc = Arc::new(Description::load(&relay_path()).unwrap());
    let driver = DescribedDriver::start(desc).await.unwrap();
    let setup = driver.endpoint_setup();
    let base = driver.sim.base_url();
    assert_eq!(setup.settings["base_url"], format!("{base}/v2"));
    assert!(
        setup.extra_toml.contains("Bearer relay-test-key"),
        "{}",
        setup.extra_toml
    );
    let api = ApiClient::new(base.clone(), |r| r.bearer_auth("relay-test-key"));
    let anonymous = ApiClient::new(base.clone(), |r| r);

    let open =
        json!({"external_id": "h-1", "queue": "support", "channel": "webchat", "transcript": []});
    let (status, _) = anonymous
        .call("POST", "/v2/conversations", Some(open.clone()))
        .await;
    assert_eq!(status, 401, "credentials are required");
    let (status, body) = api.call("POST", "/v2/conversations", Some(open)).await;
    assert_eq!(status, 201, "{body}");
    let conv = body["conversation"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["conversation"]["external_id"], "h-1");
    assert_eq!(body["conversation"]["position"], 2);
    let found = driver
        .wait_for_conversation("h-1", Duration::from_secs(1))
        .await;
    assert_eq!(found.as_deref(), Some(conv.as_str()));

    let path = format!("/v2/conversations/{conv}/messages");
    let (status, _) = api
        .call("POST", &path, Some(json!({"text": "hello"})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(driver.user_messages(&conv).await, ["hello"]);
    assert!(driver.take_violations().is_empty());
    // The OpenAPI document refuses an unknown field, with the described status.
    let (status, _) = api
        .call("POST", &path, Some(json!({"text": "x", "extra": 1})))
        .await;
    assert_eq!(status, 422);
    let violations = driver.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("extra"), "{violations:?}");
    assert_eq!(driver.closed_by_bot(&conv).await, Some(false));
    let close = format!("/v2/conversations/{conv}/close");
    let (status, body) = api
        .call("POST", &close, Some(json!({"reason": "cancelled"})))
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("closed")));
    assert_eq!(driver.closed_by_bot(&conv).await, Some(true));

    // The agent's webhooks: rendered, numbered, signed as described.
    let hooks = Receiver::hooked_to(&driver.sim).await;
    driver.agent_join(&conv, "Ada").await;
    driver.agent_message(&conv, "Hi \"there\"").await;
    assert!(
        driver
            .sim
            .wait_for_deliveries(2, Duration::from_secs(5))
            .await
    );
    let got = crate::kit::lock(&hooks.got).clone();
    let bodies = hooks.bodies();
    assert_eq!(bodies[0]["type"], "agent.assigned");
    assert_eq!(bodies[0]["agent"]["name"], "Ada");
    assert_eq!(
        (bodies[0]["seq"].clone(), bodies[1]["seq"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(bodies[1]["message"]["text"], "Hi \"there\"");
    assert_eq!(bodies[1]["conversation"]["external_id"], "h-1");
    let (headers, raw) = &got[1];
    let ts = headers["x-relay-timestamp"].to_str().unwrap();
    let mac = kit::hmac_sha256("relay-webhook-secret", &[ts.as_bytes(), b":", raw]);
    assert_eq!(
        headers["x-relay-signature"].to_str().unwrap(),
        format!("v1={}", kit::base64(&mac))
    );
    assert_eq!(
        headers["x-relay-delivery"].to_str().unwrap(),
        bodies[1]["id"].as_str().unwrap()
    );
    hooks.shutdown().await;
    driver.shutdown().await;
}

#[tokio::test]
async fn a_body_missing_a_required_pointer_is_a_violation_and_refused() {
    let desc = Arc::new(Description::parse(&minimal("")).unwrap());
    let driver = DescribedDriver::start(desc).await.unwrap();
    let api = ApiClient::new(driver.sim.base_url(), |r| r);
    let (status, body) = api
        .call("POST", "/conversations", Some(json!({"ref": "h-2"})))
        .await;
    assert_eq!(status, 201);
    let conv = body["id"].as_str().unwrap().to_string();
    let path = format!("/conversations/{conv}/messages");
    let (status, body) = api
        .call("POST", &path, Some(json!({"text": "no kind"})))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("`/kind`"),
        "{body}"
    );
    assert!(
        driver.user_messages(&conv).await.is_empty(),
        "a refused message is not recorded"
    );
    let violations = driver.take_violations();
    assert!(
        violations[0].contains("nothing at `/kind`"),
        "{violations:?}"
    );
    let (status, _) = api
        .call(
            "POST",
            "/conversations/nope/messages",
            Some(json!({"text": "x", "kind": "t"})),
        )
        .await;
    assert_eq!(status, 404, "an unknown conversation");
    driver.fail_next_start(503);
    let (status, _) = api
        .call("POST", "/conversations", Some(json!({"ref": "h-3"})))
        .await;
    assert_eq!(status, 503);
    driver.shutdown().await;
}
