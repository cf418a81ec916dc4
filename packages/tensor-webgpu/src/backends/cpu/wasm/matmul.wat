;; f32 GEMM, WebAssembly SIMD128, over operands laid out by strides. Hand-written; assembled by build.mjs into
;; matmul.wasm.ts.
;;
;; Layout (all f32, byte addresses and byte strides into the imported memory):
;;   A element (4p + r, k) at ap + p*pa + r*ra + k*ka   (P panels of 4 rows)
;;   B element (k, 8q + c) at bp + q*qb + k*kbs + 4c    (Q panels of 8 columns; each 8-float row slice 16-byte aligned)
;;   C element (i, j)      at cp + i*ldc + 4j            (4P rows x 8Q columns, padded; the caller copies the valid part out)
;; Packed panels (pack.ts) are ra = 4, ka = 16, pa = 16K and kbs = 32, qb = 32K: each panel slice is contiguous.
;; A row-major A copied in whole rows (place.ts) is ra = lda, ka = 4, pa = 4*lda. (A row-major B, kbs = ldb and
;; qb = 32, works too, but measured no faster than panels, so place.ts always hands B over in panels.)
;; A call may cover a sub-rectangle of panels (offset ap/bp/cp, smaller P/Q, the full problem's strides): each C
;; tile is computed the same way whatever rectangle it belongs to, so splitting work between threads
;; leaves the result bit-identical.
;; Padding rows of A and columns of B only feed padding cells of C, which are discarded, so they may hold any
;; value (they must only lie inside the memory).
;;
;; Micro-kernel: a 4 x 8 tile of C held in 8 f32x4 accumulators. Per k: two f32x4 loads of B, four broadcast
;; loads (v128.load32_splat) of A, 8 mul + 8 add. 8 acc + 2 b + 1 a + 1 temp = 12 of the 16 xmm registers on
;; x64, so nothing spills.
(module
  ;; Shared so worker threads can run rectangles of one product in the same memory (gemm.ts patches the
  ;; flag off where SharedArrayBuffer is unavailable; the code uses no atomics, so both variants validate).
  ;; The maximum (4 GiB) only reserves address space.
  (import "env" "memory" (memory 1 65536 shared))

  ;; One 4x8 tile over kc steps of k. $load = 0: start from zero; else accumulate onto the tile in C.
  ;; A rows r = 1..3 are read at a + r*ra: three adds per k, which cost nothing measurable next to the 16 float ops.
  (func $tile (param $a i32) (param $ra i32) (param $ka i32) (param $b i32) (param $kbs i32)
              (param $c i32) (param $kc i32) (param $ldc i32) (param $load i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $end i32) (local $p i32) (local $ra2 i32) (local $ra3 i32)
    (local.set $ra2 (i32.shl (local.get $ra) (i32.const 1)))
    (local.set $ra3 (i32.add (local.get $ra2) (local.get $ra)))
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
    (local.set $end (i32.add (local.get $a) (i32.mul (local.get $kc) (local.get $ka))))
    (block $done
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (loop $k
        (local.set $b0 (v128.load (local.get $b)))
        (local.set $b1 (v128.load offset=16 (local.get $b)))
        (local.set $x (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat (i32.add (local.get $a) (local.get $ra))))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat (i32.add (local.get $a) (local.get $ra2))))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat (i32.add (local.get $a) (local.get $ra3))))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (local.get $ka)))
        (local.set $b (i32.add (local.get $b) (local.get $kbs)))
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

;; C = A @ B over P x Q tiles, C rows $ldc bytes apart, A and B strides as in the header. K is blocked by $kb
  ;; steps so a B panel slice (8 * kb floats) stays in L1 while every A panel slice passes over it; tiles after
  ;; the first K block accumulate onto C.
  (func (export "gemm") (param $ap i32) (param $bp i32) (param $cp i32)
                        (param $P i32) (param $Q i32) (param $K i32) (param $kb i32) (param $ldc i32)
                        (param $pa i32) (param $ra i32) (param $ka i32) (param $qb i32) (param $kbs i32)
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
            (local.set $bq (i32.add (local.get $bp)
              (i32.add (i32.mul (local.get $q) (local.get $qb)) (i32.mul (local.get $k0) (local.get $kbs)))))
            (local.set $p (i32.const 0))
            (block $pdone
              (loop $ploop
                (br_if $pdone (i32.ge_u (local.get $p) (local.get $P)))
                ;; ak = ap + p*pa + k0*ka; c = cp + 4p * ldc + 32q
                (local.set $ak (i32.add (local.get $ap)
                  (i32.add (i32.mul (local.get $p) (local.get $pa)) (i32.mul (local.get $k0) (local.get $ka)))))
                (local.set $c (i32.add (local.get $cp)
                  (i32.add (i32.mul (i32.shl (local.get $p) (i32.const 2)) (local.get $ldc))
                           (i32.shl (local.get $q) (i32.const 5)))))
                (call $tile (local.get $ak) (local.get $ra) (local.get $ka) (local.get $bq) (local.get $kbs)
                  (local.get $c) (local.get $kc) (local.get $ldc) (local.get $k0))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $ploop)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $qloop)))
        (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
        (br $kloop))))

  ;; Packs row-major rows (ld bytes apart, 4P of them, zero padding rows included) into A panels at dst:
  ;; dst[p*4K + 4k + r] = row(4p + r)[k]. Four rows' next four floats are transposed in registers (8 shuffles),
  ;; so the pass runs at about memory speed where the JS loop of pack.ts moves one float at a time.
  (func (export "pack4") (param $src i32) (param $ld i32) (param $dst i32) (param $P i32) (param $K i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $end i32) (local $end4 i32)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (block $pdone
      (loop $p
        (br_if $pdone (i32.eqz (local.get $P)))
        (local.set $r0 (local.get $src))
        (local.set $r1 (i32.add (local.get $r0) (local.get $ld)))
        (local.set $r2 (i32.add (local.get $r1) (local.get $ld)))
        (local.set $r3 (i32.add (local.get $r2) (local.get $ld)))
        (local.set $end (i32.add (local.get $r0) (i32.shl (local.get $K) (i32.const 2))))
        (local.set $end4 (i32.sub (local.get $end) (i32.const 12)))
        (block $vdone
          (loop $v
            (br_if $vdone (i32.ge_u (local.get $r0) (local.get $end4)))
            (local.set $a (v128.load (local.get $r0)))
            (local.set $b (v128.load (local.get $r1)))
            (local.set $c (v128.load (local.get $r2)))
            (local.set $d (v128.load (local.get $r3)))
            ;; t0 = a0 b0 a1 b1, t1 = c0 d0 c1 d1, t2 = a2 b2 a3 b3, t3 = c2 d2 c3 d3
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
            (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d)))
            (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d)))
            (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
            (v128.store offset=16 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
            (v128.store offset=32 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
            (v128.store offset=48 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
            (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
            (local.set $r1 (i32.add (local.get $r1) (i32.const 16)))
            (local.set $r2 (i32.add (local.get $r2) (i32.const 16)))
            (local.set $r3 (i32.add (local.get $r3) (i32.const 16)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
            (br $v)))
        ;; K mod 4 tail, one float of each row per step
        (block $sdone
          (loop $s
            (br_if $sdone (i32.ge_u (local.get $r0) (local.get $end)))
            (f32.store (local.get $dst) (f32.load (local.get $r0)))
            (f32.store offset=4 (local.get $dst) (f32.load (local.get $r1)))
            (f32.store offset=8 (local.get $dst) (f32.load (local.get $r2)))
            (f32.store offset=12 (local.get $dst) (f32.load (local.get $r3)))
            (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
            (local.set $r1 (i32.add (local.get $r1) (i32.const 4)))
            (local.set $r2 (i32.add (local.get $r2) (i32.const 4)))
            (local.set $r3 (i32.add (local.get $r3) (i32.const 4)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (br $s)))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $ld) (i32.const 2))))
        (local.set $P (i32.sub (local.get $P) (i32.const 1)))
        (br $p))))

  ;; Packs K row-major rows of 8Q floats (ld bytes apart) into B panels at dst: dst[q*8K + 8k + c] = row(k)[8q + c].
  (func (export "pack8") (param $src i32) (param $ld i32) (param $dst i32) (param $Q i32) (param $K i32)
    (local $s i32) (local $end i32)
    (block $qdone
      (loop $q
        (br_if $qdone (i32.eqz (local.get $Q)))
        (local.set $s (local.get $src))
        (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $K) (i32.const 5))))
        (block $kdone
          (loop $k
            (br_if $kdone (i32.ge_u (local.get $dst) (local.get $end)))
            (v128.store (local.get $dst) (v128.load (local.get $s)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $ld)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (br $k)))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $Q (i32.sub (local.get $Q) (i32.const 1)))
        (br $q))))
)
