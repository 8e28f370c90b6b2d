//! Preference data (`palate eval-pairs --data`): JSON lines, each a pair or an error naming its line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palate_personal::pairs::parse_lines;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = parse_lines(text, "fuzz.jsonl") {
        assert!(e.to_string().starts_with("fuzz.jsonl"), "the error names the file: {e}");
    }
});
