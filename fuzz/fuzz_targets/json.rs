//! The bounded JSON parser (what a node's Docker engine answers): any
//! bytes. Nothing panics; what parses renders to text that parses back to
//! the same value, and renders the same again; any string, escaped by
//! push_str, parses back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::json::{self, Value};

fuzz_target!(|data: &[u8]| {
    match Value::parse(data) {
        Ok(value) => {
            let text = value.render();
            let again = Value::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("{text:?} does not parse back: {e}"));
            assert_eq!(again, value);
            assert_eq!(again.render(), text);
        }
        Err(e) => assert!(e.offset <= data.len(), "{e}"),
    }

    let text = String::from_utf8_lossy(data);
    let literal = json::string(&text);
    assert!(literal.is_ascii());
    assert_eq!(
        Value::parse(literal.as_bytes()),
        Ok(Value::Str(text.into_owned()))
    );
});
