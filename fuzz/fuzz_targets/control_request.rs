//! The control-message parser: any line gives a request or a typed error, and a
//! parsed request serializes back to something that parses to the same request.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(req) = control::parse_request(line) {
        let again = serde_json::to_string(&req).unwrap();
        assert_eq!(control::parse_request(&again).unwrap(), req);
    }
});
