//! The data plane's request body parsers: Rollgate's v1 JSON (`{"instances"}`/`{"features"}`)
//! and the Open Inference Protocol v2 codec (JSON, or JSON followed by binary tensors split by
//! `Inference-Header-Content-Length`).
//!
//! The gateway's own source files are compiled in here unchanged (they are pure codecs with
//! no dependency on the rest of the binary), so the fuzzer runs exactly the code that serves.
//!
//! Input: a selector byte (protocol, model width, whether a header length is given), for v2
//! two bytes of header length, then the body. Invariants: no panic; a decoded batch is
//! non-empty, of the model's width and finite; every decoding error is the client's (400).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate_core::tensor::FeatureBatch;

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/rollgate/src/gateway/v1.rs"]
mod v1;

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/rollgate/src/gateway/oip.rs"]
mod oip;

fn check_batch(batch: &FeatureBatch, width: usize) {
    assert!(batch.rows() > 0, "an empty batch was accepted");
    assert_eq!(batch.width(), width, "the batch has another width");
    assert_eq!(batch.values().len(), batch.rows() * width);
    assert!(
        batch.values().iter().all(|v| v.is_finite()),
        "a non-finite value passed"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let width = usize::from(selector & 0x07) + 1;
    if selector & 0x80 == 0 {
        if let Ok(batch) = v1::decode(rest, width) {
            check_batch(&batch, width);
        }
        let _ = v1::object(rest);
        return;
    }
    let (header_len, body) = match rest {
        [hi, lo, body @ ..] if selector & 0x40 != 0 => {
            (Some(usize::from(u16::from_be_bytes([*hi, *lo]))), body)
        }
        _ => (None, rest),
    };
    match oip::decode_infer_request(body, header_len, width) {
        Ok(req) => check_batch(&req.batch, width),
        Err(e) => {
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
});
