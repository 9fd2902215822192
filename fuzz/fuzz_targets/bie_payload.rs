//! Arbitrary bytes sealed as an authentic payload, then opened: reaches the bincode payload
//! decoder, which `bie_reader` can only reach by forging a tag. Must never panic or allocate
//! without bound (bincode length prefixes inside the payload are not trusted either).
#![no_main]

use libfuzzer_sys::fuzz_target;
use radix_bie::{open_from_slice, seal_raw_payload_to_vec};
use radix_bie_fuzz::{FuzzModel, key, sample_header};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = seal_raw_payload_to_vec(&sample_header("payload"), data, &key()) else {
        return;
    };
    if let Ok((h, _)) = open_from_slice::<FuzzModel>(&file, &key(), radix_bie_fuzz::SCHEMA) {
        assert_eq!(h, sample_header("payload"));
    }
    let _ = open_from_slice::<String>(&file, &key(), radix_bie_fuzz::SCHEMA);
    let _ = open_from_slice::<(Vec<u8>, Vec<String>)>(&file, &key(), radix_bie_fuzz::SCHEMA);
});
