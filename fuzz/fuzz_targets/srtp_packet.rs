//! SRTP and SRTCP (AES-CM and GCM) protect/unprotect on any bytes: never a panic; what we protect, we unprotect to
//! the same bytes; random bytes never authenticate.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::srtp::{GcmContext, MasterKey, SrtpContext};

fuzz_target!(|data: &[u8]| {
    let m = MasterKey { key: [3; 16], salt: [5; 14] };
    let (mut tx, mut rx) = (SrtpContext::new(&m), SrtpContext::new(&m));
    let mut raw = data.to_vec();
    assert!(rx.unprotect_rtp(&mut raw).is_err(), "random bytes authenticated");
    let mut buf = data.to_vec();
    buf.resize(data.len() + 10, 0);
    if let Ok(n) = tx.protect_rtp(&mut buf, data.len()) {
        let len = rx.unprotect_rtp(&mut buf[..n]).expect("our own packet");
        assert_eq!(&buf[..len], data);
    }
    // The same for SRTCP.
    assert!(rx.unprotect_rtcp(&mut data.to_vec()).is_err(), "random bytes authenticated as SRTCP");
    let mut buf = data.to_vec();
    buf.resize(data.len() + 14, 0);
    if let Ok(n) = tx.protect_rtcp(&mut buf, data.len()) {
        let len = rx.unprotect_rtcp(&mut buf[..n]).expect("our own SRTCP packet");
        assert_eq!(&buf[..len], data);
    }
    // AEAD_AES_128_GCM: the same properties.
    let (mut gtx, mut grx) = (GcmContext::new([3; 16], [5; 12]), GcmContext::new([3; 16], [5; 12]));
    assert!(grx.unprotect_rtp(&mut data.to_vec()).is_err() && grx.unprotect_rtcp(&mut data.to_vec()).is_err());
    let mut buf = data.to_vec();
    buf.resize(data.len() + 20, 0);
    if let Ok(n) = gtx.protect_rtp(&mut buf, data.len()) {
        let len = grx.unprotect_rtp(&mut buf[..n]).expect("our own GCM packet");
        assert_eq!(&buf[..len], data);
    }
    let mut buf = data.to_vec();
    buf.resize(data.len() + 20, 0);
    if let Ok(n) = gtx.protect_rtcp(&mut buf, data.len()) {
        let len = grx.unprotect_rtcp(&mut buf[..n]).expect("our own GCM SRTCP packet");
        assert_eq!(&buf[..len], data);
    }
});
