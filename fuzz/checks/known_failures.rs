//! Checks of invariants the code is known not to hold yet run unless
//! `TAILSIFT_SKIP_KNOWN_FAILURES` is set (to anything but `0`): the fuzz targets keep them on by
//! default, so they are never forgotten once the code is fixed.

pub fn checked() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("TAILSIFT_SKIP_KNOWN_FAILURES").map_or(true, |v| v.is_empty() || v == "0")
    })
}
