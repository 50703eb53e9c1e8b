//! The sync socket's frame decoder (server/src/sync/wire.rs, compiled in as is): any bytes a
//! phone sends must give a message or an error naming the field, never a panic, and a message
//! that decodes must encode and decode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../server/src/sync/wire.rs"]
mod wire;

fuzz_target!(|frame: &[u8]| {
    if let Ok(message) = wire::decode(frame) {
        let again = wire::encode(&message);
        assert_eq!(wire::decode(&again).ok(), Some(message));
    }
});
