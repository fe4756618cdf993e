//! SNMPv3 GET load client for scripts/bench-snmp (paper §4.7's agent, measured, not tested):
//! `snmpload HOST:PORT USER AUTHPASS PRIVPASS SECONDS CONCURRENCY` sends authPriv SHA-256/AES-128
//! GETs of sysName.0 back to back from CONCURRENCY clients for SECONDS and prints one JSON line
//! `{"gets": N, "errors": E, "seconds": S}`. The same client runs against camward and net-snmp's
//! snmpd, so the ratio compares the agents, not the clients. Loopback only; bounded in time.

use async_snmp::{Auth, AuthProtocol, Client, PrivProtocol, Retry, UsmConfig, oid};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 7 {
        eprintln!("usage: snmpload HOST:PORT USER AUTHPASS PRIVPASS SECONDS CONCURRENCY");
        std::process::exit(2);
    }
    let target: std::net::SocketAddr = a[1].parse().expect("HOST:PORT");
    assert!(
        target.ip().is_loopback(),
        "snmpload only talks to loopback agents"
    );
    let secs: u64 = a[5].parse().expect("SECONDS");
    let conc: usize = a[6].parse().expect("CONCURRENCY");
    let auth: Auth = UsmConfig::new(a[2].clone())
        .auth_priv(AuthProtocol::Sha256, &a[3], PrivProtocol::Aes128, &a[4])
        .expect("valid credentials")
        .into();
    let deadline = Instant::now() + Duration::from_secs(secs.min(600));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc.clamp(1, 64) {
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let client = Client::builder(target, auth)
                .request_timeout(Duration::from_secs(2))
                .retry(Retry::fixed(0, Duration::ZERO).expect("no retries"))
                .connect()
                .await
                .expect("client connects (engine discovery)");
            let (mut ok, mut err) = (0u64, 0u64);
            while Instant::now() < deadline {
                match client.get(&oid!(1, 3, 6, 1, 2, 1, 1, 5, 0)).await {
                    Ok(_) => ok += 1,
                    Err(_) => err += 1,
                }
            }
            (ok, err)
        }));
    }
    let (mut ok, mut err) = (0, 0);
    for t in tasks {
        let (o, e) = t.await.expect("client task");
        ok += o;
        err += e;
    }
    let out =
        serde_json::json!({"gets": ok, "errors": err, "seconds": started.elapsed().as_secs_f64()});
    println!("{out}");
}
