//! The least-squares line the end-to-end benchmarks split a per-request cost with. Included by
//! `allocations.rs` and `instructions.rs` (`#[path]`), not a benchmark itself.

/// Least squares of `y` against `x` over `points`: (intercept, slope), i.e. the fixed cost per
/// request and the cost per span.
pub fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    (my - slope * mx, slope)
}
