//! `uniffi-bindgen`, built from the same pinned UniFFI as the library.

fn main() {
    uniffi::uniffi_bindgen_main()
}
