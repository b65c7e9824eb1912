//! Compiles the compute shaders to SPIR-V with glslc (Debian package `glslc`, installed
//! by scripts/setup.sh): no shader compiler is built from source or linked in.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for name in ["compose", "pyramid"] {
        let src = format!("shaders/{name}.comp");
        println!("cargo:rerun-if-changed={src}");
        let spv = out.join(format!("{name}.spv"));
        let status = Command::new("glslc")
            .args(["--target-env=vulkan1.1", "-O", "-Werror", &src, "-o"])
            .arg(&spv)
            .status()
            .unwrap_or_else(|e| panic!("glslc: {e} (Debian: apt-get install glslc, or run scripts/setup.sh)"));
        assert!(status.success(), "glslc failed on {src}");
    }
}
