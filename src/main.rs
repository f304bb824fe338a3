//! The `retrylab` binary: all behaviour lives in `retrylab-cli`.

fn main() -> std::process::ExitCode {
    retrylab_cli::main()
}
