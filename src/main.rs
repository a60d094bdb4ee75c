//! The `pwresetd` binary: everything lives in the library; see `pwresetd::cli`.

fn main() -> std::process::ExitCode {
    pwresetd::cli::main()
}
