//! A small L-BFGS minimiser for the interest model's smooth, convex loss.
//!
//! Why our own: the problem is tiny (a few hundred parameters, a few thousand
//! rows), convex and smooth, so a textbook two-loop L-BFGS with a backtracking
//! Armijo line search converges in tens of iterations, in milliseconds, with no
//! dependency and no tuning of a learning rate.

/// Minimises `f` from `x0`. `f(x, grad)` returns the value and writes the
/// gradient. Stops when the gradient's max-norm is below `tol` (relative to
/// `max(1, |f|)`) or after `max_iter` iterations. Returns the best point.
pub(crate) fn lbfgs<F>(mut x: Vec<f64>, max_iter: usize, tol: f64, mut f: F) -> Vec<f64>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    const M: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(M);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(M);
    let mut rho_hist: Vec<f64> = Vec::with_capacity(M);
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];

    for _ in 0..max_iter {
        let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !gmax.is_finite() || gmax <= tol * fx.abs().max(1.0) {
            break;
        }
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let k = s_hist.len();
        let mut alpha = vec![0.0; k];
        for i in (0..k).rev() {
            alpha[i] = rho_hist[i] * dot(&s_hist[i], &q);
            axpy(-alpha[i], &y_hist[i], &mut q);
        }
        let gamma = if k > 0 {
            dot(&s_hist[k - 1], &y_hist[k - 1]) / dot(&y_hist[k - 1], &y_hist[k - 1])
        } else {
            1.0 / gmax.max(1.0)
        };
        for v in &mut q {
            *v *= gamma;
        }
        for i in 0..k {
            let beta = rho_hist[i] * dot(&y_hist[i], &q);
            axpy(alpha[i] - beta, &s_hist[i], &mut q);
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart with steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            d = g.iter().map(|v| -v / gmax.max(1.0)).collect();
            slope = dot(&g, &d);
        }
        // Backtracking Armijo line search.
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            for i in 0..n {
                x_new[i] = x[i] + step * d[i];
            }
            let f_new = f(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                let s: Vec<f64> = (0..n).map(|i| x_new[i] - x[i]).collect();
                let y: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 {
                    if s_hist.len() == M {
                        s_hist.remove(0);
                        y_hist.remove(0);
                        rho_hist.remove(0);
                    }
                    rho_hist.push(1.0 / sy);
                    s_hist.push(s);
                    y_hist.push(y);
                }
                let improvement = fx - f_new;
                x.copy_from_slice(&x_new);
                g.copy_from_slice(&g_new);
                fx = f_new;
                accepted = true;
                if improvement <= 1e-12 * fx.abs().max(1.0) {
                    return x;
                }
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    x
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_a_quadratic() {
        // f = sum (i+1) * (x_i - i)^2
        let x = lbfgs(vec![0.0; 5], 200, 1e-10, |x, g| {
            let mut f = 0.0;
            for i in 0..x.len() {
                let c = (i + 1) as f64;
                let r = x[i] - i as f64;
                f += c * r * r;
                g[i] = 2.0 * c * r;
            }
            f
        });
        for (i, v) in x.iter().enumerate() {
            assert!((v - i as f64).abs() < 1e-5, "{x:?}");
        }
    }
}
