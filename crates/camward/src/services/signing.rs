//! Alteration detection (paper §3.9): one ONVIF Media Signing `Signer` per stream pipeline, keyed by
//! the device identity, installed as the media hub's stage and switched by `alteration_detection.enabled`.

use crate::daemon::Shared;
use bytes::Bytes;
use camward_media::{AccessUnit, AuStage, StageFactory};
use camward_sign::{ChainState, Signer, SignerOptions, SigningKey, VendorInfo};
use camward_tls::DeviceIdentity;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the served certificate is compared with the one the signers embed: a chain installed
/// through the API or `camward identity install` then reaches the streams without a restart.
const IDENTITY_POLL: Duration = Duration::from_secs(5);

/// The device key as camward-sign sees it; the chain is read at each signer start, so pipelines
/// restarted after a certificate change embed the new one.
struct DeviceKey(Arc<DeviceIdentity>);

impl SigningKey for DeviceKey {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign_p256_sha256(msg)
    }
    fn certificate_chain_pem(&self) -> String {
        self.0.certificate_chain_pem()
    }
}

/// Where each stream's GOP chain stands when its pipeline run ends, for the next run's signer.
type Chains = Arc<Mutex<HashMap<u8, ChainState>>>;

struct SignStage {
    signer: Signer,
    stream: u8,
    chains: Chains,
}

impl AuStage for SignStage {
    fn process(&mut self, au: &mut AccessUnit) {
        self.signer.process(au);
    }

    /// The SEIs still owed: the one waiting for a picture after the last IDR and the one signing
    /// the open GOP. Without them the last GOP before a stop or restart has no signature anywhere
    /// (the next GOP, which would carry it, never comes from this signer).
    fn finish(&mut self) -> Vec<Bytes> {
        let seis = self.signer.finish();
        if let Ok(mut c) = self.chains.lock() {
            c.insert(self.stream, self.signer.chain());
        }
        seis
    }
}

/// The stage factory when signing is on: a signer per pipeline start that continues the stream's
/// GOP chain (counter, linked hash) where the previous run left it, so a viewer connected through
/// a restart (settings change, source reconnect) sees one unbroken chain, as validators expect of
/// one stream. A new factory (signing switched on, new certificate) starts new chains.
pub fn factory(identity: &Arc<DeviceIdentity>) -> StageFactory {
    let key: Arc<dyn SigningKey> = Arc::new(DeviceKey(identity.clone()));
    let serial = identity.serial().to_owned();
    let chains: Chains = Arc::default();
    Arc::new(move |stream: u8| -> Box<dyn AuStage> {
        let vendor = VendorInfo {
            // The binary's version: what an auditor needs to know about the signing firmware.
            firmware_version: env!("CARGO_PKG_VERSION").to_owned(),
            serial_number: serial.clone(),
            manufacturer: "camward".to_owned(),
        };
        match Signer::new(key.clone(), vendor, SignerOptions::default()) {
            Ok(mut signer) => {
                if let Some(state) = chains.lock().ok().and_then(|c| c.get(&stream).copied()) {
                    signer.continue_chain(state);
                }
                Box::new(SignStage {
                    signer,
                    stream,
                    chains: chains.clone(),
                })
            }
            Err(e) => {
                // Never stop the video for a signing problem: it goes out unsigned, and
                // `camward verify` reports it as such.
                tracing::error!(stream, error = %e, "cannot sign the stream (device certificate unusable); it is sent unsigned");
                Box::new(|_: &mut AccessUnit| {})
            }
        }
    })
}

/// The stage to install before the hub starts (`services::media` asks for it).
pub fn initial_stage(shared: &Shared) -> Option<StageFactory> {
    shared
        .config
        .current()
        .alteration_detection
        .enabled
        .then(|| factory(&shared.identity))
}

/// Follows `alteration_detection.enabled` and certificate changes, re-installing the stage
/// (the hub restarts the pipelines from a key frame, so each signer starts at an IDR).
pub fn start(shared: &Arc<Shared>) -> JoinHandle<()> {
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut changes = shared.config.subscribe();
        let mut enabled = changes.borrow_and_update().alteration_detection.enabled;
        let mut chain = shared.identity.certificate_chain_pem();
        let mut tick = tokio::time::interval(IDENTITY_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
                _ = tick.tick() => {}
            }
            let want = changes.borrow_and_update().alteration_detection.enabled;
            // `services::https::upkeep` reloads the identity when its files change; this only
            // notices that the served chain is no longer the one being signed with.
            let now_chain = shared.identity.certificate_chain_pem();
            if want == enabled && (now_chain == chain || !want) {
                chain = now_chain;
                continue;
            }
            tracing::info!(
                enabled = want,
                certificate_changed = now_chain != chain,
                "alteration detection (media signing) updated"
            );
            shared
                .media
                .set_stage_factory(want.then(|| factory(&shared.identity)));
            enabled = want;
            chain = now_chain;
        }
    })
}
