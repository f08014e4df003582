//! OTLP/JSON: any bytes as a JSON export request. Beyond "no panic": when the transcoder
//! accepts the body, its output is a protobuf `ExportTraceServiceRequest` that prost decodes,
//! that ingest reads, and that renders back to JSON which transcodes to the same request.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tailsift::otlp::json::{json_to_protobuf, protobuf_to_json};
use tailsift::otlp::{ingest, Interest};

pub fn check(data: &[u8]) {
    let Ok(body) = json_to_protobuf(data) else {
        return;
    };
    let req = match ExportTraceServiceRequest::decode(body.clone()) {
        Ok(r) => r,
        Err(e) => panic!("the transcoder's output is refused by prost: {e}"),
    };
    ingest(&body, &Interest::default()).expect("ingest reads the transcoder's output");
    let json = protobuf_to_json(&body).expect("the transcoder's output renders as JSON");
    let again = json_to_protobuf(json.as_bytes()).expect("rendered JSON transcodes again");
    let again = ExportTraceServiceRequest::decode(again).expect("and decodes");
    // NaN doubles compare unequal to themselves: compare the encodings.
    assert_eq!(
        again.encode_to_vec(),
        req.encode_to_vec(),
        "JSON -> protobuf -> JSON -> protobuf is stable"
    );
}
