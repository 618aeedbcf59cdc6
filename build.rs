// The blueprints and terraform modules are embedded with include_dir, which
// cannot tell cargo to rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=blueprints");
    println!("cargo:rerun-if-changed=terraform");
}
