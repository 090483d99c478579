//! AFL++ driver: runs the fuzz target named by `TESSERA_FUZZ_TARGET` (see `tessera-fuzz`).

fn main() {
    let target = std::env::var("TESSERA_FUZZ_TARGET").unwrap_or_default();
    if !tessera_fuzz::TARGETS.contains(&target.as_str()) {
        eprintln!(
            "set TESSERA_FUZZ_TARGET to one of {:?}",
            tessera_fuzz::TARGETS
        );
        std::process::exit(2);
    }
    // `fuzz_nohook`: a panic the library catches on purpose (a third-party crate's, turned
    // into a typed error) is not a crash; one that escapes still aborts.
    afl::fuzz_nohook!(|data: &[u8]| {
        tessera_fuzz::run(&target, data);
    });
}
