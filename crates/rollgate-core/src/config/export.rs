//! The way back: validated domain types to the file model, so the one schema serves for config
//! files, the store's documents and the control API.

use super::file::{
    HttpFile, MirrorFile, OutputFile, OverridesFile, RouteFile, ServiceFile, StickyFile,
    VersionFile,
};
use super::{HttpSpec, OrderedMap, ServiceSpec, VersionSource};
use crate::route::{RouteTable, StickySource};

/// The file form of a service.
pub fn service_file(spec: &ServiceSpec) -> ServiceFile {
    ServiceFile {
        input_width: spec.input_width,
        flags: spec.flags.as_ref().map(|f| {
            let doc = f.set.to_file();
            super::file::ServiceFlagsFile {
                route_by: f.route_by.clone(),
                segments: doc.segments,
                flags: doc.flags,
            }
        }),
        output: OutputFile {
            classes: spec.output.classes.clone(),
            range: spec.output.range.map(|(lo, hi)| [lo, hi]),
        },
        versions: OrderedMap(
            spec.versions
                .iter()
                .map(|v| (v.name.clone(), version_file(&v.source)))
                .collect(),
        ),
        route: route_file(&spec.route),
    }
}

fn version_file(source: &VersionSource) -> VersionFile {
    match source {
        VersionSource::Onnx { path } => VersionFile {
            onnx: Some(path.clone()),
            http: None,
        },
        VersionSource::Http(h) => VersionFile {
            onnx: None,
            http: Some(http_file(h)),
        },
    }
}

fn http_file(h: &HttpSpec) -> HttpFile {
    HttpFile {
        instances: h.instances.clone(),
        predict_path: h.predict_path.clone(),
        infer_path: h.infer_path.clone(),
        connect_timeout_ms: h.connect_timeout.as_millis() as u64,
        request_timeout_ms: h.request_timeout.as_millis() as u64,
        eject_after_failures: h.eject_after,
        eject_for_ms: h.eject_for.as_millis() as u64,
    }
}

/// The file form of a route table; weights as percentages (exact: two decimals at most).
pub fn route_file(t: &RouteTable) -> RouteFile {
    let weights = t
        .versions()
        .iter()
        .zip(t.weights())
        .filter(|(_, w)| **w > 0)
        .map(|(v, w)| (v.clone(), f64::from(*w) / 100.0))
        .collect();
    RouteFile {
        stable: Some(t.name(t.stable()).to_owned()),
        candidate: t.candidate().map(|c| t.name(c).to_owned()),
        weights: OrderedMap(weights),
        sticky: t.sticky().map(sticky_file),
        salt: Some(t.salt().to_owned()),
        overrides: OverridesFile {
            canary_header: t.overrides().canary_header.clone(),
            pin_cookie: t.overrides().pin_cookie.clone(),
        },
        mirror: t.mirror().map(|m| MirrorFile {
            to: t.name(m.target).to_owned(),
            percent: f64::from(m.bps) / 100.0,
        }),
    }
}

fn sticky_file(s: &StickySource) -> StickyFile {
    let (mut header, mut cookie, mut json_field) = (None, None, None);
    match s {
        StickySource::Header(h) => header = Some(h.clone()),
        StickySource::Cookie(c) => cookie = Some(c.clone()),
        StickySource::JsonField(f) => json_field = Some(f.clone()),
    }
    StickyFile {
        header,
        cookie,
        json_field,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, validate::service_from_file};

    #[test]
    fn a_service_survives_the_round_trip() {
        let text = r#"
services:
  iris:
    input_width: 4
    output: { classes: [a, b, c], range: [0, 1] }
    versions:
      v1: { onnx: "sha256:abc" }
      v2: { http: { instances: ["http://127.0.0.1:1"], predict_path: /p, request_timeout_ms: 250 } }
    route:
      weights: { v1: 66.67, v2: 33.33 }
      sticky: { cookie: uid }
      overrides: { canary_header: null }
      mirror: { to: v2, percent: 0.5 }
"#;
        let spec = parse(text).expect("valid").services.remove(0);
        let file = super::service_file(&spec);
        let json = serde_json::to_string(&file).expect("serializes");
        let back: crate::config::file::ServiceFile = serde_json::from_str(&json).expect("parses");
        let again = service_from_file("iris", back).expect("validates");
        assert_eq!(again, spec);
    }
}
