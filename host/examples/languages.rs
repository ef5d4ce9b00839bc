//! Adapters per language (issue 16): placeholder while being written.

fn main() {}
