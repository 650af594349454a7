//! Orbit benchmark driver (stub).

fn main() {
    println!("usage: orbit-bench <scenario> [options]  (no scenarios implemented yet)");
}
