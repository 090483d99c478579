//! The loss curve as a PNG: every step's loss as a light dot, its moving average as a line,
//! log-scaled loss axis with a grid line per power of ten (no text: the numbers are in
//! `train/loss.csv`).

use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::TrainError;
use crate::log_row::LogRow;

const W: u32 = 800;
const H: u32 = 400;
const MARGIN: u32 = 20;

/// Draws `history` into a PNG at `path` (PNG whatever the extension).
///
/// # Errors
/// [`TrainError::Io`] if the file cannot be written.
pub fn loss_curve(history: &[LogRow], path: &Path) -> Result<(), TrainError> {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let losses: Vec<(f64, f64)> = history
        .iter()
        .filter(|r| r.loss.is_finite() && r.loss > 0.0)
        .map(|r| (r.step as f64, f64::from(r.loss).log10()))
        .collect();
    let axis = Rgb([0, 0, 0]);
    for x in MARGIN..W - MARGIN {
        img.put_pixel(x, H - MARGIN, axis);
    }
    for y in MARGIN..=H - MARGIN {
        img.put_pixel(MARGIN, y, axis);
    }
    if let (Some(first), Some(last)) = (losses.first(), losses.last()) {
        let (lo, hi) = losses
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, l)| {
                (lo.min(l), hi.max(l))
            });
        let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
        let (x0, x1) = (first.0, last.0.max(first.0 + 1.0));
        let px = |s: f64| MARGIN as f64 + (s - x0) / (x1 - x0) * f64::from(W - 2 * MARGIN - 1);
        let py = |l: f64| f64::from(H - MARGIN) - (l - lo) / (hi - lo) * f64::from(H - 2 * MARGIN);
        let mut decade = lo;
        while decade <= hi {
            let y = py(decade).round() as u32;
            for x in (MARGIN..W - MARGIN).step_by(4) {
                img.put_pixel(x, y.min(H - 1), Rgb([200, 200, 200]));
            }
            decade += 1.0;
        }
        for &(s, l) in &losses {
            put(&mut img, px(s), py(l), Rgb([170, 190, 230]));
        }
        // cannot fail: `losses` has a first element (matched above).
        let mut avg = losses[0].1;
        let mut prev: Option<(f64, f64)> = None;
        for &(s, l) in &losses {
            avg = 0.95 * avg + 0.05 * l;
            let p = (px(s), py(avg));
            if let Some(q) = prev {
                line(&mut img, q, p, Rgb([20, 60, 200]));
            }
            prev = Some(p);
        }
    }
    img.save_with_format(path, ImageFormat::Png)
        .map_err(|e| TrainError::io(path, std::io::Error::other(e.to_string())))
}

fn put(img: &mut RgbImage, x: f64, y: f64, c: Rgb<u8>) {
    if x >= 0.0 && y >= 0.0 && x < f64::from(W) && y < f64::from(H) {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), c: Rgb<u8>) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        put(img, x, y, c);
        put(img, x, y + 1.0, c);
    }
}
