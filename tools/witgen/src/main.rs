//! `cargo run -p pbs-witgen` writes the files generated from `wit/`;
//! `--check` lists those that differ from a fresh generation (exit 1).

use std::process::ExitCode;

fn main() -> ExitCode {
    let root = pbs_witgen::repo_root();
    let check = std::env::args().any(|a| a == "--check");
    let result = if check {
        pbs_witgen::stale(&root).map(|stale| {
            for path in &stale {
                eprintln!("stale: {path} (run `cargo run -p pbs-witgen`)");
            }
            stale.is_empty()
        })
    } else {
        pbs_witgen::generate(&root).and_then(|outputs| {
            for o in outputs {
                let path = root.join(o.path);
                if std::fs::read_to_string(&path).ok().as_deref() != Some(&o.text) {
                    std::fs::write(&path, &o.text)?;
                    println!("wrote {}", o.path);
                }
            }
            Ok(true)
        })
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
