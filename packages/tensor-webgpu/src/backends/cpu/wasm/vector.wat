;; f32 elementwise and row kernels, WebAssembly SIMD128. Hand-written; assembled by build.mjs into vector.wasm.ts.
;;
;; Every kernel takes byte addresses into the exported memory and a length n in floats, and processes
;; ceil(n/4) vectors: the caller keeps every region 16-byte aligned and padded to a multiple of 4 floats,
;; so the padding lanes compute garbage that is never copied out. In-place use (dst = src) is fine.
;;
;; exp: Cephes expf. n = round(x log2 e); r = x - n ln2 in two steps (the high part of ln2 has 9
;; significant bits, so n * hi is exact for |n| < 2^15); e^r by a degree-7 polynomial on |r| <= ln2/2;
;; then scaled by 2^n as two factors 2^(n>>1) and 2^(n - n>>1), each a normal float, so results that
;; overflow become +Inf and results in the subnormal range round once instead of flushing to zero.
;; x is clamped to [-104, 89] first (beyond it the result is 0 or +Inf anyway); NaN in gives NaN out.
(module
  (import "js" "log" (func $log (param f64) (result f64)))
  (memory (export "memory") 1)

  (func $exp4 (param $x v128) (result v128)
    (local $t v128) (local $n v128) (local $r v128) (local $p v128) (local $k v128) (local $k1 v128)
    ;; pmax/pmin are single instructions (min/max need NaN fix-ups) and keep a NaN x, since every
    ;; comparison with NaN is false.
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (v128.const f32x4 -104 -104 -104 -104))
                              (v128.const f32x4 89 89 89 89)))
    ;; Adding 1.5 * 2^23 rounds x log2 e to an integer (nearest, ties to even) held in the low mantissa
    ;; bits: subtracting it back gives n as a float, subtracting its bit pattern gives n as an i32.
    (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
                             (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $n (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $k (i32x4.sub (local.get $t) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    ;; p = ((((c5 r + c4) r + c3) r + c2) r + c1) r + c0; e^r = 1 + r + r^2 p
    (local.set $p (f32x4.add (f32x4.mul (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4) (local.get $r))
                             (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
                             (v128.const f32x4 1 1 1 1)))
    ;; n is in [-150, 129]: both halves lie in [-75, 65], so (h + 127) << 23 is a normal float's bits.
    (local.set $k1 (i32x4.shr_s (local.get $k) (i32.const 1)))
    (local.set $k (i32x4.sub (local.get $k) (local.get $k1)))
    (f32x4.mul
      (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (local.get $k1) (v128.const i32x4 127 127 127 127)) (i32.const 23)))
      (i32x4.shl (i32x4.add (local.get $k) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; 1 / (1 + e^-x), evaluated through t = e^-|x| so that no intermediate overflows:
  ;; x >= 0: 1 / (1 + t); x < 0: t / (1 + t) (keeps tiny results instead of 1/Inf = 0).
  (func $sigmoid4 (param $x v128) (result v128)
    (local $t v128) (local $d v128)
    (local.set $t (call $exp4 (f32x4.neg (f32x4.abs (local.get $x)))))
    (local.set $d (f32x4.add (local.get $t) (v128.const f32x4 1 1 1 1)))
    (v128.bitselect
      (f32x4.div (local.get $t) (local.get $d))
      (f32x4.div (v128.const f32x4 1 1 1 1) (local.get $d))
      (f32x4.lt (local.get $x) (v128.const f32x4 0 0 0 0))))

  ;; silu_grad(x, g) = g s (1 + x (1 - s)), with s and 1 - s = sigmoid(-x) taken from the two branches of
  ;; $sigmoid4: 1 - s computed in f32 would keep only a few bits of a large x's tail, which x then multiplies.
  (func $silu_grad4 (param $x v128) (param $g v128) (result v128)
    (local $t v128) (local $d v128) (local $lo v128) (local $hi v128) (local $neg v128)
    (local.set $t (call $exp4 (f32x4.neg (f32x4.abs (local.get $x)))))
    (local.set $d (f32x4.add (local.get $t) (v128.const f32x4 1 1 1 1)))
    (local.set $lo (f32x4.div (local.get $t) (local.get $d)))
    (local.set $hi (f32x4.div (v128.const f32x4 1 1 1 1) (local.get $d)))
    (local.set $neg (f32x4.lt (local.get $x) (v128.const f32x4 0 0 0 0)))
    (f32x4.mul (f32x4.mul (local.get $g) (v128.bitselect (local.get $lo) (local.get $hi) (local.get $neg)))
      (f32x4.add (v128.const f32x4 1 1 1 1)
        (f32x4.mul (local.get $x) (v128.bitselect (local.get $hi) (local.get $lo) (local.get $neg))))))

  ;; Cephes tanhf: an odd polynomial below |x| = 0.625 (where 1 - 2/(e^2x + 1) would cancel), else
  ;; 1 - 2 / (e^2|x| + 1). Computed on |x| and the sign of x put back, so tanh(-0) = -0.
  (func $tanh4 (param $x v128) (result v128)
    (local $a v128) (local $z v128) (local $p v128) (local $big v128)
    (local.set $a (f32x4.abs (local.get $x)))
    (local.set $z (f32x4.mul (local.get $a) (local.get $a)))
    (local.set $p (f32x4.add (f32x4.mul (v128.const f32x4 -5.70498872745e-3 -5.70498872745e-3 -5.70498872745e-3 -5.70498872745e-3) (local.get $z))
                             (v128.const f32x4 2.06390887954e-2 2.06390887954e-2 2.06390887954e-2 2.06390887954e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z)) (v128.const f32x4 -5.37397155531e-2 -5.37397155531e-2 -5.37397155531e-2 -5.37397155531e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z)) (v128.const f32x4 1.33314422036e-1 1.33314422036e-1 1.33314422036e-1 1.33314422036e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z)) (v128.const f32x4 -3.33332819422e-1 -3.33332819422e-1 -3.33332819422e-1 -3.33332819422e-1)))
    (local.set $p (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $z)) (local.get $a)) (local.get $a)))
    (local.set $big
      (f32x4.sub (v128.const f32x4 1 1 1 1)
        (f32x4.div (v128.const f32x4 2 2 2 2)
          (f32x4.add (call $exp4 (f32x4.add (local.get $a) (local.get $a))) (v128.const f32x4 1 1 1 1)))))
    (v128.or
      (v128.bitselect (local.get $p) (local.get $big) (f32x4.lt (local.get $a) (v128.const f32x4 0.625 0.625 0.625 0.625)))
      (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; ---- elementwise kernels: one loop each for unary and binary, the op picked per vector by a
  ;; br_table (always the same arm within a call, so the branch predicts perfectly) ----

  ;; Unary ops by code: 0 exp, 1 sigmoid, 2 silu, 3 tanh.
  (func $unary4 (param $op i32) (param $x v128) (result v128)
    (block $tanh (block $silu (block $sigmoid (block $exp
      (br_table $exp $sigmoid $silu $tanh (local.get $op)))
      (return (call $exp4 (local.get $x))))
      (return (call $sigmoid4 (local.get $x))))
      (return (f32x4.mul (local.get $x) (call $sigmoid4 (local.get $x)))))
    (call $tanh4 (local.get $x)))

  ;; Binary ops by code, in the TypeScript path's association order: 0 add, 1 sub, 2 mul, 3 div,
  ;; 4 silu_grad(x, g) = g s (1 + x (1 - s)), 5 sigmoid_grad(y, g) = g y (1 - y), 6 tanh_grad(y, g) = g (1 - y y).
  (func $binary4 (param $op i32) (param $a v128) (param $b v128) (result v128)
    (block $tanh_grad (block $sigmoid_grad (block $silu_grad (block $div (block $mul (block $sub (block $add
      (br_table $add $sub $mul $div $silu_grad $sigmoid_grad $tanh_grad (local.get $op)))
      (return (f32x4.add (local.get $a) (local.get $b))))
      (return (f32x4.sub (local.get $a) (local.get $b))))
      (return (f32x4.mul (local.get $a) (local.get $b))))
      (return (f32x4.div (local.get $a) (local.get $b))))
      (return (call $silu_grad4 (local.get $a) (local.get $b))))
      (return (f32x4.mul (f32x4.mul (local.get $b) (local.get $a)) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $a)))))
    (f32x4.mul (local.get $b) (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $a) (local.get $a)))))

  ;; dst[i] = op(src[i]) for i < n.
  (func (export "unary") (param $op i32) (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (v128.store (local.get $dst) (call $unary4 (local.get $op) (v128.load (local.get $src))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; dst[i] = op(a[i], b[i]) for i < n.
  (func (export "binary") (param $op i32) (param $a i32) (param $b i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store (local.get $dst) (call $binary4 (local.get $op) (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; ---- row kernels on rows of `cols` floats (a multiple of 4, padded with -Inf by the caller) ----

  ;; Largest element of the row at $p; NaN if any is NaN (the TypeScript scan skips NaN instead, but
  ;; either way a row holding NaN comes out all NaN, because its sum is NaN).
  (func $rowmax (param $p i32) (param $cols i32) (result f32)
    (local $end i32) (local $m v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $cols) (i32.const 2))))
    (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $m (f32x4.max (local.get $m) (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $next)))
    (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
      (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))

  ;; dst = e^(src - m) over one row; returns the sum of the stored values (4 lanes, then f64).
  (func $rowexp (param $src i32) (param $dst i32) (param $cols i32) (param $m f32) (result f64)
    (local $end i32) (local $mv v128) (local $e v128) (local $s v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $cols) (i32.const 2))))
    (local.set $mv (f32x4.splat (local.get $m)))
    (local.set $s (v128.const f32x4 0 0 0 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $e (call $exp4 (f32x4.sub (v128.load (local.get $src)) (local.get $mv))))
      (v128.store (local.get $dst) (local.get $e))
      (local.set $s (f32x4.add (local.get $s) (local.get $e)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next)))
    (f64.add
      (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get $s))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $s))))
      (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get $s))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $s))))))

  ;; dst[i] = src[i] * k + c over one row.
  (func $rowaffine (param $src i32) (param $dst i32) (param $cols i32) (param $k f32) (param $c f32)
    (local $end i32) (local $kv v128) (local $cv v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $cols) (i32.const 2))))
    (local.set $kv (f32x4.splat (local.get $k)))
    (local.set $cv (f32x4.splat (local.get $c)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (v128.store (local.get $dst) (f32x4.add (f32x4.mul (v128.load (local.get $src)) (local.get $kv)) (local.get $cv)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; Row softmax ($log = 0) or log-softmax ($log = 1) of `rows` rows of `cols` floats, src to dst
  ;; (distinct regions: log-softmax reads src again after the exp pass has written dst).
  (func (export "softmax") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $log i32)
    (local $bytes i32) (local $end i32) (local $m f32) (local $s f64)
    (local.set $bytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $end (i32.add (local.get $src) (i32.mul (local.get $rows) (local.get $bytes))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $m (call $rowmax (local.get $src) (local.get $cols)))
      (local.set $s (call $rowexp (local.get $src) (local.get $dst) (local.get $cols) (local.get $m)))
      (if (local.get $log)
        (then
          ;; y = x - (m + log s)
          (call $rowaffine (local.get $src) (local.get $dst) (local.get $cols) (f32.const 1)
            (f32.neg (f32.demote_f64 (f64.add (f64.promote_f32 (local.get $m)) (call $log (local.get $s)))))))
        (else
          (call $rowaffine (local.get $dst) (local.get $dst) (local.get $cols)
            (f32.demote_f64 (f64.div (f64.const 1) (local.get $s))) (f32.const 0))))
      (local.set $src (i32.add (local.get $src) (local.get $bytes)))
      (local.set $dst (i32.add (local.get $dst) (local.get $bytes)))
      (br $next))))

  ;; ---- fused GCN propagation (cpu/gcn.ts): rows of w floats, w a multiple of 4, 16-byte aligned ----

  ;; Horizontal sum of the four lanes.
  (func $hsum (param $v v128) (result f32)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
             (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; out[t, i] = sum_k silu(base[i, k] + coef[i] q[t, k]) proj[k], out written in (t, i) order.
  (func (export "gcn_fwd") (param $q i32) (param $base i32) (param $coef i32) (param $proj i32) (param $out i32)
        (param $t i32) (param $m i32) (param $w i32)
    (local $wb i32) (local $qend i32) (local $i i32) (local $b i32) (local $k i32)
    (local $c v128) (local $z v128) (local $acc v128)
    (local.set $wb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $qend (i32.add (local.get $q) (i32.mul (local.get $t) (local.get $wb))))
    (block $tdone (loop $tnext
      (br_if $tdone (i32.ge_u (local.get $q) (local.get $qend)))
      (local.set $i (i32.const 0))
      (block $idone (loop $inext
        (br_if $idone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $c (f32x4.splat (f32.load (i32.add (local.get $coef) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $b (i32.add (local.get $base) (i32.mul (local.get $i) (local.get $wb))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $kdone (loop $knext
          (br_if $kdone (i32.ge_u (local.get $k) (local.get $wb)))
          (local.set $z (f32x4.add (v128.load (i32.add (local.get $b) (local.get $k)))
                                   (f32x4.mul (local.get $c) (v128.load (i32.add (local.get $q) (local.get $k))))))
          (local.set $acc (f32x4.add (local.get $acc)
            (f32x4.mul (f32x4.mul (local.get $z) (call $sigmoid4 (local.get $z))) (v128.load (i32.add (local.get $proj) (local.get $k))))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $knext)))
        (f32.store (local.get $out) (call $hsum (local.get $acc)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $inext)))
      (local.set $q (i32.add (local.get $q) (local.get $wb)))
      (br $tnext))))

  ;; Its gradients, given g [t, m]: with s = sigmoid(z) and gz = g[t, i] proj s (1 + z (1 - s)),
  ;; dq[t] = sum_i coef[i] gz, dbase[i] += gz, dcoef[i] += gz q[t], dproj += g[t, i] z s.
  ;; dq, dbase, dcoef and dproj must start zeroed.
  (func (export "gcn_bwd") (param $q i32) (param $base i32) (param $coef i32) (param $proj i32) (param $g i32)
        (param $dq i32) (param $dbase i32) (param $dcoef i32) (param $dproj i32) (param $t i32) (param $m i32) (param $w i32)
    (local $wb i32) (local $qend i32) (local $i i32) (local $o i32) (local $k i32) (local $a i32)
    (local $c v128) (local $gi v128) (local $qv v128) (local $z v128) (local $s v128) (local $gz v128)
    (local.set $wb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $qend (i32.add (local.get $q) (i32.mul (local.get $t) (local.get $wb))))
    (block $tdone (loop $tnext
      (br_if $tdone (i32.ge_u (local.get $q) (local.get $qend)))
      (local.set $i (i32.const 0))
      (block $idone (loop $inext
        (br_if $idone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $c (f32x4.splat (f32.load (i32.add (local.get $coef) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $gi (f32x4.splat (f32.load (local.get $g))))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $o (i32.mul (local.get $i) (local.get $wb)))
        (local.set $k (i32.const 0))
        (block $kdone (loop $knext
          (br_if $kdone (i32.ge_u (local.get $k) (local.get $wb)))
          (local.set $qv (v128.load (i32.add (local.get $q) (local.get $k))))
          (local.set $z (f32x4.add (v128.load (i32.add (i32.add (local.get $base) (local.get $o)) (local.get $k)))
                                   (f32x4.mul (local.get $c) (local.get $qv))))
          (local.set $s (call $sigmoid4 (local.get $z)))
          (local.set $gz (f32x4.mul (f32x4.mul (local.get $gi) (v128.load (i32.add (local.get $proj) (local.get $k))))
            (f32x4.mul (local.get $s)
              (f32x4.add (v128.const f32x4 1 1 1 1)
                (f32x4.mul (local.get $z) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $s)))))))
          (local.set $a (i32.add (local.get $dq) (local.get $k)))
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $c) (local.get $gz))))
          (local.set $a (i32.add (i32.add (local.get $dbase) (local.get $o)) (local.get $k)))
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (local.get $gz)))
          (local.set $a (i32.add (i32.add (local.get $dcoef) (local.get $o)) (local.get $k)))
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $gz) (local.get $qv))))
          (local.set $a (i32.add (local.get $dproj) (local.get $k)))
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a))
            (f32x4.mul (local.get $gi) (f32x4.mul (local.get $z) (local.get $s)))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $knext)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $inext)))
      (local.set $q (i32.add (local.get $q) (local.get $wb)))
      (local.set $dq (i32.add (local.get $dq) (local.get $wb)))
      (br $tnext))))
)
