//! A data dir the daemon cannot write is one clear refusal before anything
//! starts: exit 2, one message naming the directory (or file) and what to do,
//! no panics.

mod common;

use common::{free_port, temp_dir};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Root writes whatever the mode says: then there is nothing to test.
fn modes_bind_us(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let bound = std::fs::write(&probe, b"").is_err();
    let _ = std::fs::remove_file(&probe);
    bound
}

fn run(dir: &Path) -> (Option<i32>, String) {
    let out = common::commodore()
        .arg("run")
        .env("COMMODORE__DATA_DIR", dir)
        .env(
            "COMMODORE__CONTROL__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .output()
        .expect("run commodore");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_refusal(code: Option<i32>, err: &str, names: &Path) {
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one message: {err}");
    assert!(
        lines[0].starts_with("error: data_dir: ")
            && lines[0].contains(&names.display().to_string())
            && lines[0].contains("not writable")
            && lines[0].contains("chmod u+rwx"),
        "{err}"
    );
}

#[test]
fn a_data_dir_that_cannot_be_written_is_one_clear_error() {
    let dir = temp_dir("data-dir-read-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    if !modes_bind_us(&dir) {
        eprintln!("skipped: this user writes in a 0500 directory (root)");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let (code, err) = run(&dir);
    assert_one_refusal(code, &err, &dir);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing created"
    );

    // A writable dir whose journal is read-only: that file is named.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let journal = dir.join("journal.sqlite");
    std::fs::write(&journal, b"").unwrap();
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o400)).unwrap();
    let (code, err) = run(&dir);
    assert_one_refusal(code, &err, &journal);
    let _ = std::fs::remove_dir_all(&dir);
}
