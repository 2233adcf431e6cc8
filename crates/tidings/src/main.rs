//! `tidings`: the all-in-one server (`tidings run`, the default) and the
//! schema migration (`tidings migrate`). Wiring only.

fn main() -> anyhow::Result<()> {
    tidings::cli::all_in_one_main()
}
