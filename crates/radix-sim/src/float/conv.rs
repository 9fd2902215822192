//! Conv and ConvTranspose (NCHW, f32).
//!
//! * 1x1 / stride 1 / unpadded and general convs are GEMMs `W[Cout, K] · X[K, OH*OW]` per group.
//!   On AVX-512 CPUs they run on the packed micro-kernel of [`pgemm`] (weights packed once, input
//!   panels packed on the fly: plain rows for 1x1, im2col gathering otherwise, so no im2col
//!   buffer is materialised); elsewhere im2col blocks + the `gemm` crate. Bias and activation are
//!   applied while the output block is in registers / cache.
//! * `Cin / group == 1` (depthwise, any channel multiplier): per output plane, the input plane is
//!   copied into a zero-padded, stride-phase-split scratch so every tap is one contiguous
//!   multiply-add stream over the whole plane (3x3 taps fused), parallel over planes.
//! * ConvTranspose: `cols = Wᵀ · X` per group (GEMM), then col2im (parallel over output channels).

use std::borrow::Cow;
use std::cell::RefCell;

use radix_ir::{Activation, ConvAttrs};
use rayon::prelude::*;

use crate::float::pgemm::{self, NR, PackedA, PanelSource, gemm_packed};
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
    pub fn new(
        in_hw: [usize; 2],
        out_hw: [usize; 2],
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dil: [usize; 2],
    ) -> Self {
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
    bias_activation(0.0, act, v);
}

multiversion!(pub(crate) fn bias_activation(bias: f32, act: Activation, v: &mut [f32]) => bias_activation_body);

#[inline(always)]
fn bias_activation_body<M: Madd>(bias: f32, act: Activation, v: &mut [f32]) {
    bias_activation_row(bias, act, v);
}

/// `v = act(v + bias)` in one pass. Comparisons are written so they compile to plain min/max
/// instructions; NaN maps as in [`Activation::apply`] (to the lower bound, or 0 for Relu).
#[inline(always)]
pub(crate) fn bias_activation_row(bias: f32, act: Activation, v: &mut [f32]) {
    match act {
        Activation::None => {
            if bias != 0.0 {
                v.iter_mut().for_each(|x| *x += bias);
            }
        }
        Activation::Relu => v.iter_mut().for_each(|x| {
            let t = *x + bias;
            *x = if t > 0.0 { t } else { 0.0 };
        }),
        Activation::Clip { min, max } => v.iter_mut().for_each(|x| {
            let t = *x + bias;
            let t = if t > min { t } else { min };
            *x = if t < max { t } else { max };
        }),
        Activation::LeakyRelu { alpha } => v.iter_mut().for_each(|x| {
            let t = *x + bias;
            *x = if t < 0.0 { t * alpha } else { t };
        }),
    }
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
    /// Weights `[Cout, Cin/g * kh * kw]` when constant (else read per run from the input).
    pub weights: Option<Cow<'g, [f32]>>,
    pub bias: Option<Cow<'g, [f32]>>,
    /// GEMM convs on AVX-512: use the packed kernels ([`pgemm`]).
    use_packed: bool,
    /// Per group, the constant weights packed for [`pgemm`].
    packed: Option<Vec<PackedA>>,
}

impl<'g> ConvPlan<'g> {
    pub fn new(
        a: &ConvAttrs,
        x: &[usize],
        y: &[usize],
        weights: Option<Cow<'g, [f32]>>,
        bias: Option<Cow<'g, [f32]>>,
        portable: bool,
    ) -> Self {
        let geom = Geom::new(
            [x[2], x[3]],
            [y[2], y[3]],
            a.kernel,
            a.strides,
            a.pads,
            a.dilations,
        );
        let group = a.group.max(1);
        let cin_g = x[1] / group;
        let kind = if cin_g == 1 && group > 1 {
            ConvKind::Depthwise
        } else if a.kernel == [1, 1] && geom.sh == 1 && geom.sw == 1 && a.pads == [0; 4] {
            ConvKind::Pointwise
        } else {
            ConvKind::Im2col
        };
        let use_packed = !portable && kind != ConvKind::Depthwise && pgemm::available();
        let mut p = ConvPlan {
            geom,
            n: x[0],
            cin: x[1],
            cout: y[1],
            group,
            act: a.activation,
            kind,
            weights,
            bias,
            use_packed,
            packed: None,
        };
        if use_packed {
            p.packed = p.weights.as_deref().map(|w| p.pack(w));
        }
        p
    }

    /// Packs `[Cout, K]` weights per group for [`pgemm`].
    fn pack(&self, w: &[f32]) -> Vec<PackedA> {
        let (cout_g, k) = (self.cout / self.group, self.k());
        (0..self.group)
            .map(|g| PackedA::new(&w[g * cout_g * k..][..cout_g * k], cout_g, k))
            .collect()
    }

    /// GEMM convs through the packed AVX-512 kernels, per image and group.
    fn run_packed(&self, x: &[f32], packed: &[PackedA], bias: Option<&[f32]>, out: &mut [f32]) {
        let g = &self.geom;
        let (cin_g, cout_g, k) = (self.cin / self.group, self.cout / self.group, self.k());
        let (hw, ohw) = (g.in_size(), g.out_size());
        for n in 0..self.n {
            for (gi, pa) in packed.iter().enumerate().take(self.group) {
                let xg = &x[(n * self.cin + gi * cin_g) * hw..][..cin_g * hw];
                let c = &mut out[(n * self.cout + gi * cout_g) * ohw..][..cout_g * ohw];
                let bias = bias.map(|b| &b[gi * cout_g..(gi + 1) * cout_g]);
                match self.kind {
                    ConvKind::Pointwise => {
                        gemm_packed(pa, ohw, &RowsPanel { x: xg, k, hw }, c, ohw, bias, self.act)
                    }
                    _ => gemm_packed(
                        pa,
                        ohw,
                        &Im2colPanel { g, x: xg, cin_g },
                        c,
                        ohw,
                        bias,
                        self.act,
                    ),
                }
            }
        }
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
        if self.use_packed {
            match &self.packed {
                Some(p) => self.run_packed(x, p, bias, out),
                None => self.run_packed(x, &self.pack(w), bias, out),
            }
            return;
        }
        let g = &self.geom;
        let (cin_g, cout_g, k) = (self.cin / self.group, self.cout / self.group, self.k());
        let (hw, ohw) = (g.in_size(), g.out_size());
        let threads = rayon::current_num_threads();
        let (mb, mut nb) = plan_tiles(cout_g, ohw, k, threads);
        if self.kind == ConvKind::Im2col {
            // Keep the im2col block in L2.
            nb = nb
                .min((65536 / k.max(1)).next_multiple_of(16))
                .max(16)
                .min(ohw.max(1));
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
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(dst.ptr().add(base + r * ohw), cols)
                    };
                    bias_activation(bias.map_or(0.0, |b| b[co0 + r]), act, row);
                }
            };
            match self.kind {
                ConvKind::Pointwise => {
                    let b = MatRef {
                        data: &xg[c0..],
                        rows: cin_g,
                        cols,
                        rs: hw,
                        cs: 1,
                    };
                    // SAFETY: the block [rows × cols] at `base` (row stride ohw) is inside `out` and
                    // written by this task only.
                    unsafe { gemm_block(a, b, dst, base, ohw) };
                }
                _ => IM2COL.with_borrow_mut(|buf| {
                    if buf.len() < k * cols {
                        buf.resize(k * cols, 0.0);
                    }
                    let buf = &mut buf[..k * cols];
                    im2col(g, xg, cin_g, c0, cols, buf, cols);
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
        let layout = DwLayout::new(&g);
        let min_len = (4096 / ohw.max(1)).max(1);
        out.par_chunks_mut(ohw)
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(p, plane)| {
                let (n, co) = (p / cout, p % cout);
                let ci = co / cout_g;
                let xp = &x[(n * cin + ci) * hw..][..hw];
                let wk = &w[co * kk..][..kk];
                let b = bias.map_or(0.0, |b| b[co]);
                DW_SCRATCH
                    .with_borrow_mut(|s| depthwise_plane(&g, &layout, xp, wk, b, act, s, plane));
            });
    }
}

thread_local! {
    static IM2COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static DW_SCRATCH: RefCell<DwScratch> = RefCell::new(DwScratch::default());
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

/// B panels of a 1x1 conv: rows of the input itself.
struct RowsPanel<'a> {
    x: &'a [f32],
    k: usize,
    hw: usize,
}

impl PanelSource for RowsPanel<'_> {
    fn pack(&self, j0: usize, cols: usize, dst: &mut [f32]) {
        for (p, d) in dst.chunks_exact_mut(NR).take(self.k).enumerate() {
            d[..cols].copy_from_slice(&self.x[p * self.hw + j0..][..cols]);
        }
    }
    /// In place when few rows are streamed or they are short (measured: packing wins for many
    /// long rows, e.g. K = 144 over 56x56).
    fn direct(&self) -> Option<(&[f32], usize)> {
        (self.k <= 32 || self.hw <= 256).then_some((self.x, self.hw))
    }
}

/// B panels of a general conv: im2col of a block of output pixels.
struct Im2colPanel<'a> {
    g: &'a Geom,
    x: &'a [f32],
    cin_g: usize,
}

impl PanelSource for Im2colPanel<'_> {
    fn pack(&self, j0: usize, cols: usize, dst: &mut [f32]) {
        im2col(self.g, self.x, self.cin_g, j0, cols, dst, NR);
    }
}

/// Fills rows of `buf` (row stride `ld`) with the im2col rows of output columns
/// `c0 .. c0 + cols` (K = cin_g * kh * kw rows, order (ci, ky, kx)).
fn im2col(g: &Geom, x: &[f32], cin_g: usize, c0: usize, cols: usize, buf: &mut [f32], ld: usize) {
    let hw = g.in_size();
    for ci in 0..cin_g {
        let plane = &x[ci * hw..][..hw];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let r = (ci * g.kh + ky) * g.kw + kx;
                let row = &mut buf[r * ld..][..cols];
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
                        if hi == lo {
                            // Every column of this segment reads padding (a panel can end
                            // before the first valid column): `lo + t` may be negative here.
                        } else if g.sw == 1 {
                            let s0 = (lo as isize + t) as usize;
                            dst[lo - ow0..hi - ow0].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                        } else if g.sw == 2 {
                            let s0 = (lo as isize * 2 + t) as usize;
                            crate::simd::gather2(&src[s0..], &mut dst[lo - ow0..hi - ow0]);
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

/// Layout of the zero-padded, phase-split copy of one input plane used by the depthwise kernel.
///
/// The padded plane `P` (input at offset (pt, pl), zeros elsewhere, large enough for every tap of
/// every output) is split into `sh * sw` sub-planes `Q[a][b][i][j] = P[i*sh + a][j*sw + b]`, each
/// `hq × wq`. Tap `(ky, kx)` then reads sub-plane `(ky*dh % sh, kx*dw % sw)` at a fixed offset,
/// and the whole output plane, computed "wide" (rows of `wq`, the last `wq - ow` columns of each
/// row being junk), is one contiguous multiply-add per tap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DwLayout {
    hq: usize,
    wq: usize,
    /// Length of the wide output: `(oh - 1) * wq + ow`.
    len: usize,
}

impl DwLayout {
    pub fn new(g: &Geom) -> Self {
        let hp = (g.h + g.pt).max((g.oh.max(1) - 1) * g.sh + (g.kh.max(1) - 1) * g.dh + 1);
        let wp = (g.w + g.pl).max((g.ow.max(1) - 1) * g.sw + (g.kw.max(1) - 1) * g.dw + 1);
        let (hq, wq) = (hp.div_ceil(g.sh), wp.div_ceil(g.sw));
        DwLayout {
            hq,
            wq,
            len: (g.oh.max(1) - 1) * wq + g.ow,
        }
    }
    fn sub_size(&self) -> usize {
        self.hq * self.wq
    }
}

multiversion!(fn depthwise_plane(g: &Geom, l: &DwLayout, x: &[f32], wk: &[f32], bias: f32, act: Activation, scratch: &mut DwScratch, out: &mut [f32]) => depthwise_plane_body);

/// Per-thread buffers of the depthwise kernel.
#[derive(Default)]
pub(crate) struct DwScratch {
    padded: Vec<f32>,
    wide: Vec<f32>,
    /// Geometry `padded` was last laid out for: its zero borders are still valid for it.
    key: Option<[usize; 8]>,
}

/// One output plane of a depthwise conv: `out[oh, ow] = act(bias + Σ w[ky, kx] · x[ih, iw])`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn depthwise_plane_body<M: Madd>(
    g: &Geom,
    l: &DwLayout,
    x: &[f32],
    wk: &[f32],
    bias: f32,
    act: Activation,
    scratch: &mut DwScratch,
    out: &mut [f32],
) {
    let (sh, sw, wq, sub) = (g.sh, g.sw, l.wq, l.sub_size());
    if g.oh == 0 || g.ow == 0 {
        return;
    }
    // 1. zero-padded, phase-split copy of the input plane. Every plane of a layer writes the same
    //    cells, so the zero borders are only laid down when the geometry changes.
    let key = [g.h, g.w, sh, sw, g.pt, g.pl, l.hq, wq];
    let q = &mut scratch.padded;
    if scratch.key != Some(key) {
        q.clear();
        q.resize(sh * sw * sub, 0.0);
        scratch.key = Some(key);
    }
    for (y, row) in x.chunks_exact(g.w).enumerate() {
        let py = y + g.pt;
        let (a, i) = (py % sh, py / sh);
        if i >= l.hq {
            continue;
        }
        if sw == 1 {
            let dst = &mut q[a * sub + i * wq + g.pl..][..g.w.min(wq - g.pl.min(wq))];
            let n = dst.len();
            dst.copy_from_slice(&row[..n]);
        } else if sw == 2 && g.w >= 2 && (g.w + g.pl).div_ceil(2) <= wq {
            // x = 2k goes to phase pl % 2 at column (2k + pl) / 2, x = 2k + 1 to the other one.
            let b_even = g.pl % 2;
            let (j_even, j_odd) = (g.pl / 2, g.pl.div_ceil(2));
            let pairs = g.w / 2;
            let base = (a * 2) * sub + i * wq;
            let (lo, hi) = q[base..].split_at_mut(sub);
            let (ev, od) = if b_even == 0 {
                (&mut lo[j_even..], &mut hi[j_odd..])
            } else {
                (&mut hi[j_even..], &mut lo[j_odd..])
            };
            crate::simd::deinterleave2(row, &mut ev[..pairs + g.w % 2], &mut od[..pairs]);
        } else {
            for b in 0..sw {
                // columns x with (x + pl) % sw == b land in sub-plane column (x + pl) / sw
                let x0 = (b + sw - g.pl % sw) % sw;
                if x0 >= g.w {
                    continue;
                }
                let j0 = (x0 + g.pl) / sw;
                let cnt = (g.w - x0).div_ceil(sw).min(wq.saturating_sub(j0));
                let dst = &mut q[(a * sw + b) * sub + i * wq + j0..][..cnt];
                let src = &row[x0..];
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = src[k * sw];
                }
            }
        }
    }
    // 2. one contiguous multiply-add stream per tap over the "wide" output (rows of wq)
    let q = &scratch.padded;
    let n = l.len;
    let tap = |ky: usize, kx: usize| -> &[f32] {
        let (r, c) = (ky * g.dh, kx * g.dw);
        let off = ((r % sh) * sw + c % sw) * sub + (r / sh) * wq + c / sw;
        &q[off..off + n]
    };
    if g.kh == 3 && g.kw == 3 {
        let t = [
            tap(0, 0),
            tap(0, 1),
            tap(0, 2),
            tap(1, 0),
            tap(1, 1),
            tap(1, 2),
            tap(2, 0),
            tap(2, 1),
            tap(2, 2),
        ];
        let w: [f32; 9] = [
            wk[0], wk[1], wk[2], wk[3], wk[4], wk[5], wk[6], wk[7], wk[8],
        ];
        if g.ow >= 32 {
            // Wide rows: straight into the output rows (no staging copy).
            for (oh, orow) in out.chunks_exact_mut(g.ow).enumerate() {
                dw3x3_run::<M>(&t, &w, bias, act, oh * wq, orow);
            }
        } else {
            // Narrow rows: one long loop over the wide rows (a single vector remainder per
            // plane), then a copy.
            let wide = &mut scratch.wide;
            if wide.len() < n {
                wide.resize(n, 0.0);
            }
            dw3x3_run::<M>(&t, &w, bias, act, 0, &mut wide[..n]);
            for (oh, orow) in out.chunks_exact_mut(g.ow).enumerate() {
                orow.copy_from_slice(&wide[oh * wq..][..g.ow]);
            }
        }
    } else {
        let wide = &mut scratch.wide;
        wide.clear();
        wide.resize(n, bias);
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let wv = wk[ky * g.kw + kx];
                for (o, &v) in wide.iter_mut().zip(tap(ky, kx)) {
                    *o = M::madd(wv, v, *o);
                }
            }
        }
        for (oh, orow) in out.chunks_exact_mut(g.ow).enumerate() {
            orow.copy_from_slice(&wide[oh * wq..][..g.ow]);
            bias_activation_row(0.0, act, orow);
        }
    }
}

/// Fused 3x3 taps over `o.len()` wide positions from `from`, then bias and activation.
/// (A function, not a closure: it must inline into the `#[target_feature]` caller.)
#[inline(always)]
fn dw3x3_run<M: Madd>(
    t: &[&[f32]; 9],
    w: &[f32; 9],
    bias: f32,
    act: Activation,
    from: usize,
    o: &mut [f32],
) {
    let len = o.len();
    let s: [&[f32]; 9] = [
        &t[0][from..from + len],
        &t[1][from..from + len],
        &t[2][from..from + len],
        &t[3][from..from + len],
        &t[4][from..from + len],
        &t[5][from..from + len],
        &t[6][from..from + len],
        &t[7][from..from + len],
        &t[8][from..from + len],
    ];
    for i in 0..len {
        let mut acc = M::madd(w[0], s[0][i], bias);
        acc = M::madd(w[1], s[1][i], acc);
        acc = M::madd(w[2], s[2][i], acc);
        acc = M::madd(w[3], s[3][i], acc);
        acc = M::madd(w[4], s[4][i], acc);
        acc = M::madd(w[5], s[5][i], acc);
        acc = M::madd(w[6], s[6][i], acc);
        acc = M::madd(w[7], s[7][i], acc);
        acc = M::madd(w[8], s[8][i], acc);
        o[i] = acc;
    }
    bias_activation_row(0.0, act, o);
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
    pub fn new(
        a: &ConvAttrs,
        x: &[usize],
        y: &[usize],
        weights: Option<&[f32]>,
        bias: Option<Cow<'g, [f32]>>,
    ) -> Self {
        let geom = Geom::new(
            [x[2], x[3]],
            [y[2], y[3]],
            a.kernel,
            a.strides,
            a.pads,
            a.dilations,
        );
        let group = a.group.max(1);
        let mut p = ConvTransposePlan {
            geom,
            n: x[0],
            cin: x[1],
            cout: y[1],
            group,
            act: a.activation,
            weights: None,
            bias,
        };
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
                planes
                    .par_chunks_mut(ohw)
                    .enumerate()
                    .with_min_len(min_len)
                    .for_each(|(co, plane)| {
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
