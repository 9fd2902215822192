//! Every kind of damage is rejected with its own error, and never panics.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::{Model, header, key, model, other_key, prefix_end};
use radix_bie::{
    BieError, FORMAT_VERSION, NONCE_LEN, TAG_LEN, open_from_slice, read_bie, read_header,
    read_header_from_slice, seal_to_vec,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn open(data: &[u8]) -> Result<Model, BieError> {
    open_from_slice::<Model>(data, &key(), common::SCHEMA).map(|(_, m)| m)
}

#[test]
fn every_change_of_a_header_region_byte_is_rejected() {
    let file = seal_to_vec(&header(), &model(16 * 1024, 10), &key()).unwrap();
    let p = prefix_end(&file);
    let h = p - 54; // header length
    assert!(open(&file).is_ok());
    let mut data = file.clone();
    let mut checked = 0;
    for pos in 0..p {
        // Each single bit, and the whole byte.
        for mask in [1u8, 2, 4, 8, 16, 32, 64, 128, 0xff] {
            data[pos] ^= mask;
            let err = open(&data).expect_err(&format!("byte {pos} ^ {mask:#x} accepted"));
            let ok = match pos {
                0..8 => matches!(err, BieError::NotABie),
                8..10 => matches!(err, BieError::UnsupportedVersion { supported: 2, .. }),
                // The header length moves every later field: any framing or auth error.
                10..14 => !matches!(err, BieError::PayloadDecode(_)),
                _ if pos < 14 + h => matches!(err, BieError::AuthenticationFailed),
                _ if pos < 22 + h => matches!(err, BieError::WrongKey { .. }),
                _ if pos < 46 + h => matches!(err, BieError::AuthenticationFailed),
                _ => matches!(
                    err,
                    BieError::Truncated { .. } | BieError::TrailingData { .. }
                ),
            };
            assert!(ok, "byte {pos} ^ {mask:#x}: unexpected error {err:?}");
            data[pos] ^= mask;
            checked += 1;
        }
    }
    assert_eq!(data, file);
    assert_eq!(checked, 9 * p);
}

#[test]
fn ten_thousand_payload_byte_flips_are_rejected() {
    let file = seal_to_vec(&header(), &model(256 * 1024, 11), &key()).unwrap();
    let p = prefix_end(&file);
    let mut rng = StdRng::seed_from_u64(12);
    let mut positions = BTreeSet::new();
    // Always include the tag and the first ciphertext bytes.
    positions.extend(file.len() - TAG_LEN..file.len());
    positions.extend(p..p + 16);
    while positions.len() < 10_000 {
        positions.insert(rng.random_range(p..file.len()));
    }
    let mut data = file.clone();
    for &pos in &positions {
        let mask = rng.random_range(1..=255u8);
        data[pos] ^= mask;
        match open(&data) {
            Err(BieError::AuthenticationFailed) => {}
            other => panic!("payload byte {pos} ^ {mask:#x}: {other:?}"),
        }
        data[pos] ^= mask;
    }
    assert!(open(&data).is_ok());
}

#[test]
fn truncation_at_every_4k_boundary_and_odd_lengths_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = seal_to_vec(&header(), &model(1 << 20, 13), &key()).unwrap();
    let p = prefix_end(&file);
    let mut lengths: BTreeSet<usize> = (0..file.len()).step_by(4096).collect();
    lengths.extend([
        1,
        5,
        7,
        8,
        9,
        10,
        13,
        14,
        15,
        69,
        70,
        71,
        p - 41,
        p - 40,
        p - 1,
        p,
        p + 1,
    ]);
    lengths.extend([
        file.len() - TAG_LEN - 1,
        file.len() - TAG_LEN,
        file.len() - 1,
    ]);
    let truncated_path = dir.path().join("t.bie");
    for &n in &lengths {
        let cut = &file[..n];
        let err = open(cut).expect_err(&format!("length {n} accepted"));
        assert!(
            matches!(err, BieError::Truncated { got, .. } if got == n as u64),
            "length {n}: {err:?}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(
            matches!(read_header_from_slice(cut), Err(BieError::Truncated { .. })),
            "header of length {n}"
        );
        if n % (256 * 1024) == 0 || n < 100 || n + 100 > file.len() {
            fs::write(&truncated_path, cut).unwrap();
            assert!(matches!(
                read_bie::<Model>(&truncated_path, &key(), common::SCHEMA),
                Err(BieError::Truncated { .. })
            ));
            assert!(
                matches!(
                    read_header(&truncated_path),
                    Err(BieError::Truncated { .. })
                ),
                "read_header of length {n}"
            );
        }
    }
}

#[test]
fn appended_bytes_are_rejected() {
    let mut file = seal_to_vec(&header(), &model(4096, 14), &key()).unwrap();
    let len = file.len() as u64;
    file.push(0);
    assert!(matches!(
        open(&file),
        Err(BieError::TrailingData { expected, got }) if expected == len && got == len + 1
    ));
    assert!(matches!(
        read_header_from_slice(&file),
        Err(BieError::TrailingData { .. })
    ));
}

#[test]
fn wrong_key_is_reported_as_such() {
    let file = seal_to_vec(&header(), &model(4096, 15), &key()).unwrap();
    let err = open_from_slice::<Model>(&file, &other_key(), common::SCHEMA).unwrap_err();
    match &err {
        BieError::WrongKey {
            file_key_id,
            given_key_id,
        } => {
            assert_eq!(*file_key_id, key().fingerprint());
            assert_eq!(*given_key_id, other_key().fingerprint());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("wrong key"), "{err}");

    // Even with the fingerprint forged to match the wrong key, the wrong key opens nothing.
    let mut forged = file.clone();
    let p = prefix_end(&forged);
    let id = p - 40..p - 32;
    let other_id = seal_to_vec(&header(), &model(4096, 15), &other_key()).unwrap();
    forged[id.clone()].copy_from_slice(&other_id[id]);
    assert!(matches!(
        open_from_slice::<Model>(&forged, &other_key(), common::SCHEMA),
        Err(BieError::AuthenticationFailed)
    ));
    let msg = BieError::AuthenticationFailed.to_string();
    assert!(msg.contains("wrong key or the file was modified"), "{msg}");
}

#[test]
fn future_and_unknown_versions_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.bie");
    let file = seal_to_vec(&header(), &model(4096, 16), &key()).unwrap();
    for version in [FORMAT_VERSION + 1, 7, u16::MAX, 0] {
        let mut data = file.clone();
        data[8..10].copy_from_slice(&version.to_le_bytes());
        let expect = |r: Result<_, BieError>| {
            assert!(
                matches!(r, Err(BieError::UnsupportedVersion { found, supported }) if found == version && supported == FORMAT_VERSION),
                "version {version}"
            );
        };
        expect(open(&data).map(drop));
        expect(read_header_from_slice(&data).map(drop));
        fs::write(&path, &data).unwrap();
        expect(read_header(&path).map(drop));
        expect(read_bie::<Model>(&path, &key(), common::SCHEMA).map(drop));
        // A future version may have any layout: only the first 10 bytes are needed.
        expect(open(&data[..10]).map(drop));
    }
    let msg = BieError::UnsupportedVersion {
        found: 3,
        supported: 2,
    }
    .to_string();
    assert!(
        msg.contains("version 3") && msg.contains("newer radix"),
        "{msg}"
    );
}

#[test]
fn junk_is_not_a_bie() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk");
    let mut rng = StdRng::seed_from_u64(17);
    let mut samples: Vec<Vec<u8>> = vec![
        b"hello world".to_vec(),
        b"\x08\x07\x12\x07pytorch\x1a\x031.0".to_vec(), // looks like an ONNX protobuf
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
        b"RADIXBIX\x01\x00".to_vec(),
        b"radixbie\x01\x00\x00\x00\x00\x00".to_vec(),
        vec![0; 100],
    ];
    for _ in 0..200 {
        let n = rng.random_range(1..5000);
        samples.push((0..n).map(|_| rng.random::<u8>()).collect());
    }
    samples.push((0..(1 << 20)).map(|_| rng.random::<u8>()).collect());
    for junk in samples {
        if b"RADIXBIE".starts_with(&junk[..junk.len().min(8)]) {
            continue; // a (random) prefix of the magic is a truncated file instead
        }
        assert!(matches!(open(&junk), Err(BieError::NotABie)));
        assert!(matches!(
            read_header_from_slice(&junk),
            Err(BieError::NotABie)
        ));
        fs::write(&path, &junk).unwrap();
        assert!(matches!(read_header(&path), Err(BieError::NotABie)));
        assert!(matches!(
            read_bie::<Model>(&path, &key(), common::SCHEMA),
            Err(BieError::NotABie)
        ));
    }
}

#[test]
fn huge_length_fields_are_refused_without_allocating() {
    let file = seal_to_vec(&header(), &model(4096, 18), &key()).unwrap();
    let p = prefix_end(&file);

    let mut data = file.clone();
    data[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(open(&data), Err(BieError::HeaderDecode(_))));

    let mut data = file.clone();
    data[10..14].copy_from_slice(&(1u32 << 20).to_le_bytes());
    assert!(matches!(
        open(&data),
        Err(BieError::Truncated { expected, .. }) if expected == (14 + (1 << 20) + 40) as u64
    ));

    for ct_len in [u64::MAX, u64::MAX / 2, 1 << 40] {
        let mut data = file.clone();
        data[p - 8..p].copy_from_slice(&ct_len.to_le_bytes());
        assert!(matches!(open(&data), Err(BieError::Truncated { .. })));
    }
    // A ciphertext shorter than the tag.
    let mut data = file[..p + 10].to_vec();
    data[p - 8..p].copy_from_slice(&10u64.to_le_bytes());
    assert!(matches!(open(&data), Err(BieError::AuthenticationFailed)));
    assert_eq!(NONCE_LEN, 24);
}
