//! A DTLS-SRTP server endpoint fed arbitrary datagrams: never a panic, never "connected".
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::dtls::{Dtls, Role};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static CERT: (openssl::x509::X509, openssl::pkey::PKey<openssl::pkey::Private>) = mediad::tls::self_signed("fuzz").unwrap();
    }
    CERT.with(|(cert, key)| {
        let mut s = Dtls::new(Role::Server, cert, key).unwrap();
        let _ = s.start();
        for d in data.split(|b| *b == 0xff) {
            let _ = s.handle_datagram(d);
            while s.poll_output().is_some() {}
        }
        assert!(!s.is_connected());
    });
});
