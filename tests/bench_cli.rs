//! `clipper bench`: lists the benchmarks of perf/ and refuses an unknown one with one
//! clear line. (Running one is covered by deploy/test.sh, which runs each benchmark
//! binary with --quick.)

use std::process::Command;

fn clipper(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(args)
        .output()
        .expect("clipper runs")
}

#[test]
fn bench_lists_and_refuses_unknown_names() {
    let out = clipper(&["bench"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "store",
        "proto",
        "scheduler",
        "scheduler-core",
        "proxy",
        "apiserver",
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} listed: {text}"
        );
    }
    let out = clipper(&["bench", "nope", "--quick"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "error: no benchmark \"nope\"; known: store, proto, scheduler, scheduler-core, proxy, apiserver"
    );
}
