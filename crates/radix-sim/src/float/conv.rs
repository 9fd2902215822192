//! Conv and ConvTranspose (NCHW, f32).
//!
//! * 1x1 / stride 1 / unpadded: a GEMM `W[Cout, Cin] · X[Cin, H*W]` straight on the input.
//! * `Cin / group == 1` (depthwise, any channel multiplier): direct loops per output plane,
//!   parallel over planes; strided inputs are split into phases so every tap is a contiguous,
//!   vectorised multiply-add; 3-wide kernels fuse their three taps.
//! * everything else: im2col on blocks of output columns (per group) + GEMM, blocks in parallel.
//!
//! Bias and the fused activation are applied in the epilogue of each block.
//! ConvTranspose: `cols = Wᵀ · X` per group (GEMM), then col2im (parallel over output channels).

use std::borrow::Cow;
use std::cell::RefCell;

use radix_ir::{Activation, ConvAttrs};
use rayon::prelude::*;

use crate::gemm::{MatRef, SharedMut, par_sgemm, plan_tiles};
use crate::simd::{Madd, multiversion};

/// Spatial geometry of a convolution or pooling window (one axis pair, NCHW).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pt: usize,
    pub pl: usize,
    pub dh: usize,
    pub dw: usize,
}

impl Geom {
    pub fn new(in_hw: [usize; 2], out_hw: [usize; 2], kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4], dil: [usize; 2]) -> Self {
        Geom {
            h: in_hw[0],
            w: in_hw[1],
            oh: out_hw[0],
            ow: out_hw[1],
            kh: kernel[0],
            kw: kernel[1],
            sh: strides[0].max(1),
            sw: strides[1].max(1),
            pt: pads[0],
            pl: pads[1],
            dh: dilations_or_one(dil[0]),
            dw: dilations_or_one(dil[1]),
        }
    }
    pub fn in_size(&self) -> usize {
        self.h * self.w
    }
    pub fn out_size(&self) -> usize {
        self.oh * self.ow
    }
}

fn dilations_or_one(d: usize) -> usize {
    d.max(1)
}

/// Applies a fused activation to a run of values.
#[inline]
pub(crate) fn apply_activation(act: Activation, v: &mut [f32]) {
    match act {
        Activation::None => {}
        Activation::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Clip { min, max } => v.iter_mut().for_each(|x| *x = x.max(min).min(max)),
        Activation::LeakyRelu { alpha } => v.iter_mut().for_each(|x| {
            if *x < 0.0 {
                *x *= alpha
            }
        }),
    }
}

/// Adds `bias` then applies `act` to a run of values.
#[inline]
pub(crate) fn bias_activation(bias: f32, act: Activation, v: &mut [f32]) {
    if bias != 0.0 {
        v.iter_mut().for_each(|x| *x += bias);
    }
    apply_activation(act, v);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvKind {
    Pointwise,
    Depthwise,
    Im2col,
}

/// A Conv prepared once: geometry, algorithm and packed weights (`[Cout, Cin/g * kh * kw]`).
#[derive(Debug)]
pub(crate) struct ConvPlan<'g> {
    pub geom: Geom,
    pub n: usize,
    pub cin: usize,
    pub cout: usize,
    pub group: usize,
    pub act: Activation,
    pub kind: ConvKind,
    /// Packed weights when constant (else packed per run from the input tensor).
    pub weights: Option<Cow<'g, [f32]>>,
    pub bias: Option<Cow<'g, [f32]>>,
}

impl<'g> ConvPlan<'g> {
    pub fn new(a: &ConvAttrs, x: &[usize], y: &[usize], weights: Option<Cow<'g, [f32]>>, bias: Option<Cow<'g, [f32]>>) -> Self {
        let geom = Geom::new([x[2], x[3]], [y[2], y[3]], a.kernel, a.strides, a.pads, a.dilations);
        let group = a.group.max(1);
        let cin_g = x[1] / group;
        let kind = if cin_g == 1 && group > 1 {
            ConvKind::Depthwise
        } else if a.kernel == [1, 1] && geom.sh == 1 && geom.sw == 1 && a.pads == [0; 4] {
            ConvKind::Pointwise
        } else {
            ConvKind::Im2col
        };
        ConvPlan { geom, n: x[0], cin: x[1], cout: y[1], group, act: a.activation, kind, weights, bias }
    }

    fn k(&self) -> usize {
        self.cin / self.group * self.geom.kh * self.geom.kw
    }

    /// Runs the conv: `x` is `[N, Cin, H, W]`, `w` the packed weights, `out` `[N, Cout, OH, OW]`.
    pub fn run(&self, x: &[f32], w: &[f32], out: &mut [f32]) {
        let bias = self.bias.as_deref();
        match self.kind {
            ConvKind::Depthwise => self.run_depthwise(x, w, bias, out),
            ConvKind::Pointwise | ConvKind::Im2col => self.run_gemm(x, w, bias, out),
        }
    }

    fn run_gemm(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let g = &self.geom;
        let (cin_g, cout_g, k) = (self.cin / self.group, self.cout / self.group, self.k());
        let (hw, ohw) = (g.in_size(), g.out_size());
        let threads = rayon::current_num_threads();
        let (mb, mut nb) = plan_tiles(cout_g, ohw, k, threads);
        if self.kind == ConvKind::Im2col {
            // Keep the im2col block in L2.
            nb = nb.min((65536 / k.max(1)).next_multiple_of(16)).max(16).min(ohw.max(1));
        }
        let (mt, nt) = (cout_g.div_ceil(mb), ohw.div_ceil(nb));
        let per_group = mt * nt;
        let tasks = self.n * self.group * per_group;
        let dst = SharedMut(out.as_mut_ptr());
        let act = self.act;
        let task = |t: usize| {
            let (ng, rest) = (t / per_group, t % per_group);
            let (n, gi) = (ng / self.group, ng % self.group);
            let (r0, c0) = ((rest / nt) * mb, (rest % nt) * nb);
            let (rows, cols) = (mb.min(cout_g - r0), nb.min(ohw - c0));
            let xg = &x[(n * self.cin + gi * cin_g) * hw..][..cin_g * hw];
            let a = MatRef::row_major(&w[(gi * cout_g + r0) * k..][..rows * k], rows, k);
            let co0 = gi * cout_g + r0;
            let base = (n * self.cout + co0) * ohw + c0;
            let finish = |dst: SharedMut| {
                for r in 0..rows {
                    // SAFETY: row r of this task's block; blocks of tasks are disjoint and inside
                    // `out` ([N, Cout, OH, OW]).
                    let row = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(base + r * ohw), cols) };
                    bias_activation(bias.map_or(0.0, |b| b[co0 + r]), act, row);
                }
            };
            match self.kind {
                ConvKind::Pointwise => {
                    let b = MatRef { data: &xg[c0..], rows: cin_g, cols, rs: hw, cs: 1 };
                    // SAFETY: the block [rows × cols] at `base` (row stride ohw) is inside `out` and
                    // written by this task only.
                    unsafe { gemm_block(a, b, dst, base, ohw) };
                }
                _ => IM2COL.with_borrow_mut(|buf| {
                    if buf.len() < k * cols {
                        buf.resize(k * cols, 0.0);
                    }
                    let buf = &mut buf[..k * cols];
                    im2col(g, xg, cin_g, c0, cols, buf);
                    // SAFETY: as above.
                    unsafe { gemm_block(a, MatRef::row_major(buf, k, cols), dst, base, ohw) };
                }),
            }
            finish(dst);
        };
        if tasks == 1 {
            task(0);
        } else {
            (0..tasks).into_par_iter().for_each(task);
        }
    }

    fn run_depthwise(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let g = self.geom;
        let (hw, ohw, kk) = (g.in_size(), g.out_size(), g.kh * g.kw);
        let cout_g = self.cout / self.group;
        let (cin, cout, act) = (self.cin, self.cout, self.act);
        if ohw == 0 {
            return;
        }
        let min_len = (4096 / ohw.max(1)).max(1);
        out.par_chunks_mut(ohw).enumerate().with_min_len(min_len).for_each(|(p, plane)| {
            let (n, co) = (p / cout, p % cout);
            let ci = co / cout_g;
            let xp = &x[(n * cin + ci) * hw..][..hw];
            let wk = &w[co * kk..][..kk];
            let b = bias.map_or(0.0, |b| b[co]);
            PHASES.with_borrow_mut(|buf| depthwise_plane(&g, xp, wk, b, buf, plane));
            apply_activation(act, plane);
        });
    }
}

thread_local! {
    static IM2COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PHASES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// # Safety
/// The `a.rows × b.cols` block at `dst + base` with row stride `ldc` must be in bounds and written
/// by nobody else during the call.
unsafe fn gemm_block(a: MatRef<'_>, b: MatRef<'_>, dst: SharedMut, base: usize, ldc: usize) {
    let rows = a.rows;
    let cols = b.cols;
    // SAFETY: forwarded from the caller.
    let c = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(base), (rows - 1) * ldc + cols) };
    crate::gemm::sgemm(a, b, c, ldc, false);
}

/// Fills `buf[K × cols]` with the im2col rows of output columns `c0 .. c0 + cols`
/// (K = cin_g * kh * kw, row order (ci, ky, kx)).
fn im2col(g: &Geom, x: &[f32], cin_g: usize, c0: usize, cols: usize, buf: &mut [f32]) {
    let hw = g.in_size();
    for ci in 0..cin_g {
        let plane = &x[ci * hw..][..hw];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let r = (ci * g.kh + ky) * g.kw + kx;
                let row = &mut buf[r * cols..][..cols];
                let t = (kx * g.dw) as isize - g.pl as isize;
                let mut j = 0;
                while j < cols {
                    let pos = c0 + j;
                    let (oh, ow0) = (pos / g.ow, pos % g.ow);
                    let seg = (g.ow - ow0).min(cols - j);
                    let dst = &mut row[j..j + seg];
                    let ih = (oh * g.sh + ky * g.dh) as isize - g.pt as isize;
                    if ih < 0 || ih >= g.h as isize {
                        dst.fill(0.0);
                    } else {
                        let src = &plane[ih as usize * g.w..][..g.w];
                        // ow in [lo, hi) reads iw = ow * sw + t inside [0, W).
                        let (lo, hi) = valid_range(t, g.sw, g.w, ow0, ow0 + seg);
                        dst[..lo - ow0].fill(0.0);
                        dst[hi - ow0..].fill(0.0);
                        if g.sw == 1 {
                            let s0 = (lo as isize + t) as usize;
                            dst[lo - ow0..hi - ow0].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                        } else {
                            for (o, d) in (lo..hi).zip(&mut dst[lo - ow0..hi - ow0]) {
                                *d = src[(o as isize * g.sw as isize + t) as usize];
                            }
                        }
                    }
                    j += seg;
                }
            }
        }
    }
}

/// The sub-range of `[from, to)` of output positions `o` with `o * s + t` in `[0, len)`.
#[inline]
fn valid_range(t: isize, s: usize, len: usize, from: usize, to: usize) -> (usize, usize) {
    let s = s as isize;
    // smallest o with o*s + t >= 0
    let lo = if t >= 0 { 0 } else { (-t + s - 1) / s };
    // largest o with o*s + t <= len - 1, plus one
    let last = len as isize - 1 - t;
    let hi = if last < 0 { 0 } else { last / s + 1 };
    let lo = (lo.max(from as isize) as usize).min(to);
    let hi = (hi.max(0) as usize).clamp(lo, to);
    (lo, hi)
}

/// Widest kernel the phase-split depthwise loop handles (wider ones take the strided loop).
const MAX_TAPS: usize = 16;

multiversion!(fn depthwise_plane(g: &Geom, x: &[f32], wk: &[f32], bias: f32, phases: &mut Vec<f32>, out: &mut [f32]) => depthwise_plane_body);

/// One output plane of a depthwise conv: `out[oh, ow] = bias + Σ w[ky, kx] · x[ih, iw]`.
///
/// With stride `sw > 1` each input row is first split into `sw` phases (`x[r, j*sw + p]`), so a
/// tap reads a contiguous run of one phase.
#[inline(always)]
fn depthwise_plane_body<M: Madd>(g: &Geom, x: &[f32], wk: &[f32], bias: f32, phases: &mut Vec<f32>, out: &mut [f32]) {
    let (w, sw) = (g.w, g.sw);
    // Phase p of a row starts at poff[p] and holds plen[p] values.
    let mut poff = [0usize; 8];
    let mut plen = [0usize; 8];
    let src: &[f32] = if sw == 1 {
        plen[0] = w;
        x
    } else if sw <= 8 {
        let mut off = 0;
        for p in 0..sw {
            poff[p] = off;
            plen[p] = if p < w { (w - p).div_ceil(sw) } else { 0 };
            off += plen[p];
        }
        phases.clear();
        phases.resize(x.len(), 0.0);
        for (src_row, dst_row) in x.chunks_exact(w).zip(phases.chunks_exact_mut(w)) {
            for p in 0..sw {
                for (j, d) in dst_row[poff[p]..poff[p] + plen[p]].iter_mut().enumerate() {
                    *d = src_row[j * sw + p];
                }
            }
        }
        phases
    } else {
        return depthwise_plane_strided::<M>(g, x, wk, bias, out);
    };
    if g.kw > MAX_TAPS {
        return depthwise_plane_strided::<M>(g, x, wk, bias, out);
    }
    // Tap kx reads phase p at offset q (output column ow -> phase column ow + q), valid for
    // ow in [lo, hi).
    let mut taps = [(0usize, 0isize, 0usize, 0usize); MAX_TAPS];
    for (kx, tap) in taps.iter_mut().enumerate().take(g.kw) {
        let t = (kx * g.dw) as isize - g.pl as isize;
        let (p, q) = (t.rem_euclid(sw as isize) as usize, t.div_euclid(sw as isize));
        // ow valid when 0 <= ow + q < plen[p]
        let lo = (-q).max(0) as usize;
        let hi = (plen[p] as isize - q).clamp(0, g.ow as isize) as usize;
        *tap = (p, q, lo.min(hi), hi);
    }
    let taps = &taps[..g.kw];
    let fuse3 = g.kw == 3;
    let (clo, chi) = if fuse3 {
        let lo = taps.iter().map(|t| t.2).max().unwrap_or(0);
        let hi = taps.iter().map(|t| t.3).min().unwrap_or(0);
        (lo, hi.max(lo))
    } else {
        (0, 0)
    };
    for (oh, orow) in out.chunks_exact_mut(g.ow).enumerate() {
        orow.fill(bias);
        for ky in 0..g.kh {
            let ih = (oh * g.sh + ky * g.dh) as isize - g.pt as isize;
            if ih < 0 || ih >= g.h as isize {
                continue;
            }
            let row = &src[ih as usize * w..][..w];
            let wr = &wk[ky * g.kw..][..g.kw];
            let tap_src = |kx: usize, lo: usize, hi: usize| -> &[f32] {
                let (p, q, _, _) = taps[kx];
                let s = (poff[p] as isize + lo as isize + q) as usize;
                &row[s..s + (hi - lo)]
            };
            if fuse3 && chi > clo {
                let n = chi - clo;
                let (a0, a1, a2) = (tap_src(0, clo, chi), tap_src(1, clo, chi), tap_src(2, clo, chi));
                let (w0, w1, w2) = (wr[0], wr[1], wr[2]);
                let o = &mut orow[clo..chi];
                let (a0, a1, a2) = (&a0[..n], &a1[..n], &a2[..n]);
                for i in 0..n {
                    o[i] = M::madd(w2, a2[i], M::madd(w1, a1[i], M::madd(w0, a0[i], o[i])));
                }
                // Edges each tap covers outside the common range.
                for (kx, &wv) in wr.iter().enumerate() {
                    let (_, _, lo, hi) = taps[kx];
                    for (a, b) in [(lo, clo.min(hi)), (chi.max(lo), hi)] {
                        if b > a {
                            let s = tap_src(kx, a, b);
                            for (o, &v) in orow[a..b].iter_mut().zip(s) {
                                *o = M::madd(wv, v, *o);
                            }
                        }
                    }
                }
            } else {
                for (kx, &wv) in wr.iter().enumerate() {
                    let (_, _, lo, hi) = taps[kx];
                    if hi > lo {
                        let s = tap_src(kx, lo, hi);
                        for (o, &v) in orow[lo..hi].iter_mut().zip(s) {
                            *o = M::madd(wv, v, *o);
                        }
                    }
                }
            }
        }
    }
}

/// Plain strided loops for very large strides (> 8).
#[inline(always)]
fn depthwise_plane_strided<M: Madd>(g: &Geom, x: &[f32], wk: &[f32], bias: f32, out: &mut [f32]) {
    for (oh, orow) in out.chunks_exact_mut(g.ow).enumerate() {
        orow.fill(bias);
        for ky in 0..g.kh {
            let ih = (oh * g.sh + ky * g.dh) as isize - g.pt as isize;
            if ih < 0 || ih >= g.h as isize {
                continue;
            }
            let row = &x[ih as usize * g.w..][..g.w];
            for kx in 0..g.kw {
                let t = (kx * g.dw) as isize - g.pl as isize;
                let (lo, hi) = valid_range(t, g.sw, g.w, 0, g.ow);
                let wv = wk[ky * g.kw + kx];
                for (ow, o) in orow.iter_mut().enumerate().take(hi).skip(lo) {
                    *o = M::madd(wv, row[(ow as isize * g.sw as isize + t) as usize], *o);
                }
            }
        }
    }
}

/// A ConvTranspose prepared once. Weights packed per group as `Wgᵀ`: `[Cout/g * kh * kw, Cin/g]`.
#[derive(Debug)]
pub(crate) struct ConvTransposePlan<'g> {
    pub geom: Geom,
    pub n: usize,
    pub cin: usize,
    pub cout: usize,
    pub group: usize,
    pub act: Activation,
    pub weights: Option<Vec<f32>>,
    pub bias: Option<Cow<'g, [f32]>>,
}

impl<'g> ConvTransposePlan<'g> {
    /// `geom` is stated from the *output's* point of view: `h, w` the input, `oh, ow` the output,
    /// pads as in ONNX.
    pub fn new(a: &ConvAttrs, x: &[usize], y: &[usize], weights: Option<&[f32]>, bias: Option<Cow<'g, [f32]>>) -> Self {
        let geom = Geom::new([x[2], x[3]], [y[2], y[3]], a.kernel, a.strides, a.pads, a.dilations);
        let group = a.group.max(1);
        let mut p = ConvTransposePlan { geom, n: x[0], cin: x[1], cout: y[1], group, act: a.activation, weights: None, bias };
        p.weights = weights.map(|w| p.pack(w));
        p
    }

    /// Packs ONNX weights `[Cin, Cout/g, kh, kw]` into per-group `Wgᵀ`.
    pub fn pack(&self, w: &[f32]) -> Vec<f32> {
        let (cin_g, cout_g) = (self.cin / self.group, self.cout / self.group);
        let r = cout_g * self.geom.kh * self.geom.kw;
        let mut out = vec![0.0; self.group * r * cin_g];
        for g in 0..self.group {
            let dst = &mut out[g * r * cin_g..][..r * cin_g];
            for ci in 0..cin_g {
                let src = &w[(g * cin_g + ci) * r..][..r];
                for (row, &v) in src.iter().enumerate() {
                    dst[row * cin_g + ci] = v;
                }
            }
        }
        out
    }

    pub fn run(&self, x: &[f32], w: &[f32], out: &mut [f32]) {
        let g = self.geom;
        let (cin_g, cout_g) = (self.cin / self.group, self.cout / self.group);
        let (hw, ohw, kk) = (g.in_size(), g.out_size(), g.kh * g.kw);
        let r = cout_g * kk;
        let mut cols = vec![0.0f32; r * hw];
        for n in 0..self.n {
            for gi in 0..self.group {
                let xg = &x[(n * self.cin + gi * cin_g) * hw..][..cin_g * hw];
                let a = MatRef::row_major(&w[gi * r * cin_g..][..r * cin_g], r, cin_g);
                par_sgemm(a, MatRef::row_major(xg, cin_g, hw), &mut cols, hw, None);
                let planes = &mut out[(n * self.cout + gi * cout_g) * ohw..][..cout_g * ohw];
                let cols = &cols;
                let min_len = (4096 / ohw.max(1)).max(1);
                planes.par_chunks_mut(ohw).enumerate().with_min_len(min_len).for_each(|(co, plane)| {
                    let b = self.bias.as_deref().map_or(0.0, |b| b[gi * cout_g + co]);
                    plane.fill(b);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let src = &cols[((co * g.kh + ky) * g.kw + kx) * hw..][..hw];
                            col2im_tap(&g, ky, kx, src, plane);
                        }
                    }
                    apply_activation(self.act, plane);
                });
            }
        }
    }
}

/// Adds one kernel tap's contributions: input (ih, iw) lands on
/// (ih*sh + ky*dh - pt, iw*sw + kx*dw - pl) when that is inside the output.
fn col2im_tap(g: &Geom, ky: usize, kx: usize, src: &[f32], plane: &mut [f32]) {
    let t = (kx * g.dw) as isize - g.pl as isize;
    // iw valid when 0 <= iw*sw + t < ow
    let (lo, hi) = valid_range(t, g.sw, g.ow, 0, g.w);
    if lo >= hi {
        return;
    }
    for ih in 0..g.h {
        let oh = (ih * g.sh + ky * g.dh) as isize - g.pt as isize;
        if oh < 0 || oh >= g.oh as isize {
            continue;
        }
        let orow = &mut plane[oh as usize * g.ow..][..g.ow];
        let irow = &src[ih * g.w..][..g.w];
        if g.sw == 1 {
            let o0 = (lo as isize + t) as usize;
            for (o, &v) in orow[o0..o0 + (hi - lo)].iter_mut().zip(&irow[lo..hi]) {
                *o += v;
            }
        } else {
            for (iw, &v) in irow.iter().enumerate().take(hi).skip(lo) {
                orow[(iw as isize * g.sw as isize + t) as usize] += v;
            }
        }
    }
}
