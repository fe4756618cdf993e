//! Signs an Annex-B H.264 clip as the camera does (white paper §3.9), with a throw-away device
//! key issued by a throw-away root, for benchmarks and interop checks outside the daemon.
//!
//! `cargo run --release -p camward-sign --example sign_clip -- IN.h264 OUT.h264 ROOT.pem [FPS]`
//! writes the signed stream and the root certificate `camward verify --ca` and the reference
//! validator's `-C` take.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use camward_sign::{Signer, SignerOptions, SigningKey, VendorInfo, sign_annexb};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

struct Key {
    pair: EcdsaKeyPair,
    chain: String,
}

impl SigningKey for Key {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .expect("ECDSA signing")
            .as_ref()
            .to_vec()
    }
    fn certificate_chain_pem(&self) -> String {
        self.chain.clone()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, root_out, rest @ ..] = &args[..] else {
        eprintln!("usage: sign_clip IN.h264 OUT.h264 ROOT.pem [FPS]");
        std::process::exit(2);
    };
    let fps: u32 = rest.first().map_or(25, |f| f.parse().expect("FPS"));
    let p256 = || rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sign_clip root");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let root = rcgen::CertifiedIssuer::self_signed(root_params, p256()).unwrap();
    let leaf_kp = p256();
    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sign_clip camera");
    let leaf = leaf_params.signed_by(&leaf_kp, &root).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &leaf_kp.serialize_der())
        .unwrap();
    let key = Arc::new(Key {
        pair,
        chain: leaf.pem(),
    });
    let mut signer = Signer::new(
        key,
        VendorInfo::camward("SN-SIGN-CLIP"),
        SignerOptions::default(),
    )
    .expect("signer");
    let clip = std::fs::read(input).expect("reading the clip");
    let signed = sign_annexb(
        &clip,
        &mut signer,
        SystemTime::now(),
        Duration::from_secs(1) / fps,
    );
    std::fs::write(output, signed).expect("writing the signed clip");
    std::fs::write(root_out, root.pem()).expect("writing the root certificate");
    let s = signer.stats();
    eprintln!(
        "signed {} GOPs, {} SEI bytes added",
        s.gops_signed, s.sei_bytes
    );
}
