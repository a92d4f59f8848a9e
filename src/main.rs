//! The `rccr` multicall binary: everything lives in the library, this file
//! only hands argv over and turns the outcome into the process exit code.
fn main() -> std::process::ExitCode {
    rccr::run(std::env::args_os().collect())
}
