//! Request validation on any bytes decoded as Federation requests: an
//! answer (`Ok` or `INVALID_ARGUMENT` naming a field), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use trama_gateway::validate;
use trama_proto::v1;

fuzz_target!(|data: &[u8]| {
    let known = |o: &str| ["comune", "asl", "caritas", "caf"].contains(&o);
    if let Ok(r) = v1::GetRecordRequest::decode(data) {
        let _ = validate::context(r.context.as_ref());
        let _ = validate::subject_key(r.subject.as_ref(), known);
        if let Err(s) = validate::sections(&r.sections) {
            assert_eq!(s.code(), tonic::Code::InvalidArgument);
        }
    }
    if let Ok(r) = v1::FindSubjectRequest::decode(data) {
        if let Err(s) = validate::subject_query(r.query.as_ref(), r.max_candidates, known) {
            assert_eq!(s.code(), tonic::Code::InvalidArgument);
        }
    }
});
