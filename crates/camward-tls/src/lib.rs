//! camward-tls: the device identity and TLS policy of the camera.
//! Key, certificates, private CA, CSR and rustls server configuration (white paper §3.7).
#![forbid(unsafe_code)]
