//! Writes the seed inputs of both fuzz targets into `fuzz/corpus/<target>/`
//! as `seed-<name>`, replacing older seeds of the same name. Run it after a
//! change to the script format: older inputs still read as scripts, but no
//! longer as the ones they were written for.
//!
//! `cargo run -p tidings-fuzzing --example write_seeds`

use tidings_fuzzing::{corpus, seeds};

fn main() -> std::io::Result<()> {
    let targets = [
        (corpus::FRAME_DECODE, seeds::decode_inputs()),
        (
            corpus::CONNECTION,
            seeds::connection_scripts()
                .into_iter()
                .map(|(name, script)| (name, script.to_bytes()))
                .collect(),
        ),
    ];
    for (target, inputs) in targets {
        let dir = corpus::dir(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in &inputs {
            std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
        println!("{}: {} seeds", dir.canonicalize()?.display(), inputs.len());
    }
    Ok(())
}
