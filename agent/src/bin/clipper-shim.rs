//! `clipper-shim`: the container shim as a program of its own (the runtime's tests run
//! it; `clipper shim` is the same). See `clipper_agent::oci::shim` for the contract.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(clipper_agent::oci::shim_main(&args));
}
