;; f32 GEMM on packed panels, WebAssembly SIMD128. Hand-written; assembled by build.mjs into matmul.wasm.ts.
;;
;; Layout (all f32, byte addresses into the imported memory, 16-byte aligned):
;;   A panels: Ap[p*4K + 4k + r] = A[4p + r, k]          (P = ceil(M/4) panels of 4 rows)
;;   B panels: Bp[q*8K + 8k + c] = B[k, 8q + c]          (Q = ceil(N/8) panels of 8 columns)
;;   C:        C[i*ldc + j], ldc >= 8Q floats, 4P rows   (padded; the caller copies the valid M x N out)
;; A call may cover a sub-rectangle of panels (offset ap/bp/cp, smaller P/Q, the full problem's ldc): each C
;; tile is computed the same way whatever rectangle it belongs to, so splitting work between threads
;; leaves the result bit-identical.
;; Padding rows/columns of the panels must be zero (they only feed padding cells of C, which are discarded).
;;
;; Micro-kernel: a 4 x 8 tile of C held in 8 f32x4 accumulators. Per k: two f32x4 loads of the B panel,
;; four broadcast loads (v128.load32_splat) of A, 8 mul + 8 add. 8 acc + 2 b + 1 a + 1 temp = 12 of the
;; 16 xmm registers on x64, so nothing spills.
(module
  ;; Shared so worker threads can run rectangles of one product in the same memory (gemm.ts patches the
  ;; flag off where SharedArrayBuffer is unavailable; the code uses no atomics, so both variants validate).
  ;; The maximum (4 GiB) only reserves address space.
  (import "env" "memory" (memory 1 65536 shared))

  ;; One 4x8 tile over kc steps of k. $load = 0: start from zero; else accumulate onto the tile in C.
  (func $tile (param $a i32) (param $b i32) (param $c i32) (param $kc i32) (param $ldc i32) (param $load i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $end i32) (local $p i32)
    (if (local.get $load)
      (then
        (local.set $p (local.get $c))
        (local.set $c00 (v128.load (local.get $p)))
        (local.set $c01 (v128.load offset=16 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (local.get $ldc)))
        (local.set $c10 (v128.load (local.get $p)))
        (local.set $c11 (v128.load offset=16 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (local.get $ldc)))
        (local.set $c20 (v128.load (local.get $p)))
        (local.set $c21 (v128.load offset=16 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (local.get $ldc)))
        (local.set $c30 (v128.load (local.get $p)))
        (local.set $c31 (v128.load offset=16 (local.get $p)))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $kc) (i32.const 4))))
    (block $done
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (loop $k
        (local.set $b0 (v128.load (local.get $b)))
        (local.set $b1 (v128.load offset=16 (local.get $b)))
        (local.set $x (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=4 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=8 (local.get $a)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=12 (local.get $a)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (br_if $k (i32.lt_u (local.get $a) (local.get $end)))))
    (local.set $p (local.get $c))
    (v128.store (local.get $p) (local.get $c00))
    (v128.store offset=16 (local.get $p) (local.get $c01))
    (local.set $p (i32.add (local.get $p) (local.get $ldc)))
    (v128.store (local.get $p) (local.get $c10))
    (v128.store offset=16 (local.get $p) (local.get $c11))
    (local.set $p (i32.add (local.get $p) (local.get $ldc)))
    (v128.store (local.get $p) (local.get $c20))
    (v128.store offset=16 (local.get $p) (local.get $c21))
    (local.set $p (i32.add (local.get $p) (local.get $ldc)))
    (v128.store (local.get $p) (local.get $c30))
    (v128.store offset=16 (local.get $p) (local.get $c31)))

  ;; C = A @ B over P x Q tiles, C rows $ldc bytes apart. K is blocked by $kb steps so a B panel slice (8 * kb floats) stays in
  ;; L1 while every A panel slice passes over it; tiles after the first K block accumulate onto C.
  (func (export "gemm") (param $ap i32) (param $bp i32) (param $cp i32)
                        (param $P i32) (param $Q i32) (param $K i32) (param $kb i32) (param $ldc i32)
    (local $k0 i32) (local $kc i32) (local $q i32) (local $p i32)
    (local $bq i32) (local $ak i32) (local $c i32)
    (block $kdone
      (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k0) (local.get $K)))
        (local.set $kc (i32.sub (local.get $K) (local.get $k0)))
        (if (i32.gt_u (local.get $kc) (local.get $kb)) (then (local.set $kc (local.get $kb))))
        (local.set $q (i32.const 0))
        (block $qdone
          (loop $qloop
            (br_if $qdone (i32.ge_u (local.get $q) (local.get $Q)))
            ;; bq = bp + 4 * (8qK + 8k0)
            (local.set $bq (i32.add (local.get $bp)
              (i32.shl (i32.add (i32.mul (local.get $q) (local.get $K)) (local.get $k0)) (i32.const 5))))
            (local.set $p (i32.const 0))
            (block $pdone
              (loop $ploop
                (br_if $pdone (i32.ge_u (local.get $p) (local.get $P)))
                ;; ak = ap + 4 * (4pK + 4k0); c = cp + 4p * ldc + 32q
                (local.set $ak (i32.add (local.get $ap)
                  (i32.shl (i32.add (i32.mul (local.get $p) (local.get $K)) (local.get $k0)) (i32.const 4))))
                (local.set $c (i32.add (local.get $cp)
                  (i32.add (i32.mul (i32.shl (local.get $p) (i32.const 2)) (local.get $ldc))
                           (i32.shl (local.get $q) (i32.const 5)))))
                (call $tile (local.get $ak) (local.get $bq) (local.get $c) (local.get $kc) (local.get $ldc)
                  (local.get $k0))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $ploop)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $qloop)))
        (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
        (br $kloop))))
)
