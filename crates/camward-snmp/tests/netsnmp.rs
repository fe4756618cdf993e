//! The agent against net-snmp's manager tools (`snmpget`, `snmpset`, `snmpwalk`), without the
//! daemon: every v3 authentication and privacy protocol pair, the usmStats reports, the minimum
//! security level, the host filter, v2c only when on, SET only at authPriv (paper §4.7).

use camward_auth::{Gate, Outcome, Request};
use camward_config::Secret;
use camward_config::SnmpConfig;
use camward_config::snmp::{SnmpAuth, SnmpPrivacy, SnmpUser};
use camward_snmp::{
    Agent, AgentInput, DeviceSnapshot, DeviceStatus, Dot1xPort, Engine, RecordingState,
    SystemField, SystemWriter,
};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Hosts(Vec<IpAddr>);
impl Gate for Hosts {
    fn host_allowed(&self, peer: IpAddr) -> bool {
        self.0.contains(&peer)
    }
    fn authenticate(&self, _: &Request<'_>) -> Outcome {
        unreachable!("the agent checks only the host")
    }
}

struct Device;
impl DeviceStatus for Device {
    fn snapshot(&self) -> DeviceSnapshot {
        DeviceSnapshot {
            streams: vec![],
            cameras: vec![],
            recording: RecordingState::Disabled,
            free_kib: 1234,
            alarms: 0,
            last_alarm: None,
            certificate_not_after: None,
            lockouts: 0,
            auth_failures: 0,
            dot1x: Dot1xPort::disabled(std::time::UNIX_EPOCH),
        }
    }
}

#[derive(Default)]
struct Writes(Mutex<Vec<(SystemField, String, String)>>);
impl SystemWriter for Writes {
    fn write(&self, c: Vec<(SystemField, String)>, user: &str, _: IpAddr) -> Result<(), String> {
        let mut w = self.0.lock().unwrap();
        for (f, v) in c {
            w.push((f, v, user.to_owned()));
        }
        Ok(())
    }
}

fn user(name: &str, auth: SnmpAuth, privacy: SnmpPrivacy) -> SnmpUser {
    SnmpUser {
        name: name.into(),
        auth,
        privacy,
        auth_password: Secret::new("auth-pass-123"),
        priv_password: Secret::new("priv-pass-456"),
    }
}

fn config() -> SnmpConfig {
    SnmpConfig {
        enabled: true,
        users: vec![
            user("sha256aes", SnmpAuth::Sha256, SnmpPrivacy::Aes128),
            user("shaaes", SnmpAuth::Sha1, SnmpPrivacy::Aes128),
            user("md5des", SnmpAuth::Md5, SnmpPrivacy::Des),
            user("sha512aes256", SnmpAuth::Sha512, SnmpPrivacy::Aes256),
            user("sha224aes192", SnmpAuth::Sha224, SnmpPrivacy::Aes192),
            user("sha384aes256", SnmpAuth::Sha384, SnmpPrivacy::Aes256),
        ],
        system_name: "cam-test".into(),
        ..SnmpConfig::default()
    }
}

struct Fixture {
    agent: Agent,
    writes: Arc<Writes>,
    engine: Arc<Engine>,
    port: u16,
}

async fn start(cfg: SnmpConfig, hosts: Vec<IpAddr>) -> Fixture {
    let engine = Arc::new(Engine::ephemeral(
        vec![0x80, 0, 0x7e, 0xd9, 5, 1, 2, 3, 4, 5, 6, 7],
        3,
    ));
    let writes = Arc::new(Writes::default());
    let agent = Agent::start(AgentInput {
        bind: "127.0.0.1:0".parse().unwrap(),
        config: cfg,
        descr: "camward test".into(),
        engine: engine.clone(),
        gate: Arc::new(Hosts(hosts)),
        device: Arc::new(Device),
        writer: writes.clone(),
    })
    .await
    .unwrap();
    let port = agent.local_addr().unwrap().port();
    Fixture {
        agent,
        writes,
        engine,
        port,
    }
}

fn localhost() -> Vec<IpAddr> {
    vec!["127.0.0.1".parse().unwrap()]
}

/// Runs a net-snmp tool with a bounded time; returns (success, stdout+stderr).
async fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(tool)
            .args(args)
            .env("MIBS", "")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("net-snmp tool finished in time")
    .expect("net-snmp tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn v3_args<'a>(
    user: &'a str,
    level: &'a str,
    a: &'a str,
    x: &'a str,
    apass: &'a str,
    xpass: &'a str,
) -> Vec<&'a str> {
    vec![
        "-v3", "-On", "-r", "0", "-t", "2", "-l", level, "-u", user, "-a", a, "-A", apass, "-x", x,
        "-X", xpass,
    ]
}

const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_and_privacy_pair_reads_sys_name() {
    if !camward_testkit::have("snmpget") {
        return;
    }
    let f = start(config(), localhost()).await;
    let target = format!("127.0.0.1:{}", f.port);
    for (u, a, x) in [
        ("sha256aes", "SHA-256", "AES"),
        ("shaaes", "SHA", "AES"),
        ("md5des", "MD5", "DES"),
        ("sha512aes256", "SHA-512", "AES-256"),
        ("sha224aes192", "SHA-224", "AES-192"),
        ("sha384aes256", "SHA-384", "AES-256"),
    ] {
        let mut args = v3_args(u, "authPriv", a, x, "auth-pass-123", "priv-pass-456");
        args.extend([target.as_str(), SYS_NAME]);
        let (ok, out) = run("snmpget", &args).await;
        assert!(ok && out.contains("\"cam-test\""), "{u}: {out}");
    }
    f.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_fail_and_count_in_usm_stats() {
    if !camward_testkit::have("snmpget") {
        return;
    }
    let f = start(config(), localhost()).await;
    let target = format!("127.0.0.1:{}", f.port);
    let mut args = v3_args(
        "sha256aes",
        "authPriv",
        "SHA-256",
        "AES",
        "wrong-pass-1",
        "priv-pass-456",
    );
    args.extend([target.as_str(), SYS_NAME]);
    let (ok, out) = run("snmpget", &args).await;
    assert!(!ok && out.contains("Authentication failure"), "{out}");
    assert!(
        f.engine
            .counters
            .wrong_digests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );

    let mut args = v3_args(
        "sha256aes",
        "authPriv",
        "SHA-256",
        "AES",
        "auth-pass-123",
        "wrong-pass-2",
    );
    args.extend([target.as_str(), SYS_NAME]);
    let (ok, out) = run("snmpget", &args).await;
    assert!(!ok, "{out}");
    assert!(
        f.engine
            .counters
            .decryption_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "{out}"
    );
    f.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_below_authpriv_are_refused_for_a_valid_user() {
    if !camward_testkit::have("snmpget") {
        return;
    }
    let f = start(config(), localhost()).await;
    let target = format!("127.0.0.1:{}", f.port);
    for level in ["noAuthNoPriv", "authNoPriv"] {
        let mut args = v3_args(
            "sha256aes",
            level,
            "SHA-256",
            "AES",
            "auth-pass-123",
            "priv-pass-456",
        );
        args.extend([target.as_str(), SYS_NAME]);
        let (ok, out) = run("snmpget", &args).await;
        assert!(!ok || !out.contains("cam-test"), "{level}: {out}");
        assert!(out.contains("authorizationError"), "{level}: {out}");
    }
    f.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_of_system_texts_only_at_authpriv_and_v2c_only_when_on() {
    if !camward_testkit::have_all(&["snmpget", "snmpset"]) {
        return;
    }
    let mut cfg = config();
    cfg.min_security_level = camward_config::snmp::SnmpSecurityLevel::AuthNoPriv;
    let f = start(cfg.clone(), localhost()).await;
    let target = format!("127.0.0.1:{}", f.port);
    let mut args = v3_args(
        "sha256aes",
        "authPriv",
        "SHA-256",
        "AES",
        "auth-pass-123",
        "priv-pass-456",
    );
    args.extend([target.as_str(), "1.3.6.1.2.1.1.6.0", "s", "Hall B"]);
    let (ok, out) = run("snmpset", &args).await;
    assert!(ok, "{out}");
    assert_eq!(
        f.writes.0.lock().unwrap().as_slice(),
        [(
            SystemField::Location,
            "Hall B".to_owned(),
            "sha256aes".to_owned()
        )]
    );
    // authNoPriv may read (the minimum allows it) but never write.
    let mut args = v3_args(
        "sha256aes",
        "authNoPriv",
        "SHA-256",
        "AES",
        "auth-pass-123",
        "priv-pass-456",
    );
    args.extend([target.as_str(), "1.3.6.1.2.1.1.6.0", "s", "Hall C"]);
    let (ok, out) = run("snmpset", &args).await;
    assert!(!ok && out.contains("noAccess"), "{out}");
    // sysDescr is not writable.
    let mut args = v3_args(
        "sha256aes",
        "authPriv",
        "SHA-256",
        "AES",
        "auth-pass-123",
        "priv-pass-456",
    );
    args.extend([target.as_str(), "1.3.6.1.2.1.1.1.0", "s", "x"]);
    let (ok, out) = run("snmpset", &args).await;
    assert!(!ok && out.contains("notWritable"), "{out}");
    assert_eq!(f.writes.0.lock().unwrap().len(), 1);

    // v2c: silent while off, answered read-only once on.
    let v2 = [
        "-v2c",
        "-c",
        "Community-1",
        "-On",
        "-r",
        "0",
        "-t",
        "1",
        target.as_str(),
        SYS_NAME,
    ];
    let (ok, out) = run("snmpget", &v2).await;
    assert!(!ok && out.contains("Timeout"), "{out}");
    cfg.v1v2c = true;
    cfg.community = Secret::new("Community-1");
    f.agent.apply(&cfg, "camward test").unwrap();
    let (ok, out) = run("snmpget", &v2).await;
    assert!(ok && out.contains("cam-test"), "{out}");
    let bad = [
        "-v2c",
        "-c",
        "Community-2",
        "-On",
        "-r",
        "0",
        "-t",
        "1",
        target.as_str(),
        SYS_NAME,
    ];
    let (ok, out) = run("snmpget", &bad).await;
    assert!(!ok && out.contains("Timeout"), "{out}");
    let set = [
        "-v2c",
        "-c",
        "Community-1",
        "-On",
        "-r",
        "0",
        "-t",
        "1",
        target.as_str(),
        "1.3.6.1.2.1.1.6.0",
        "s",
        "x",
    ];
    let (ok, out) = run("snmpset", &set).await;
    assert!(!ok && out.contains("noAccess"), "{out}");
    assert_eq!(f.writes.0.lock().unwrap().len(), 1);
    f.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_address_gets_no_answer() {
    if !camward_testkit::have("snmpget") {
        return;
    }
    let f = start(config(), vec!["192.0.2.1".parse().unwrap()]).await;
    let target = format!("127.0.0.1:{}", f.port);
    let mut args = v3_args(
        "sha256aes",
        "authPriv",
        "SHA-256",
        "AES",
        "auth-pass-123",
        "priv-pass-456",
    );
    args.extend(["-t", "1", target.as_str(), SYS_NAME]);
    let (ok, out) = run("snmpget", &args).await;
    assert!(!ok && out.contains("Timeout"), "{out}");
    // Not even engine discovery was answered: nothing was decoded.
    assert_eq!(
        f.engine
            .counters
            .unknown_engine_ids
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(
        f.engine
            .counters
            .filtered
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    f.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_and_bulk_walks_end_cleanly() {
    if !camward_testkit::have_all(&["snmpwalk", "snmpbulkwalk"]) {
        return;
    }
    let f = start(config(), localhost()).await;
    let target = format!("127.0.0.1:{}", f.port);
    for tool in ["snmpwalk", "snmpbulkwalk"] {
        let mut args = v3_args(
            "sha256aes",
            "authPriv",
            "SHA-256",
            "AES",
            "auth-pass-123",
            "priv-pass-456",
        );
        args.extend([target.as_str(), "1.3.6.1"]);
        let (ok, out) = run(tool, &args).await;
        assert!(ok, "{tool}: {out}");
        for oid in [
            ".1.3.6.1.2.1.1.5.0",
            ".1.3.6.1.2.1.2.1.0",
            ".1.3.6.1.4.1.32473.1.2.2.0",
            ".1.3.6.1.6.3.10.2.1.1.0",
            ".1.3.6.1.6.3.15.1.1.5.0",
        ] {
            assert!(out.contains(oid), "{tool}: {oid} missing:\n{out}");
        }
    }
    f.agent.stop().await;
}
