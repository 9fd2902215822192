//! Arbitrary bytes into the BIE reader (framing, key check, authentication, header and payload
//! decoding) and into the keyless header reader. Must never panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radix_bie::{open_from_slice, read_header_from_slice};
use radix_bie_fuzz::{FuzzModel, key};

fuzz_target!(|data: &[u8]| {
    let opened = open_from_slice::<FuzzModel>(data, &key(), radix_bie_fuzz::SCHEMA);
    let header = read_header_from_slice(data);
    match (opened, header) {
        // Whatever opens with the key has a readable, identical clear header.
        (Ok((h, _model)), Ok(clear)) => assert_eq!(h, clear),
        (Ok(_), Err(e)) => panic!("opened, but the clear header does not read: {e}"),
        (Err(e), header) => {
            drop(e.to_string());
            if let Err(e) = header {
                drop(e.to_string());
            }
        }
    }
});
