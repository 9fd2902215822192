//! `BieKey::resolve` against the real process environment. The environment is process-wide and
//! tests run in parallel threads, so everything touching it holds `ENV_LOCK`.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use common::{Model, header, model};
use radix_bie::{BieError, BieKey, KEY_ENV_VAR, KeySource, read_bie, user_key_path, write_bie};

static ENV_LOCK: Mutex<()> = Mutex::new(());

fn set(name: &str, value: Option<&Path>) {
    // SAFETY: only this file's tests change the environment, all under ENV_LOCK, and the
    // library reads it only inside `resolve`, which is called under the lock too.
    unsafe {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
}

fn set_key_var(value: Option<&str>) {
    // SAFETY: as in `set`.
    unsafe {
        match value {
            Some(v) => std::env::set_var(KEY_ENV_VAR, v),
            None => std::env::remove_var(KEY_ENV_VAR),
        }
    }
}

const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn resolve_uses_explicit_file_then_env_then_user_file() {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let xdg = tmp.path().join("xdg");
    fs::create_dir_all(&home).unwrap();
    set("HOME", Some(&home));
    set("XDG_CONFIG_HOME", Some(&xdg));
    set_key_var(None);

    // 1. Per-user key file under $XDG_CONFIG_HOME, created on first use with mode 0600.
    let user = xdg.join("radix").join("bie.key");
    assert_eq!(user_key_path(), Some(user.clone()));
    let (k1, src) = BieKey::resolve(None).unwrap();
    assert_eq!(
        src,
        KeySource::UserFile {
            path: user.clone(),
            created: true
        }
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&user).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode {mode:o}");
    }
    // Second use: same key, not created again.
    let (k2, src) = BieKey::resolve(None).unwrap();
    assert_eq!(
        src,
        KeySource::UserFile {
            path: user.clone(),
            created: false
        }
    );
    assert_eq!(k1.fingerprint(), k2.fingerprint());
    // What one resolved key seals, the next resolution opens.
    let bie = tmp.path().join("m.bie");
    let m = model(8192, 20);
    write_bie(&bie, &header(), &m, &k1).unwrap();
    let (_, back): (_, Model) = read_bie(&bie, &k2, common::SCHEMA).unwrap();
    assert_eq!(back, m);

    // 2. Without XDG_CONFIG_HOME: ~/.config/radix/bie.key.
    set("XDG_CONFIG_HOME", None);
    let (k3, src) = BieKey::resolve(None).unwrap();
    let home_key = home.join(".config").join("radix").join("bie.key");
    assert_eq!(
        src,
        KeySource::UserFile {
            path: home_key.clone(),
            created: true
        }
    );
    assert!(home_key.is_file());
    assert_ne!(k3.fingerprint(), k1.fingerprint());

    // 3. RADIX_BIE_KEY beats the user file...
    set_key_var(Some(HEX));
    let (k, src) = BieKey::resolve(None).unwrap();
    assert_eq!(src, KeySource::Env);
    assert_eq!(
        k.fingerprint(),
        BieKey::from_hex(HEX).unwrap().fingerprint()
    );
    // ...and a malformed one is an error naming the variable.
    set_key_var(Some("not hex"));
    let err = BieKey::resolve(None).unwrap_err();
    assert!(
        matches!(err, BieError::BadKey(ref m) if m.contains(KEY_ENV_VAR)),
        "{err}"
    );

    // 4. An explicit key file beats everything.
    let explicit = tmp.path().join("explicit.key");
    fs::write(&explicit, [0xee; 32]).unwrap();
    let (k, src) = BieKey::resolve(Some(&explicit)).unwrap();
    assert_eq!(src, KeySource::File(explicit.clone()));
    assert_eq!(
        k.fingerprint(),
        BieKey::from_bytes([0xee; 32]).fingerprint()
    );

    // 5. Nowhere to keep a key.
    set_key_var(None);
    set("HOME", None);
    assert!(matches!(BieKey::resolve(None), Err(BieError::BadKey(_))));
}
