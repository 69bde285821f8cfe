//! Security drills on the kubernetes platform, end to end: the real binary against the fake
//! API server. Each canary is performed and leaves nothing behind; each prevention check is
//! refused by RBAC (403), by PodSecurity admission (403) or by a policy engine (422), or
//! accepted (a finding, the pod deleted at once); a killed run is rolled back from its
//! journal; and a canary noticed by a webhook alert is measured.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::wait_for;
use crate::experiment::Experiment;
use crate::fakekube::{Admission, FakeKube};
use crate::kuberun::{CHAOS, Finished, records, rollback, run, start, succeeds_in};
use crate::{common, fakekube};
use serde_json::{Value, json};

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// A fake with namespace `shop` (labelled as given) and a Deployment `web` of two pods.
fn cluster(ns_labels: Value) -> FakeKube {
    let fake = FakeKube::start();
    fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": ns_labels}}));
    fake.add_deployment("shop", "web", 2, &[("app", "web"), CHAOS]);
    fake.apply(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "payment-db", "namespace": "shop"},
        "data": {"password": "aHVudGVyMg=="},
    }));
    fake
}

/// An experiment on `shop/web` with these faults and this detection section (its lines, or
/// none when empty).
fn experiment(faults: &str, detection: &str) -> String {
    let experiment = Experiment::kubernetes("security-test")
        .baseline("100ms")
        .recovery("{stableFor: 100ms, timeout: 10s}")
        .faults(faults);
    if detection.is_empty() {
        experiment.yaml()
    } else {
        experiment.detection(detection).yaml()
    }
}

/// The lines of a detection section with one webhook signal on `port` (0: a free one nobody
/// posts to).
fn webhook(port: u16, timeout: &str) -> String {
    format!(
        "    timeout: {timeout}\n    webhookListen: 127.0.0.1:{port}\n    signals:\n      - {{name: siem, type: webhook, match: {{alertname: HoneytokenSecretRead}}}}"
    )
}

/// The security outcome of the fault `name` in the first iteration.
fn outcome<'a>(r: &'a Finished, name: &str) -> &'a Value {
    let faults = r.result["iterations"][0]["faults"].as_array();
    let f = faults
        .into_iter()
        .flatten()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no fault {name} in the result: {}", r.output()));
    &f["security"]
}

/// What a security drill could leave behind, by kind.
fn drill_objects(fake: &FakeKube) -> Vec<String> {
    ["ServiceAccount", "Secret", "Role", "RoleBinding", "Pod"]
        .iter()
        .flat_map(|kind| {
            fake.objects(kind, Some("shop"))
                .into_iter()
                .map(move |o| format!("{kind} {}", o["metadata"]["name"].as_str().unwrap_or("")))
        })
        .filter(|o| o.contains("firedrill-canary"))
        .collect()
}

#[test]
fn every_canary_is_performed_with_its_markers_and_leaves_nothing_behind() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    fake.on_exec(|e| fakekube::ExecReply {
        stdout: if e.command.join(" ").contains("nslookup") {
            b"** server can't find firedrill-canary.invalid: NXDOMAIN\n".to_vec()
        } else {
            b"firedrill-canary\n".to_vec()
        },
        exit_code: if e.command.join(" ").contains("nslookup") {
            1
        } else {
            0
        },
        ..fakekube::ExecReply::default()
    });
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let faults = "    - {name: honeytoken, type: canary-secret-read, namespace: shop, reads: 3, duration: 200ms}
    - {name: shadow-read, type: canary-exec, select: {mode: one, workload: web}, duration: 200ms}
    - {name: canary-lookup, type: canary-dns-lookup, select: {mode: one, workload: web}, duration: 200ms}
    - {name: forbidden-burst, type: canary-denied-requests, namespace: shop, count: 5, duration: 200ms}";
    let r = run(&fake, dir.path(), &experiment(faults, &webhook(0, "300ms")));
    assert!(r.result.is_object(), "{}", r.output());

    // The honeytoken: created with the marker payload, read three times as the
    // ServiceAccount, whose requests the fake saw under its own name.
    let honey = outcome(&r, "honeytoken");
    assert_eq!(honey["kind"], "canary", "{honey}");
    let actions = honey["actions"].to_string();
    assert!(actions.contains("read Secret shop/firedrill-canary-honeytoken 3 time(s) as system:serviceaccount:shop:firedrill-canary-honeytoken"), "{actions}");
    assert!(
        actions.contains("firedrill-canary: a security drill by firedrill"),
        "{actions}"
    );
    assert_eq!(
        honey["markers"],
        json!(["firedrill-canary-honeytoken", "firedrill-canary-honeytoken"])
    );
    let reads: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|q| {
            q.method == "GET"
                && q.path == "/api/v1/namespaces/shop/secrets/firedrill-canary-honeytoken"
        })
        .filter(|q| q.user == "system:serviceaccount:shop:firedrill-canary-honeytoken")
        .collect();
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(reads.iter().all(|q| q.status == 200), "{reads:?}");

    // The exec canaries: the command and the lookup ran, their answers recorded.
    let execs = fake.execs();
    assert!(
        execs.iter().any(|e| e.command
            == [
                "/bin/sh",
                "-c",
                "cat /etc/shadow >/dev/null 2>&1; echo firedrill-canary"
            ]),
        "{execs:?}"
    );
    assert!(
        execs.iter().any(|e| e.command
            == [
                "/bin/sh",
                "-c",
                "nslookup firedrill-canary.invalid || getent hosts firedrill-canary.invalid"
            ]),
        "{execs:?}"
    );
    let shadow = outcome(&r, "shadow-read")["actions"].to_string();
    assert!(
        shadow.contains("exit 0, output: firedrill-canary"),
        "{shadow}"
    );
    let lookup = outcome(&r, "canary-lookup");
    assert!(lookup["actions"].to_string().contains("exit 1"), "{lookup}");
    assert_eq!(lookup["markers"], json!(["firedrill-canary.invalid"]));

    // The refused burst: every request answered 403 by RBAC.
    let burst = outcome(&r, "forbidden-burst")["actions"].to_string();
    assert!(burst.contains("5 answered 403 Forbidden"), "{burst}");
    assert!(!burst.contains("SUCCEEDED"), "{burst}");
    let denied = fake
        .requests()
        .into_iter()
        .filter(|q| {
            q.user == "system:serviceaccount:shop:firedrill-canary-forbidden-burst"
                && q.status == 403
        })
        .count();
    assert_eq!(denied, 5);

    assert_eq!(
        records(&r.out, "canary-performed").len(),
        4,
        "{}",
        r.output()
    );
    assert!(
        drill_objects(&fake).is_empty(),
        "{:?}",
        drill_objects(&fake)
    );
    assert_eq!(
        fake.snapshot(),
        before,
        "the canaries left something behind"
    );
}

#[test]
fn a_canary_command_with_long_output_on_both_streams_keeps_its_exit_status() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    // More than kube's exec buffers hold on stderr and more than the kept prefix on stdout:
    // reading one stream before the other would stall until the timeout or lose the status.
    fake.on_exec(|_| fakekube::ExecReply {
        stdout: [b"o".repeat(9000), b"\n".to_vec()].concat(),
        stderr: [b"e".repeat(5000), b"\n".to_vec()].concat(),
        exit_code: 3,
    });
    let dir = tempfile::tempdir().unwrap();
    let faults = "    - {name: shadow-read, type: canary-exec, select: {mode: one, workload: web}, duration: 200ms}";
    let r = run(&fake, dir.path(), &experiment(faults, &webhook(0, "300ms")));
    assert!(r.result.is_object(), "{}", r.output());
    let actions = outcome(&r, "shadow-read")["actions"].to_string();
    assert!(actions.contains(": exit 3, output: ooo"), "{actions}");
    assert!(actions.contains(", errors: eee"), "{actions}");
    assert!(
        drill_objects(&fake).is_empty(),
        "{:?}",
        drill_objects(&fake)
    );
}

#[test]
fn an_existing_honeytoken_is_read_and_left_as_it_is() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let before = fake.snapshot();
    let faults = "    - {name: honeytoken, type: canary-secret-read, namespace: shop, secret: payment-db, duration: 100ms}";
    let r = run(&fake, dir.path(), &experiment(faults, &webhook(0, "200ms")));
    let honey = outcome(&r, "honeytoken");
    assert!(
        honey["actions"]
            .to_string()
            .contains("read Secret shop/payment-db 1 time(s)"),
        "{honey}"
    );
    assert_eq!(honey["markers"], json!(["firedrill-canary-honeytoken"]));
    assert_eq!(fake.snapshot(), before);
    assert!(fake.object("Secret", "shop", "payment-db").is_some());
}

const CHECKS: &str = "    - {name: privileged, type: prevent-privileged-pod, namespace: shop}
    - {name: host-root, type: prevent-host-path, namespace: shop}
    - {name: level, type: prevent-pod-security, namespace: shop}
    - {name: payment, type: prevent-secret-read, namespace: shop, secret: payment-db}";

#[test]
fn pod_security_admission_and_rbac_refuse_every_check_with_403() {
    let _guard = common::shared();
    let fake = cluster(json!({ENFORCE: "restricted"}));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(&fake, dir.path(), &experiment(CHECKS, ""));
    assert_eq!(r.code, Some(0), "{}", r.output());
    for (name, needle) in [
        (
            "privileged",
            "privileged (container \"check\" must not set securityContext.privileged=true)",
        ),
        ("host-root", "hostPath volumes (volume \"host\")"),
        // No level in the spec: the namespace's enforce label decides, and the pod breaks
        // restricted only.
        ("level", "allowPrivilegeEscalation != false"),
    ] {
        let o = outcome(&r, name);
        assert_eq!(o["kind"], "prevention", "{o}");
        assert_eq!(o["refused"], true, "{o}");
        assert_eq!(o["status"], 403, "{o}");
        assert_eq!(o["reason"], "Forbidden", "{o}");
        let message = o["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("pods \"firedrill-canary-{name}\" is forbidden: violates PodSecurity \"restricted:latest\"")), "{message}");
        assert!(message.contains(needle), "{message}");
        assert_eq!(o["markers"], json!([format!("firedrill-canary-{name}")]));
    }
    let level = outcome(&r, "level")["message"].as_str().unwrap().to_owned();
    assert!(
        !level.contains("privileged (") && !level.contains("host namespaces"),
        "{level}"
    );
    let secret = outcome(&r, "payment");
    assert_eq!(secret["refused"], true, "{secret}");
    assert_eq!(secret["status"], 403);
    assert_eq!(
        secret["message"],
        "secrets \"payment-db\" is forbidden: User \"system:serviceaccount:shop:firedrill-canary-payment\" cannot get resource \"secrets\" in API group \"\" in the namespace \"shop\""
    );
    let refused = records(&r.out, "prevention-refused");
    assert_eq!(refused.len(), 4, "{}", r.output());
    assert!(
        refused.iter().all(|e| e["data"]["status"] == 403),
        "{refused:?}"
    );
    assert!(records(&r.out, "prevention-accepted").is_empty());
    // Nothing was created but the dedicated ServiceAccount, which is gone again.
    let created: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.status == 201 && q.path.contains("/pods"))
        .collect();
    assert!(created.is_empty(), "{created:?}");
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn a_policy_engine_refusal_with_422_is_recorded_as_a_refusal() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    fake.set_admission(Admission::Policy("deny-host-access".into()));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let faults = "    - {name: privileged, type: prevent-privileged-pod, namespace: shop}
    - {name: host-root, type: prevent-host-path, namespace: shop, path: /var/run}";
    let r = run(&fake, dir.path(), &experiment(faults, ""));
    assert_eq!(r.code, Some(0), "{}", r.output());
    for name in ["privileged", "host-root"] {
        let o = outcome(&r, name);
        assert_eq!(o["refused"], true, "{o}");
        assert_eq!(o["status"], 422, "{o}");
        assert_eq!(o["reason"], "Invalid", "{o}");
        assert!(
            o["message"].as_str().unwrap().contains("ValidatingAdmissionPolicy 'deny-host-access' with binding 'deny-host-access-binding' denied request"),
            "{o}"
        );
    }
    assert_eq!(records(&r.out, "prevention-refused").len(), 2);
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn an_accepted_check_is_a_finding_and_its_pod_is_deleted_at_once() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    fake.set_admission(Admission::Permissive);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let faults = format!(
        "{CHECKS}\n    - {{name: burst, type: canary-denied-requests, namespace: shop, count: 3, duration: 100ms}}"
    );
    let yaml = experiment(&faults, &webhook(0, "200ms")).replace(
        "{name: level, type: prevent-pod-security, namespace: shop}",
        "{name: level, type: prevent-pod-security, namespace: shop, level: baseline}",
    );
    let r = run(&fake, dir.path(), &yaml);
    assert!(r.result.is_object(), "{}", r.output());
    for name in ["privileged", "host-root", "level"] {
        let o = outcome(&r, name);
        assert_eq!(o["refused"], false, "{o}");
        assert_eq!(o["status"], 201, "{o}");
        let undone = o["undone"].to_string();
        assert!(
            undone.contains(&format!("deleted pod shop/firedrill-canary-{name} (uid "))
                && undone.contains("at once, grace period 0"),
            "{undone}"
        );
    }
    // Each admitted pod was deleted right after its creation, with grace 0 and its uid as a
    // precondition, before any other pod of the checks was tried.
    let pod_writes: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|q| q.method != "GET" && q.path.starts_with("/api/v1/namespaces/shop/pods"))
        .map(|q| format!("{} {} {}", q.method, q.path, q.status))
        .collect();
    assert_eq!(
        pod_writes,
        [
            "POST /api/v1/namespaces/shop/pods 201",
            "DELETE /api/v1/namespaces/shop/pods/firedrill-canary-privileged 200",
            "POST /api/v1/namespaces/shop/pods 201",
            "DELETE /api/v1/namespaces/shop/pods/firedrill-canary-host-root 200",
            "POST /api/v1/namespaces/shop/pods 201",
            "DELETE /api/v1/namespaces/shop/pods/firedrill-canary-level 200",
        ]
    );
    let secret = outcome(&r, "payment");
    assert_eq!(secret["refused"], false, "{secret}");
    assert_eq!(secret["status"], 200);
    assert!(
        !r.result.to_string().contains("aHVudGVyMg") && !r.result.to_string().contains("hunter2")
    );
    let accepted = records(&r.out, "prevention-accepted");
    assert_eq!(accepted.len(), 4, "{}", r.output());
    assert!(
        accepted.iter().all(|e| e["data"]["refused"] == false),
        "{accepted:?}"
    );
    // A check that policy let through is a finding: the run fails, says which, and the
    // scorecard caps containment.
    assert_eq!(r.code, Some(1), "{}", r.output());
    assert_eq!(r.result["status"], "failed");
    let reason = r.result["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("prevention check `privileged` was accepted"),
        "{reason}"
    );
    assert!(
        r.result["scorecardInput"]["gates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["gate"] == "prevention-bypassed" && g["provenance"] == "organisation"),
        "{}",
        r.result["scorecardInput"]
    );
    // The burst that should have been refused succeeded: said loudly.
    let burst = outcome(&r, "burst")["actions"].to_string();
    assert!(burst.contains("WARNING: 3 request(s) SUCCEEDED"), "{burst}");
    assert!(
        drill_objects(&fake).is_empty(),
        "{:?}",
        drill_objects(&fake)
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn a_pod_security_check_without_a_level_to_break_stops_with_a_clear_error() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let faults = "    - {name: level, type: prevent-pod-security, namespace: shop}";
    let r = run(&fake, dir.path(), &experiment(faults, ""));
    assert_ne!(r.code, Some(0), "{}", r.output());
    let text = format!("{} {}", r.output(), r.result);
    assert!(
        text.contains("namespace shop enforces no Pod Security level a pod can break (pod-security.kubernetes.io/enforce is absent)"),
        "{text}"
    );
    assert!(drill_objects(&fake).is_empty());
}

#[test]
fn a_killed_run_is_rolled_back_from_its_journal() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let out = kill_after_canaries(&fake, dir.path());
    // `rollback` fails the test with both streams unless the command exits 0.
    let text = rollback(dir.path(), &out).stdout;
    assert!(
        text.contains("delete RoleBinding shop/firedrill-canary-honeytoken"),
        "{text}"
    );
    assert!(
        drill_objects(&fake).is_empty(),
        "{:?}",
        drill_objects(&fake)
    );
    assert_eq!(fake.snapshot(), before);
}

/// `rollback` of a killed run leaves alone an object of the same name that a later run
/// created after it died (it carries that run's id), and removes the rest.
#[test]
fn rollback_leaves_a_later_runs_object_of_the_same_name_alone() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let out = kill_after_canaries(&fake, dir.path());
    fake.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "firedrill-canary-burst", "namespace": "shop", "labels": {
            "app.kubernetes.io/managed-by": "firedrill",
            "firedrill.dev/canary": "true",
            "firedrill.dev/run-id": "a-later-run"}}}));
    let text = rollback(dir.path(), &out).stdout;
    assert!(
        text.contains(
            "left ServiceAccount shop/firedrill-canary-burst: it is not this run's (run a-later-run)"
        ),
        "{text}"
    );
    assert!(
        text.contains("delete RoleBinding shop/firedrill-canary-honeytoken"),
        "{text}"
    );
    assert_eq!(
        drill_objects(&fake),
        ["ServiceAccount firedrill-canary-burst"]
    );
}

/// Without the journal, `cleanup` finds what the killed run's drills created by their
/// labels and its dead owner, and an organisation's own objects stay.
#[test]
fn a_killed_runs_drill_objects_are_found_and_removed_by_cleanup() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    fake.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "payments", "namespace": "shop"}}));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    kill_after_canaries(&fake, dir.path());
    // Every namespace, as an operator would after a lost run; `succeeds_in` fails the test
    // with both streams unless the command exits 0.
    let text = succeeds_in(dir.path(), &["cleanup"]).stdout;
    assert!(text.contains("5 object(s) cleaned up"), "{text}");
    assert!(
        drill_objects(&fake).is_empty(),
        "{:?}",
        drill_objects(&fake)
    );
    assert_eq!(fake.snapshot(), before);
}

/// A kind `cleanup` may not list (secrets here) is skipped with a warning; everything else
/// the killed run left is still removed.
#[test]
fn cleanup_skips_a_kind_it_may_not_list_and_removes_the_rest() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    let dir = tempfile::tempdir().unwrap();
    kill_after_canaries(&fake, dir.path());
    fake.deny("list", "", "secrets", None);
    let said = succeeds_in(dir.path(), &["cleanup"]);
    assert!(
        said.stderr
            .contains("warning: cannot list secrets (forbidden): skipped"),
        "{}",
        said.stderr
    );
    assert!(
        said.stdout.contains("4 object(s) cleaned up"),
        "{}",
        said.stdout
    );
    assert_eq!(drill_objects(&fake), ["Secret firedrill-canary-honeytoken"]);
}

/// Runs two canaries that create objects, checks what they created and kills the run
/// before it can revert; returns the run's output folder.
fn kill_after_canaries(fake: &FakeKube, dir: &Path) -> PathBuf {
    let faults =
        "    - {name: honeytoken, type: canary-secret-read, namespace: shop, duration: 60s}
    - {name: burst, type: canary-denied-requests, namespace: shop, count: 2, duration: 60s}";
    let mut run = start(fake, dir, &experiment(faults, &webhook(0, "60s")));
    wait_for(
        "both canaries to be performed",
        Duration::from_secs(30),
        || records(&run.out, "canary-performed").len() == 2,
    );
    assert_eq!(
        drill_objects(fake),
        [
            "ServiceAccount firedrill-canary-burst",
            "ServiceAccount firedrill-canary-honeytoken",
            "Secret firedrill-canary-honeytoken",
            "Role firedrill-canary-honeytoken",
            "RoleBinding firedrill-canary-honeytoken",
        ]
    );
    let secret = fake
        .object("Secret", "shop", "firedrill-canary-honeytoken")
        .unwrap();
    assert_eq!(secret["metadata"]["labels"]["firedrill.dev/canary"], "true");
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "firedrill"
    );
    let payload = secret["data"]["token"].as_str().unwrap();
    let payload = String::from_utf8(base64_decode(payload)).unwrap();
    assert!(
        payload.starts_with("firedrill-canary: a security drill by firedrill, not an attack (run "),
        "{payload}"
    );
    run.kill();
    run.out
}

#[test]
fn a_canary_noticed_by_the_siem_is_detected_and_timed() {
    let _guard = common::shared();
    let fake = cluster(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let faults = "    - {name: honeytoken, type: canary-secret-read, namespace: shop, detectedBy: [siem], duration: 300ms}";
    let run = start(
        &fake,
        dir.path(),
        &experiment(faults, &webhook(port, "20s")),
    );
    // The test plays the audit pipeline: it watches for the honeytoken read by the
    // ServiceAccount, and alerts a known time after it.
    let is_read = |q: &fakekube::Request| {
        q.method == "GET"
            && q.path.ends_with("/secrets/firedrill-canary-honeytoken")
            && q.user == "system:serviceaccount:shop:firedrill-canary-honeytoken"
            && q.status == 200
    };
    wait_for("the honeytoken read", Duration::from_secs(30), || {
        fake.requests().iter().any(is_read)
    });
    let seen = Instant::now();
    let delay = Duration::from_millis(800);
    std::thread::sleep(delay.saturating_sub(seen.elapsed()));
    let alert = r#"{"version":"4","status":"firing","receiver":"firedrill","groupLabels":{},"commonLabels":{"alertname":"HoneytokenSecretRead"},"commonAnnotations":{},"externalURL":"http://siem.invalid","alerts":[{"status":"firing","labels":{"alertname":"HoneytokenSecretRead","user":"system:serviceaccount:shop:firedrill-canary-honeytoken"},"annotations":{},"startsAt":"2026-11-28T02:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"f1"}]}"#;
    let answer = post(port, alert);
    let posted = seen.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // `succeeded` asserts the exit code 0, showing stderr and result.json otherwise.
    let finished = run.finish();
    let result = finished.succeeded();
    let it = &result["iterations"][0];
    assert_eq!(it["detectedBy"], "siem", "{it}");
    // Time to detect runs from the injection, which came just before the read the test saw
    // (the objects and the token are made first): the alert's delay after the read, plus
    // at most that set-up.
    let ttd = Duration::from_secs_f64(it["timeToDetectMs"].as_f64().unwrap() / 1000.0);
    assert!(
        ttd >= posted.saturating_sub(Duration::from_millis(50)),
        "{ttd:?} < {posted:?}"
    );
    assert!(
        ttd <= posted + Duration::from_millis(1500),
        "{ttd:?} > {posted:?} + 1.5s"
    );
    assert!(drill_objects(&fake).is_empty());
}

fn post(port: u16, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /alerts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
