//! Signs an Annex-B file with a throw-away self-signed P-256 key (25 fps timestamps from now),
//! for benchmarks and manual interop checks: `cargo run -p camward-sign --example sign -- IN OUT`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use camward_sign::{Signer, SignerOptions, SigningKey, VendorInfo};
use std::sync::Arc;

struct Key(EcdsaKeyPair, String);

impl SigningKey for Key {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0
            .sign(&SystemRandom::new(), msg)
            .expect("sign")
            .as_ref()
            .to_vec()
    }
    fn certificate_chain_pem(&self) -> String {
        self.1.clone()
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (a.get(1), a.get(2)) else {
        eprintln!("usage: sign IN.h264 OUT.h264");
        std::process::exit(2);
    };
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "camward example signer");
    let cert = params.self_signed(&kp).expect("self-signed certificate");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &kp.serialize_der())
        .expect("pkcs8");
    let key = Arc::new(Key(pair, cert.pem()));
    let mut signer = Signer::new(
        key,
        VendorInfo::camward("EXAMPLE"),
        SignerOptions::default(),
    )
    .expect("signer");
    let t = std::time::Instant::now();
    match camward_sign::sign_annexb_file(input.as_ref(), output.as_ref(), &mut signer) {
        Ok(s) => eprintln!(
            "signed {} GOPs, {} SEI bytes added, {:.2?}",
            s.gops_signed,
            s.sei_bytes,
            t.elapsed()
        ),
        Err(e) => {
            eprintln!("sign: {e}");
            std::process::exit(1);
        }
    }
}
