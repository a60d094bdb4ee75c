//! Portal submit latency benchmark (driver for scripts/bench-portal). Being written.
fn main() {}
