//! Validates the rule pack at build time: a rule that does not compile
//! fails the build with its file, line and name. Also generates the list of
//! pack files (rules `*.toml`, classifier `*.model`) so adding a file needs
//! no code change.

use std::fs;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pack");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml") || n.ends_with(".model"))
        .collect();
    names.sort();
    let texts: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let text = fs::read_to_string(dir.join(n)).unwrap_or_else(|e| panic!("reading {n}: {e}"));
            (format!("rules/pack/{n}"), text)
        })
        .collect();
    let refs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    match mailward_core::Filter::from_sources(&refs) {
        Err(e) => {
            eprintln!("error: the rule pack does not compile:\n  {e}");
            panic!("rule pack error: {e}");
        }
        Ok(f) => {
            for name in f.pack().lazy_rules() {
                println!(
                    "cargo:warning=rule {name} is too large for a full DFA and will run slowly in the sandbox"
                );
            }
            for (name, bytes) in f.pack().large_rules(mailward_core::pack::LARGE_RULE_BYTES) {
                println!(
                    "cargo:warning=rule {name} compiles to {} KiB of automata, in every instance's memory (a Unicode class such as \\w? ASCII classes cost next to nothing)",
                    bytes / 1024
                );
            }
        }
    }
    let mut out = String::from(
        "/// The pack's source files: (path, text), sorted by path.\npub const SOURCES: &[(&str, &str)] = &[\n",
    );
    for n in &names {
        out.push_str(&format!(
            "    (\"rules/pack/{n}\", include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/pack/{n}\"))),\n"
        ));
    }
    out.push_str("];\n");
    let warm = Path::new(env!("CARGO_MANIFEST_DIR")).join("warmup");
    println!("cargo:rerun-if-changed={}", warm.display());
    let mut warm_names: Vec<String> = fs::read_dir(&warm)
        .unwrap_or_else(|e| panic!("reading {}: {e}", warm.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    warm_names.sort();
    out.push_str("/// Messages run once at configure time to warm the regex caches.\npub const WARMUP: &[&[u8]] = &[\n");
    for n in &warm_names {
        out.push_str(&format!(
            "    include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/warmup/{n}\")),\n"
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("sources.rs");
    fs::write(dest, out).expect("writing sources.rs");
}
