//! Users of a model: predictions, each followed at once by its true label, in a bounded
//! loop on a thread of their own.

#![allow(clippy::unwrap_used)]

use super::http::Request;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Users sending predictions and, right after, the true label of each: a bounded loop that
/// stops when told to.
pub(crate) struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Traffic {
    /// Starts the users on `addr`; their request ids begin with `tag`.
    pub(crate) fn start(addr: SocketAddr, tag: &str) -> Self {
        let tag = tag.to_owned();
        let rows = super::iris_rows("iris-all.csv");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut sent = 0u64;
            while !flag.load(Ordering::Relaxed) && sent < 200_000 {
                let (row, label) = &rows[sent as usize % rows.len()];
                let id = format!("{tag}-{sent}");
                let body = json!({ "instances": [row] }).to_string();
                let r = Request::post("/v1/models/iris/predict", body)
                    .header("x-request-id", &id)
                    .send(addr);
                assert_eq!(r.status, 200, "{}", r.text());
                let fb = json!({"request_id": id, "label": label}).to_string();
                Request::post("/v1/feedback", fb).send(addr);
                sent += 1;
            }
            sent
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Traffic {
    /// Stops the users and returns how many requests they sent, all answered 200 (a failed
    /// request panics the traffic thread, and that panic is re-raised here).
    pub(crate) fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.take().unwrap();
        t.join().expect("every request under load succeeded")
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
