//! Document → household projection (shared::read): any bytes that load as an Automerge
//! document must project without a panic, whatever the document holds (a phone's document is
//! stored before anyone checks its content), and the projection must serialise.
#![no_main]

use automerge::{Automerge, ReadDoc};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../server/src/documents/screen.rs"]
mod screen;

fuzz_target!(|bytes: &[u8]| {
    // The server screens peer bytes before Automerge decodes them (bundle chunks, lengths past
    // the end, compression bombs: fuzzing found a 30-byte bundle that made the loader reserve
    // gigabytes, now regression-bundle-oom in the corpus). What passes the screen must load
    // within libFuzzer's memory limit.
    if screen::chunks(bytes).is_err() {
        return;
    }
    // Automerge's own decoder can panic on malformed bytes (the first run found one, now in the
    // corpus as regression-load-panic); the server catches that and refuses the bytes (see
    // `documents::guarded`), so here it is a refusal too. Panics in sansang's code still crash.
    // libFuzzer's panic hook aborts on any panic, caught or not: set aside while loading.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loaded = std::panic::catch_unwind(|| Automerge::load(bytes));
    std::panic::set_hook(hook);
    let Ok(Ok(doc)) = loaded else {
        return;
    };
    let projection = sansang_shared::read::project(&doc, &doc.get_heads(), 2026);
    let held_back = projection.clone().without_personal_data_unless_consent();
    assert!(held_back.household.consent_given() || held_back.household.members.is_empty());
    let _ = sansang_shared::validate::household(&projection.household, 2026);
});
