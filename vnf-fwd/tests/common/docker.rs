//! Docker for the container and chain tests: the images under test, built once
//! per test binary by `containers/build`.

use super::vnf_fwd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

pub fn containers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../containers")
}

/// stdout then stderr, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// The tag of the images under test: `test`, or `VNF_TEST_TAG` (so that
/// two checkouts on one machine do not rebuild each other's images).
pub fn tag() -> String {
    std::env::var("VNF_TEST_TAG").unwrap_or_else(|_| "test".into())
}

/// `image:<tag()>`.
pub fn image(name: &str) -> String {
    format!("{name}:{}", tag())
}

/// `containers/build` once per test binary: images tagged `tag()` from the
/// binaries under test; installs and starts Docker if needed; fast when the
/// images are current.
pub fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let t0 = Instant::now();
        let out = Command::new(containers_dir().join("build"))
            .env("BIN", vnf_fwd().parent().unwrap())
            .env("TAG", tag())
            .output()
            .expect("run containers/build");
        assert!(
            out.status.success(),
            "containers/build failed\n{}",
            output_text(&out)
        );
        eprintln!("images ready in {:.1?}", t0.elapsed());
        remove_leftovers();
    });
}

/// Removes containers of earlier runs of these tests that were killed before
/// their clean-up (the pid in the name is gone): they may still busy-poll.
fn remove_leftovers() {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        "name=vnf-fwd-test-",
        "--format",
        "{{.Names}}",
    ]);
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        let pid = name.rsplit('-').next().unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            let _ = docker(&["rm", "-f", name]);
        }
    }
}
