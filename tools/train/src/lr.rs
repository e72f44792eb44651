//! L2-regularised, class-weighted logistic regression over sparse binary
//! features, fitted with L-BFGS. The objective is strictly convex, so the
//! fit is the same whatever the order of the data: training is
//! reproducible.

/// One training example: feature ids (distinct), the value every present
/// feature takes, the label, and its weight in the loss (1 for a message;
/// less for one of several renditions of a message).
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<u32>,
    pub value: f64,
    pub spam: bool,
    pub weight: f64,
}

/// Fitting settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// L2 penalty on the weights (not on the bias).
    pub l2: f64,
    /// Weight of a ham example relative to a spam example.
    pub ham_weight: f64,
    /// Most L-BFGS iterations.
    pub max_iter: usize,
    /// Keep the bias at the (weighted) log-odds of the classes instead of
    /// fitting it: a message with no evidence either way gets the base
    /// rate, and the absence of features typical of the training ham is
    /// not itself evidence of spam.
    pub fixed_bias: bool,
}

/// A fitted model: bias and one weight per feature id.
#[derive(Debug, Clone)]
pub struct Fit {
    pub bias: f64,
    pub weights: Vec<f64>,
    pub iterations: usize,
}

impl Fit {
    /// The logit of an example.
    pub fn logit(&self, e: &Example) -> f64 {
        self.bias
            + e.features
                .iter()
                .map(|&f| self.weights.get(f as usize).copied().unwrap_or(0.0))
                .sum::<f64>()
                * e.value
    }
}

fn log1p_exp(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Objective and gradient at `x` (x[0] = bias, x[1..] = weights).
fn objective(x: &[f64], data: &[Example], p: &Params, grad: &mut [f64]) -> f64 {
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut loss = 0.0;
    for e in data {
        let s: f64 = e.features.iter().map(|&f| x[f as usize + 1]).sum();
        let z = x[0] + s * e.value;
        let (y, c) = if e.spam {
            (1.0, e.weight)
        } else {
            (-1.0, p.ham_weight * e.weight)
        };
        loss += c * log1p_exp(-y * z);
        // d/dz log(1 + exp(-y z)) = -y * sigmoid(-y z)
        let dz = -y * sigmoid(-y * z) * c;
        grad[0] += dz;
        for &f in &e.features {
            grad[f as usize + 1] += dz * e.value;
        }
    }
    for i in 1..x.len() {
        loss += 0.5 * p.l2 * x[i] * x[i];
        grad[i] += p.l2 * x[i];
    }
    if p.fixed_bias {
        grad[0] = 0.0;
    }
    loss
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits the model on `data` with `n_features` features.
pub fn fit(data: &[Example], n_features: usize, p: &Params) -> Fit {
    let n = n_features + 1;
    let mut x = vec![0.0; n];
    // Start the bias at the weighted log-odds of the classes.
    let spam: f64 = data.iter().filter(|e| e.spam).map(|e| e.weight).sum();
    let ham = data.iter().filter(|e| !e.spam).map(|e| e.weight).sum::<f64>() * p.ham_weight;
    if spam > 0.0 && ham > 0.0 {
        x[0] = (spam / ham).ln();
    }
    let mut g = vec![0.0; n];
    let mut f = objective(&x, data, p, &mut g);
    const M: usize = 12;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut iterations = 0;
    let mut g_new = vec![0.0; n];
    for it in 0..p.max_iter {
        iterations = it + 1;
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / dot(y, s);
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push((a, rho));
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|qi| *qi *= gamma);
        } else {
            let norm = dot(&g, &g).sqrt().max(1e-12);
            q.iter_mut().for_each(|qi| *qi /= norm);
        }
        for ((s, y), (a, rho)) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let d: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            s_hist.clear();
            y_hist.clear();
            continue;
        }
        // Backtracking line search (Armijo).
        let mut step = 1.0;
        let mut x_new = vec![0.0; n];
        let mut f_new;
        loop {
            x_new
                .iter_mut()
                .zip(&x)
                .zip(&d)
                .for_each(|((xn, xi), di)| *xn = xi + step * di);
            f_new = objective(&x_new, data, p, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let improvement = f - f_new;
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        f = f_new;
        if dot(&s, &y) > 1e-12 {
            s_hist.push(s);
            y_hist.push(y);
            if s_hist.len() > M {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        let gnorm = dot(&g, &g).sqrt();
        if gnorm < 1e-6 * (1.0 + f.abs()) || improvement.abs() < 1e-10 * (1.0 + f.abs()) {
            break;
        }
    }
    Fit {
        bias: x[0],
        weights: x[1..].to_vec(),
        iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_toy_problem() {
        // Feature 0 means spam, feature 1 means ham, feature 2 is noise.
        let mut data = Vec::new();
        for i in 0..40 {
            let spam = i % 2 == 0;
            let mut f = vec![if spam { 0 } else { 1 }];
            if i % 3 == 0 {
                f.push(2);
            }
            data.push(Example {
                value: 1.0 / (f.len() as f64).sqrt(),
                features: f,
                spam,
                weight: 1.0,
            });
        }
        let p = Params {
            l2: 0.1,
            ham_weight: 1.0,
            max_iter: 200,
            fixed_bias: false,
        };
        let fit = fit(&data, 3, &p);
        assert!(fit.weights[0] > 1.0, "{fit:?}");
        assert!(fit.weights[1] < -1.0, "{fit:?}");
        assert!(fit.weights[2].abs() < 0.5, "{fit:?}");
        for e in &data {
            assert_eq!(fit.logit(e) > 0.0, e.spam);
        }
        let again = super::fit(&data, 3, &p);
        assert_eq!(fit.weights, again.weights, "deterministic");
        let fixed = super::fit(
            &data,
            3,
            &Params {
                fixed_bias: true,
                ..p
            },
        );
        assert_eq!(fixed.bias, 0.0, "balanced classes: log-odds 0, kept");
    }

    /// An example split into copies whose weights add up to 1 fits as the
    /// example alone: renditions of a message count as one message.
    #[test]
    fn weights_split_over_copies_fit_as_one() {
        let example = |features: Vec<u32>, spam, weight| Example {
            value: 1.0 / (features.len() as f64).sqrt(),
            features,
            spam,
            weight,
        };
        let mut one = Vec::new();
        let mut split = Vec::new();
        for i in 0..30u32 {
            let spam = i % 3 == 0;
            let f = vec![u32::from(spam), 2 + i % 4];
            one.push(example(f.clone(), spam, 1.0));
            for _ in 0..4 {
                split.push(example(f.clone(), spam, 0.25));
            }
        }
        let p = Params {
            l2: 0.1,
            ham_weight: 1.0,
            max_iter: 200,
            fixed_bias: true,
        };
        let (a, b) = (fit(&one, 6, &p), fit(&split, 6, &p));
        assert!((a.bias - b.bias).abs() < 1e-12, "{a:?} {b:?}");
        assert!((a.bias - (10.0f64 / 20.0).ln()).abs() < 1e-12, "{a:?}");
        for (x, y) in a.weights.iter().zip(&b.weights) {
            assert!((x - y).abs() < 1e-6, "{a:?} {b:?}");
        }
    }
}
