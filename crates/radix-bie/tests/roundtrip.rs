//! Round trips, confidentiality, fresh nonces and atomic writes.

mod common;

use std::collections::HashSet;
use std::fs;

use common::{Model, entries, header, key, model, payload_bytes, prefix_end};
use radix_bie::{
    BieError, NONCE_LEN, open_from_slice, read_bie, read_header, read_header_from_slice,
    seal_to_vec, write_bie,
};

const MIB: usize = 1 << 20;

#[test]
fn realistic_model_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bie");
    let m = model(MIB, 1);
    assert!(m.layers.iter().map(|l| l.weights.len()).sum::<usize>() >= MIB - 8);
    write_bie(&path, &header(), &m, &key()).unwrap();

    let (h, back): (_, Model) = read_bie(&path, &key(), common::SCHEMA).unwrap();
    assert_eq!(h, header());
    assert_eq!(back, m);
    // The clear header needs no key, from the file and from memory.
    assert_eq!(read_header(&path).unwrap(), header());
    let bytes = fs::read(&path).unwrap();
    assert_eq!(read_header_from_slice(&bytes).unwrap(), header());
    // Only the final file is left in the folder.
    assert_eq!(entries(dir.path()), vec!["model.bie"]);
}

/// Every 16-byte window of `needle` that occurs anywhere in `haystack`.
fn shared_windows(needle: &[u8], haystack: &[u8]) -> usize {
    let windows: HashSet<&[u8]> = haystack.windows(16).collect();
    needle.windows(16).filter(|w| windows.contains(w)).count()
}

#[test]
fn no_16_byte_run_of_the_serialized_model_appears_in_the_file() {
    let m = model(MIB, 2);
    let plain = payload_bytes(&m);
    assert!(plain.len() > MIB);
    let file = seal_to_vec(&header(), &m, &key()).unwrap();

    // The detector works: a file that carried the payload in the clear would be caught.
    let mut leaky = file[..prefix_end(&file)].to_vec();
    leaky.extend_from_slice(&plain[1000..1100]);
    assert!(shared_windows(&plain, &leaky) >= 100 - 15);

    assert_eq!(shared_windows(&plain, &file), 0);
}

#[test]
fn two_writes_of_the_same_model_differ_but_open_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.bie"), dir.path().join("b.bie"));
    let m = model(256 * 1024, 3);
    write_bie(&a, &header(), &m, &key()).unwrap();
    write_bie(&b, &header(), &m, &key()).unwrap();
    let (fa, fb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(fa.len(), fb.len());
    assert_ne!(fa, fb);

    let p = prefix_end(&fa);
    let nonce = p - 8 - NONCE_LEN..p - 8;
    // Same clear header and key fingerprint, different nonces...
    assert_eq!(fa[..nonce.start], fb[..nonce.start]);
    assert_ne!(fa[nonce.clone()], fb[nonce]);
    // ...hence unrelated ciphertexts.
    let same = fa[p..].iter().zip(&fb[p..]).filter(|(x, y)| x == y).count();
    assert!(same < (fa.len() - p) / 100, "{same} equal ciphertext bytes");

    let (ha, ma): (_, Model) = read_bie(&a, &key(), common::SCHEMA).unwrap();
    let (hb, mb): (_, Model) = read_bie(&b, &key(), common::SCHEMA).unwrap();
    assert_eq!((ha, &ma), (hb, &mb));
    assert_eq!(ma, m);
    assert_eq!(payload_bytes(&ma), payload_bytes(&mb));
}

#[test]
fn overwriting_replaces_the_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bie");
    write_bie(&path, &header(), &model(64 * 1024, 4), &key()).unwrap();
    let newer = model(128 * 1024, 5);
    write_bie(&path, &header(), &newer, &key()).unwrap();
    let (_, back): (_, Model) = read_bie(&path, &key(), common::SCHEMA).unwrap();
    assert_eq!(back, newer);
    assert_eq!(entries(dir.path()), vec!["m.bie"]);
}

#[test]
fn write_into_a_missing_folder_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("m.bie");
    let err = write_bie(&path, &header(), &model(1024, 6), &key()).unwrap_err();
    assert!(
        matches!(err, BieError::Io { path: ref p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("m.bie"), "{err}");
    assert!(entries(dir.path()).is_empty());
    // Paths that name no file at all.
    for bad in [std::path::Path::new("/"), &dir.path().join("..")] {
        let err = write_bie(bad, &header(), &1u8, &key()).unwrap_err();
        assert!(matches!(err, BieError::Io { .. }), "{err}");
    }
}

#[test]
fn failed_rename_removes_the_temporary_file() {
    // The target is a non-empty folder: the temp file is written, then the rename fails.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bie");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("keep"), b"x").unwrap();
    let err = write_bie(&path, &header(), &model(64 * 1024, 7), &key()).unwrap_err();
    assert!(matches!(err, BieError::Io { .. }), "{err}");
    assert_eq!(entries(dir.path()), vec!["m.bie"]);
    assert_eq!(entries(&path), vec!["keep"]);
}

#[test]
fn write_into_a_read_only_folder_fails_cleanly() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::write(ro.join("old.bie"), b"previous").unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        // Root ignores folder permissions: then there is nothing to test here.
        let probe = ro.join("probe");
        if fs::write(&probe, b"").is_ok() {
            fs::remove_file(&probe).unwrap();
            eprintln!("running with CAP_DAC_OVERRIDE (root): read-only folder case skipped");
        } else {
            let target = ro.join("old.bie");
            let err = write_bie(&target, &header(), &model(1024, 8), &key()).unwrap_err();
            assert!(matches!(err, BieError::Io { .. }), "{err}");
            assert_eq!(entries(&ro), vec!["old.bie"]);
            assert_eq!(fs::read(&target).unwrap(), b"previous");
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A payload whose serialization fails midway.
struct Failing;
impl serde::Serialize for Failing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(3))?;
        seq.serialize_element(&1u8)?;
        Err(S::Error::custom("boom"))
    }
}
// `write_bie` reads what it wrote back as the same type; never reached here.
impl<'de> serde::Deserialize<'de> for Failing {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Failing)
    }
}

#[test]
fn failed_encoding_leaves_the_previous_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bie");
    let m = model(4096, 9);
    write_bie(&path, &header(), &m, &key()).unwrap();
    let before = fs::read(&path).unwrap();
    let err = write_bie(&path, &header(), &Failing, &key()).unwrap_err();
    assert!(
        matches!(err, BieError::PayloadEncode(ref msg) if msg.contains("boom")),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(entries(dir.path()), vec!["m.bie"]);
}

#[test]
fn reading_a_missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.bie");
    for err in [
        read_bie::<Model>(&path, &key(), common::SCHEMA).unwrap_err(),
        read_header(&path).unwrap_err(),
    ] {
        assert!(
            matches!(err, BieError::Io { path: ref p, .. } if *p == path),
            "{err}"
        );
    }
}

#[test]
fn empty_and_unit_payloads_round_trip() {
    let file = seal_to_vec(&header(), &(), &key()).unwrap();
    let (h, ()) = open_from_slice(&file, &key(), common::SCHEMA).unwrap();
    assert_eq!(h, header());
    let file = seal_to_vec(&radix_bie::BieHeader::default(), &Vec::<i8>::new(), &key()).unwrap();
    let (h, v): (_, Vec<i8>) = open_from_slice(&file, &key(), 0).unwrap();
    assert_eq!(h, radix_bie::BieHeader::default());
    assert!(v.is_empty());
}

#[test]
fn another_payload_schema_is_refused_naming_both_versions() {
    let file = seal_to_vec(&header(), &model(100, 1), &key()).unwrap();
    for other in [common::SCHEMA - 1, common::SCHEMA + 1] {
        let err = open_from_slice::<Model>(&file, &key(), other).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, BieError::SchemaMismatch { found, expected, .. }
                if found == common::SCHEMA && expected == other),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("schema version {}", common::SCHEMA))
                && msg.contains(&format!("schema version {other}"))
                && msg.contains("radix 0.1.0 (test)"),
            "{msg}"
        );
    }
}

/// Serializes its value but deserializes it clamped to 255: decodes fine, yet is not what was
/// written.
#[derive(Debug)]
struct Clamped(u32);
impl serde::Serialize for Clamped {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}
impl<'de> serde::Deserialize<'de> for Clamped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <u32 as serde::Deserialize>::deserialize(d).map(|v| Clamped(v.min(255)))
    }
}

/// `skip_serializing_if` is not supported by bincode: this writes one field and reads two.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Skipping {
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    value: u8,
}

#[test]
fn a_write_that_does_not_read_back_fails_naming_the_path_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bie");
    let m = model(4096, 20);
    write_bie(&path, &header(), &m, &key()).unwrap();
    let before = fs::read(&path).unwrap();

    // Decodes, but to another value.
    let err = write_bie(&path, &header(), &Clamped(300), &key()).unwrap_err();
    assert!(
        matches!(err, BieError::ReadBackMismatch { path: ref p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("m.bie"), "{err}");
    // The same value within range is fine (in another file).
    let ok = dir.path().join("ok.bie");
    write_bie(&ok, &header(), &Clamped(200), &key()).unwrap();
    fs::remove_file(&ok).unwrap();

    // Does not decode at all.
    let err = write_bie(
        &path,
        &header(),
        &Skipping {
            note: None,
            value: 7,
        },
        &key(),
    )
    .unwrap_err();
    match &err {
        BieError::ReadBack { path: p, source } => {
            assert_eq!(*p, path);
            assert!(matches!(**source, BieError::PayloadDecode(_)), "{source}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("m.bie"), "{err}");

    // Neither replaced the good file, and no temporary file is left.
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(entries(dir.path()), vec!["m.bie"]);
    let (_, back): (_, Model) = read_bie(&path, &key(), common::SCHEMA).unwrap();
    assert_eq!(back, m);

    // A new path that fails the check is not created.
    let fresh = dir.path().join("fresh.bie");
    assert!(write_bie(&fresh, &header(), &Clamped(1000), &key()).is_err());
    assert!(!fresh.exists());
    assert_eq!(entries(dir.path()), vec!["m.bie"]);
}
