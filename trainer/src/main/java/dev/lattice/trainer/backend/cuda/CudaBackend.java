package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.parallel.cuda.CudaException;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.*;

/**
 * The CUDA backend: fp32 tensors in device memory (a caching allocator), GEMMs in cuBLAS (exact fp32, or bf16/tf32
 * tensor-core products with fp32 accumulation: {@link GemmPrecision}), and our CUDA C kernels compiled by NVRTC for
 * the GPU in hand (resources of this package; each names the CPU reference it must match). Attention on bf16
 * activations runs through cuDNN's fused SDPA where it applies ({@link CudnnAttention}; {@code -Dlattice.attention}).
 * Everything is enqueued on one stream; {@link #toHost}, {@link #sumOfSquares} and {@link #hasNonFinite} wait for it.
 *
 * <p>A backend belongs to one rank (one thread, one device): create it on that thread.
 */
public final class CudaBackend implements Backend {

    private static final int THREADS = 256;
    private static final int ROWS_PER_CHUNK = 64;
    private static final int SUM_BLOCKS = 1024;

    private final int device;
    private final GemmPrecision precision;
    private final int smVersion;
    private final CUstream_st stream = new CUstream_st();
    private final cublasContext cublas = new cublasContext();
    private final DeviceAllocator allocator = new DeviceAllocator();
    private final KernelModule kernels;
    private final Map<Integer, KernelModule> attention = new HashMap<>();
    private final HostUploads uploads;
    private final FloatPointer one = new FloatPointer(1f);
    private final Thread owner = Thread.currentThread();
    private FloatPointer staging = new FloatPointer(0);
    private boolean closed;
    private boolean bf16Activations;
    private boolean fuseEpilogues;
    private final java.util.Set<CublasLtGemm.Epilogue> epilogues = epiloguesFromProperty();
    private CublasLtGemm lt; // made on first use: backends that never fuse hold no workspace
    private String attentionMode = attentionModeProperty();
    private boolean deterministicAttention = deterministicAttentionProperty();
    private CudnnAttention cudnn;
    private String cudnnUnavailable; // why cuDNN attention cannot be used in this process, once known
    private final java.util.Set<String> cudnnFailedShapes = new java.util.HashSet<>();

    public CudaBackend(int device, GemmPrecision precision) {
        if (!Cuda.available()) {
            throw new CudaException("--devices cuda: " + Cuda.unavailableReason());
        }
        int count = Cuda.deviceCount();
        if (device < 0 || device >= count) {
            throw new IllegalArgumentException("CUDA device " + device + " does not exist (" + count + " visible)");
        }
        this.device = device;
        this.precision = precision;
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        int[] major = new int[1];
        int[] minor = new int[1];
        Cuda.check(cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
        Cuda.check(cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
        this.smVersion = major[0] * 10 + minor[0];
        Cuda.check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreate");
        checkBlas(cublasCreate_v2(cublas), "cublasCreate");
        checkBlas(cublasSetStream_v2(cublas, stream), "cublasSetStream");
        this.kernels = new KernelModule(KernelCompiler.compile(KernelSources.unit(KernelSources.MAIN),
                "lattice_kernels.cu", smVersion, List.of()), "lattice_kernels");
        this.uploads = new HostUploads(stream, allocator);
        this.bf16Activations = precision == GemmPrecision.BF16;
        this.fuseEpilogues = fuseByDefault(precision);
    }

    /**
     * cuBLASLt epilogues by default for the tensor-core precisions; the exact fp32 path keeps the separate kernels
     * (its tests hold the CPU's arithmetic to 1e-4: the fused ops met that on an H200, see CublasLtEpilogueTest, but
     * the whole-model fp32 tests have not run fused). {@code -Dlattice.cublaslt=true|false} overrides.
     */
    private static boolean fuseByDefault(GemmPrecision precision) {
        String v = System.getProperty(FUSE_PROPERTY, "auto");
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            case "auto" -> precision != GemmPrecision.FP32;
            default -> throw new IllegalArgumentException("-D" + FUSE_PROPERTY + " must be true, false or auto, got '"
                    + v + "'");
        };
    }

    /** The system property that turns the fused GEMM epilogues on or off (default: on unless GEMMs are fp32). */
    public static final String FUSE_PROPERTY = "lattice.cublaslt";

    /**
     * A comma-separated subset of NONE (plain products through cuBLASLt), BIAS, GELU_AUX, GELU_AUX_BIAS, DGELU,
     * BGRADB: the epilogues used when fusing (default all), so each one's effect can be measured alone.
     */
    public static final String EPILOGUES_PROPERTY = "lattice.cublaslt.epilogues";

    private static java.util.Set<CublasLtGemm.Epilogue> epiloguesFromProperty() {
        String v = System.getProperty(EPILOGUES_PROPERTY, "").trim();
        java.util.Set<CublasLtGemm.Epilogue> out = java.util.EnumSet.noneOf(CublasLtGemm.Epilogue.class);
        if (v.isEmpty()) {
            out.addAll(java.util.EnumSet.allOf(CublasLtGemm.Epilogue.class));
            return out;
        }
        for (String name : v.split(",")) {
            try {
                out.add(CublasLtGemm.Epilogue.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("-D" + EPILOGUES_PROPERTY + ": unknown epilogue '" + name
                        + "' (NONE, BIAS, GELU_AUX, GELU_AUX_BIAS, DGELU, BGRADB)");
            }
        }
        return out;
    }

    /**
     * Whether linear layers run as cuBLASLt GEMMs with fused epilogues (bias, GELU and their gradients) where
     * cuBLASLt has an algorithm for the shape; the separate kernels otherwise.
     */
    public void fuseEpilogues(boolean on) {
        this.fuseEpilogues = on;
    }

    public boolean fusesEpilogues() {
        return fuseEpilogues;
    }

    /** Each fused GEMM shape seen so far, and whether cuBLASLt ran it or it fell back (diagnostics). */
    public String epilogueReport() {
        return lt == null ? "(no fused GEMMs)" : lt.report();
    }

    /**
     * Whether {@link #activations} are bf16 (the default under {@link GemmPrecision#BF16}); tests turn it off to
     * compare the two storages.
     */
    public void storeActivationsInBf16(boolean on) {
        if (!on && roundingsPlaced) {
            throw new IllegalStateException("fp32 activations after the bf16 parameter gather placed roundings: products"
                    + " would read stale fp32 weights");
        }
        this.bf16Activations = on;
    }

    /** Activations and their gradients in bf16 under mixed precision (half the memory and traffic), else fp32. */
    @Override
    public Tensor activations(int... shape) {
        return bf16Activations ? bf16(shape) : zeros(shape);
    }

    @Override
    public int activationBytes() {
        return bf16Activations ? 2 : 4;
    }

    /** A zero-filled bf16-stored tensor. */
    @Override
    public Tensor bf16(int... shape) {
        onDevice();
        CudaTensor t = new CudaTensor(allocator, device, shape, true);
        Cuda.check(cudaMemsetAsync(DevicePointers.at(t.address()), 0, bytes(t), stream), "cudaMemsetAsync");
        return t;
    }

    @Override
    public String name() {
        return "cuda:" + device + " (sm_" + smVersion + ", GEMM " + precision.name().toLowerCase() + ")";
    }

    public int device() {
        return device;
    }

    /** The stream every operation of this backend is enqueued on (communicators order themselves after it). */
    public CUstream_st stream() {
        return stream;
    }

    public GemmPrecision precision() {
        return precision;
    }

    /** Most bytes held by live tensors so far (the caching allocator's view). */
    public long peakBytesInUse() {
        return allocator.peakBytesInUse();
    }

    @Override
    public DeviceMemory deviceMemory() {
        return new DeviceMemory(allocator.bytesInUse(), allocator.peakBytesInUse(), allocator.bytesReserved(),
                allocator.peakBytesReserved());
    }

    /** Bytes obtained from cudaMalloc and not yet freed. */
    public long bytesReserved() {
        return allocator.bytesReserved();
    }

    /** cudaMalloc calls so far (constant in a steady training loop). */
    public long mallocCalls() {
        return allocator.mallocCalls();
    }

    public void resetPeak() {
        allocator.resetPeak();
    }

    private void onDevice() {
        if (closed) {
            throw new IllegalStateException("CUDA backend " + device + " is closed");
        }
        if (Thread.currentThread() != owner) {
            Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        }
    }

    private static CudaTensor c(Tensor t) {
        if (t instanceof CudaTensor ct) {
            if (ct.address() == 0) { // fail here, naming the tensor, rather than in a kernel that reads address 0
                throw new IllegalStateException("tensor " + t + " is used after Backend.recycle handed back its"
                        + " storage");
            }
            return ct;
        }
        throw new IllegalArgumentException("tensor " + t + " does not belong to a CUDA backend");
    }

    /** A tensor as a kernel argument (null stays a null pointer). */
    private static CudaTensor p(Tensor t) {
        return t == null ? null : c(t);
    }

    private static long addr(Tensor t) {
        return c(t).address();
    }

    private static long bytes(Tensor t) {
        return c(t).elementBytes() * t.numel();
    }

    private static int blocks(long n) {
        return (int) Math.max(1, Math.min((n + THREADS - 1) / THREADS, 1 << 16));
    }

    private void launch(String kernel, long n, Object... args) {
        kernels.launch(stream, kernel, blocks(n), 1, THREADS, 0, args);
    }

    private void launchRows(String kernel, int rows, Object... args) {
        if (rows > 0) {
            kernels.launch(stream, kernel, rows, 1, THREADS, 0, args);
        }
    }

    private static void checkBlas(int rc, String op) {
        if (rc != 0) {
            throw new CudaException(op + " failed: cublasStatus " + rc);
        }
    }

    // ---- memory ----

    @Override
    public Tensor zeros(int... shape) {
        onDevice();
        CudaTensor t = new CudaTensor(allocator, device, shape, false);
        Cuda.check(cudaMemsetAsync(DevicePointers.at(t.address()), 0, bytes(t), stream), "cudaMemsetAsync");
        return t;
    }

    @Override
    public Tensor fromHost(float[] data, int... shape) {
        Tensor t = zeros(shape);
        upload(t, data);
        return t;
    }

    private FloatPointer staging(long floats) {
        if (staging.capacity() < floats) {
            if (staging.address() != 0 && staging.capacity() > 0) {
                FloatPointer old = staging;
                staging = new FloatPointer(0); // nothing points at the freed buffer if the allocation below fails
                Cuda.check(cudaFreeHost(old), "cudaFreeHost (staging)");
            }
            Pointer p = new Pointer();
            Cuda.check(cudaMallocHost(p, 4 * Math.max(1, floats)), "cudaMallocHost");
            staging = new FloatPointer(p).capacity(floats);
        }
        return staging;
    }

    @Override
    public float[] toHost(Tensor t) {
        onDevice();
        long n = t.numel();
        float[] out = new float[Math.toIntExact(n)];
        FloatPointer s = staging(n);
        Tensor src = t;
        if (c(t).isBf16()) { // widen on the device, then copy fp32
            src = zeros(t.shape());
            launch("copy_convert", n, p(src), p(t), n);
        }
        Cuda.check(cudaMemcpyAsync(s, DevicePointers.at(addr(src)), 4 * n, cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync (to host)");
        Cuda.check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
        s.get(out, 0, out.length);
        return out;
    }

    @Override
    public void upload(Tensor t, float[] data) {
        onDevice();
        if (data.length != t.numel()) {
            throw new IllegalArgumentException("uploading " + data.length + " floats into " + t);
        }
        FloatPointer s = staging(data.length);
        s.put(data, 0, data.length);
        written(t);
        Tensor dst = c(t).isBf16() ? zeros(t.shape()) : t;
        Cuda.check(cudaMemcpyAsync(DevicePointers.at(addr(dst)), s, 4L * data.length, cudaMemcpyHostToDevice,
                stream), "cudaMemcpyAsync (upload)");
        if (dst != t) {
            launch("copy_convert", t.numel(), p(t), p(dst), t.numel());
        }
        Cuda.check(cudaStreamSynchronize(stream), "cudaStreamSynchronize"); // the staging buffer is reused
    }

    @Override
    public void fill(Tensor t, float value) {
        onDevice();
        written(t);
        if (value == 0f) {
            Cuda.check(cudaMemsetAsync(DevicePointers.at(addr(t)), 0, bytes(t), stream), "cudaMemsetAsync");
        } else {
            launch("fill_f32", t.numel(), p(t), value, t.numel());
        }
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        copyRange(dst, 0, src, 0, src.numel());
    }

    @Override
    public void copyRange(Tensor dst, long dstOff, Tensor src, long srcOff, long count) {
        onDevice();
        checkRange(dst, dstOff, src, srcOff, count);
        written(dst);
        if (c(dst).isBf16() != c(src).isBf16()) {
            launch("copy_convert", count, c(dst).at(dstOff), c(src).at(srcOff), count);
            return;
        }
        Cuda.check(cudaMemcpyAsync(DevicePointers.at(c(dst).addressOf(dstOff)),
                DevicePointers.at(c(src).addressOf(srcOff)), c(src).elementBytes() * count,
                cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync (device)");
    }

    @Override
    public void synchronize() {
        onDevice();
        Cuda.check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    // ---- linear algebra ----

    @Override
    public void matmul(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, int m, int n, int k, float alpha,
                       float beta) {
        onDevice();
        // cuBLASLt where it has an algorithm (the tensor-core precisions, alpha 1), else cublasGemmEx
        if (alpha == 1f && fuseEpilogues && fused(CublasLtGemm.Epilogue.NONE, c, a, transA, b, transB, m, n, k, beta,
                null, 0, null)) {
            return;
        }
        matmulStridedBatched(c, a, transA, b, transB, m, n, k, alpha, beta, 1, 0, 0, 0);
    }

    /**
     * Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: cuBLAS gets B first, the sizes swapped and the
     * row-major leading dimensions unchanged.
     */
    @Override
    public void matmulStridedBatched(Tensor c, Tensor a, boolean transA, Tensor b, boolean transB, int m, int n,
                                     int k, float alpha, float beta, int batch, long strideA, long strideB,
                                     long strideC) {
        onDevice();
        if (batch > 0 && ((batch - 1) * strideA + (long) m * k > a.numel()
                || (batch - 1) * strideB + (long) k * n > b.numel()
                || (batch - 1) * strideC + (long) m * n > c.numel())) {
            throw new IllegalArgumentException("matmul of " + batch + " × " + m + "x" + k + " · " + k + "x" + n
                    + " does not fit " + a + ", " + b + ", " + c);
        }
        if (m == 0 || n == 0 || batch == 0) {
            return;
        }
        FloatPointer al = alpha == 1f ? one : new FloatPointer(alpha);
        FloatPointer be = new FloatPointer(beta);
        int lda = transA ? m : k;
        int ldb = transB ? k : n;
        int opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
        int opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
        // bf16 activations: both operands go in as bf16 (an fp32 one, usually a weight, is rounded into scratch for
        // this product), the output keeps its own storage; fp32 accumulation either way.
        boolean mixed = c(a).isBf16() || c(b).isBf16() || c(c).isBf16();
        long scratchA = mixed && !c(a).isBf16() ? bf16Operand(a) : 0;
        long scratchB = mixed && !c(b).isBf16() ? bf16Operand(b) : 0;
        try {
            int abType = mixed ? CUDA_R_16BF : CUDA_R_32F;
            int cType = c(c).isBf16() ? CUDA_R_16BF : CUDA_R_32F;
            int compute = mixed ? CUBLAS_COMPUTE_32F : precision.computeType;
            long pa = scratchA != 0 ? scratchA : addr(a);
            long pb = scratchB != 0 ? scratchB : addr(b);
            if (batch == 1) {
                checkBlas(cublasGemmEx(cublas, opB, opA, n, m, k, al, DevicePointers.at(pb), abType, ldb,
                        DevicePointers.at(pa), abType, lda, be, DevicePointers.at(addr(c)), cType, n, compute,
                        CUBLAS_GEMM_DEFAULT), "cublasGemmEx " + m + "x" + n + "x" + k);
            } else {
                checkBlas(cublasGemmStridedBatchedEx(cublas, opB, opA, n, m, k, al, DevicePointers.at(pb), abType,
                        ldb, strideB, DevicePointers.at(pa), abType, lda, strideA, be, DevicePointers.at(addr(c)),
                        cType, n, strideC, batch, compute, CUBLAS_GEMM_DEFAULT),
                        "cublasGemmStridedBatchedEx " + batch + "×" + m + "x" + n + "x" + k);
            }
        } finally {
            releaseOperand(a, scratchA);
            releaseOperand(b, scratchB);
        }
    }

    /**
     * The fp32 weights that GEMMs will read many times: each keeps its bf16 rounding between products (made at the
     * first product under mixed precision, stale after any write through this backend, rewritten by the one-launch
     * AdamW as it updates the weight) instead of being rounded into scratch for every product. Costs 2 bytes per
     * element; the values GEMMs see are the same (one rounding of the same fp32 weight).
     */
    @Override
    public void keepBf16Copies(List<Tensor> weights) {
        if (!keepCopiesProperty()) {
            return; // -Dlattice.keepBf16Copies=false: round into scratch per product (to measure the difference)
        }
        for (Tensor w : weights) {
            if (!c(w).isBf16()) {
                c(w).rounded().kept = true;
            }
        }
    }

    @Override
    public long bf16CopyBytes(java.util.Collection<Tensor> tensors) {
        long bytes = 0;
        for (Tensor t : tensors) {
            bytes += c(t).rounded().address != 0 ? 2 * t.numel() : 0;
        }
        return bytes;
    }

    /** The bf16 operand for an fp32 tensor: its kept rounding (refreshed if stale), else a rounding in scratch. */
    private long bf16Operand(Tensor t) {
        long n = t.numel();
        CudaTensor.RoundedCopy r = c(t).rounded();
        if (!r.kept) {
            long scratch = allocator.allocate(2 * Math.max(1, n));
            launch("copy_convert", n, new CudaTensor.Ptr(scratch, true), p(t), n);
            return scratch;
        }
        if (r.address == 0) {
            r.address = allocator.allocate(2 * Math.max(1, n));
            CudaTensor.addressesChanged();
        }
        if (!r.fresh) {
            launch("copy_convert", n, new CudaTensor.Ptr(r.address, true), p(t), n);
            r.fresh = true;
        }
        return r.address;
    }

    /** Returns a scratch rounding from {@link #bf16Operand} (stream order keeps it valid until the product ran). */
    private void releaseOperand(Tensor t, long operand) {
        if (operand != 0 && operand != c(t).rounded().address) {
            allocator.release(operand);
        }
    }

    /** Tensors move where their first element keeps the 256-byte alignment cuBLASLt's heuristic assumes. */
    @Override
    public boolean[] placeInto(Tensor flat, List<Tensor> tensors, long[] offsets) {
        boolean[] placed = new boolean[tensors.size()];
        List<RangeCopy> copies = new ArrayList<>(tensors.size());
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            placed[i] = c(t).isBf16() == c(flat).isBf16() && c(flat).addressOf(offsets[i]) % 256 == 0;
            if (placed[i]) {
                copies.add(new RangeCopy(flat, offsets[i], t, 0, t.numel()));
            }
        }
        copyRanges(copies);
        for (int i = 0; i < tensors.size(); i++) {
            if (placed[i]) {
                c(tensors.get(i)).aliasInto(allocator, c(flat), offsets[i]);
            }
        }
        return placed;
    }

    /**
     * Under bf16 precision with bf16 activations every product of an fp32 weight reads its rounding (never the fp32
     * values, which the bf16 parameter gather leaves stale where a rank does not own them), when the roundings are
     * kept ({@code -Dlattice.keepBf16Copies}, default true).
     */
    @Override
    public boolean keepsRoundings() {
        return precision == GemmPrecision.BF16 && bf16Activations && keepCopiesProperty();
    }

    /** {@code -Dlattice.keepBf16Copies} (default true): whether weights keep their bf16 roundings between products. */
    private static boolean keepCopiesProperty() {
        return Boolean.parseBoolean(System.getProperty("lattice.keepBf16Copies", "true"));
    }

    /**
     * The weights' kept roundings move into {@code flatBf16} (the twin of {@code flatParam} from {@code flatStart} on)
     * at their offsets (bf16, 256-byte aligned for cuBLASLt), and {@code flatParam}'s rounding becomes
     * {@code flatBf16} itself, so AdamW's update of a segment of {@code flatParam} past {@code flatStart} writes the
     * segment's rounding there in the same pass. A weight keeps its own rounding where it keeps none, or where the
     * offset breaks the alignment.
     */
    @Override
    public boolean[] placeRoundingsInto(Tensor flatParam, long flatStart, Tensor flatBf16, List<Tensor> weights,
                                        long[] offsets) {
        boolean[] placed = new boolean[weights.size()];
        CudaTensor flat = c(flatBf16);
        if (!flat.isBf16() || c(flatParam).isBf16() || flatStart < 0
                || flatStart + flatBf16.numel() != flatParam.numel() || !keepsRoundings()) {
            return placed;
        }
        boolean any = false;
        for (int i = 0; i < weights.size(); i++) {
            CudaTensor w = c(weights.get(i));
            CudaTensor.RoundedCopy r = w.rounded();
            long at = offsets[i] - flatStart;
            placed[i] = r.kept && !w.isBf16() && at >= 0 && flat.addressOf(at) % 256 == 0;
            if (placed[i]) {
                r.borrow(allocator, flat, at, w.numel());
                any = true;
            }
        }
        if (any) {
            CudaTensor.RoundedCopy whole = c(flatParam).rounded();
            whole.borrow(allocator, flat, 0, flatBf16.numel());
            whole.flat = true;
            whole.flatStart = flatStart;
            roundingsPlaced = true;
        }
        return placed;
    }

    private boolean roundingsPlaced; // placeRoundingsInto moved some: products must keep reading roundings

    @Override
    public void recycle(Tensor t) {
        c(t).recycle(allocator);
    }

    @Override
    public void roundingsWrittenOutside(java.util.Collection<Tensor> weights) {
        for (Tensor t : weights) {
            CudaTensor.RoundedCopy r = c(t).rounded();
            if (r.lender == null) {
                throw new IllegalStateException(t + " keeps no rounding in a flat buffer");
            }
            r.fresh = true;
        }
    }

    @Override
    public void writtenOutside(java.util.Collection<Tensor> tensors) {
        for (Tensor t : tensors) {
            written(t);
        }
    }

    /** A write to {@code t}: its kept bf16 rounding, if any, no longer matches it. */
    private static void written(Tensor t) {
        c(t).rounded().fresh = false;
    }

    private static void checkRange(Tensor dst, long dstOff, Tensor src, long srcOff, long count) {
        if (dstOff < 0 || srcOff < 0 || dstOff + count > dst.numel() || srcOff + count > src.numel()) {
            throw new IndexOutOfBoundsException("copy of " + count + " floats from " + src + "@" + srcOff + " to "
                    + dst + "@" + dstOff);
        }
    }

    /** One launch ({@code copy_multi}) for all of them; the bounds checked as {@link #copyRange} checks them. */
    @Override
    public void copyRanges(List<RangeCopy> copies) {
        List<long[]> entries = new ArrayList<>(copies.size());
        for (RangeCopy c : copies) {
            checkRange(c.dst(), c.dstOff(), c.src(), c.srcOff(), c.count());
            entries.add(new long[] {c(c.dst()).addressOf(c.dstOff()), c(c.src()).addressOf(c.srcOff()), c.count(),
                    (c(c.dst()).isBf16() ? 1 : 0) | (c(c.src()).isBf16() ? 2 : 0)});
        }
        copyMulti(entries, copies.stream().map(RangeCopy::dst).toList());
    }

    @Override
    public void fillZeros(List<Tensor> tensors) {
        List<long[]> entries = new ArrayList<>(tensors.size());
        for (Tensor t : tensors) {
            entries.add(new long[] {addr(t), 0, t.numel(), c(t).isBf16() ? 1 : 0});
        }
        copyMulti(entries, tensors);
    }

    /**
     * Blocks of a one-launch multi-tensor kernel (copy_multi, adamw_multi) for {@code count} elements: 16 a thread
     * (four 16-byte accesses of fp32), at most 1024 a tensor. (At 4 a thread, one access, the zero fill of GPT-2
     * 124M's gradients was ~20,000 blocks that each wrote 4 KB and exited: 0.35 ms for 0.5 GB, session 5.)
     */
    private static long multiBlocks(long count) {
        return Math.min(1024, Math.max(1, (count + 16L * THREADS - 1) / (16L * THREADS)));
    }

    /** {@code copy_multi} over {dst, src or 0, count, storage bits} entries; blocks in proportion to the counts. */
    private void copyMulti(List<long[]> entries, List<Tensor> written) {
        onDevice();
        written.forEach(CudaBackend::written);
        long[] table = new long[6 * entries.size()];
        long blocks = 0;
        int rows = 0;
        for (long[] e : entries) {
            if (e[2] == 0) {
                continue;
            }
            long b = multiBlocks(e[2]);
            int k = 6 * rows++;
            System.arraycopy(e, 0, table, k, 4);
            table[k + 4] = blocks;
            table[k + 5] = b;
            blocks += b;
        }
        if (rows > 0) {
            kernels.launch(stream, "copy_multi", Math.toIntExact(blocks), 1, THREADS, 0,
                    uploads.ints(asInts(java.util.Arrays.copyOf(table, 6 * rows))), rows);
        }
    }

    @Override
    public void castToBf16(Tensor dst, Tensor src) {
        if (dst == src && c(dst).isBf16()) {
            return; // its storage already holds bf16 values
        }
        onDevice();
        written(dst);
        launch("cast_bf16", src.numel(), p(dst), p(src), src.numel());
    }

    @Override
    public void addBias(Tensor out, Tensor bias, int rows, int cols) {
        onDevice();
        kernels.launch(stream, "add_bias", (cols + THREADS - 1) / THREADS, Math.max(1, Math.min(rows, 65535)),
                THREADS, 0, p(out), p(bias), rows, cols);
    }

    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int rows, int cols) {
        onDevice();
        int chunks = Math.max(1, (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK);
        long partial = allocator.allocate(4L * chunks * cols);
        try {
            int gx = (cols + THREADS - 1) / THREADS;
            kernels.launch(stream, "bias_backward_partial", gx, chunks, THREADS, 0, partial, p(dout), rows, cols,
                    ROWS_PER_CHUNK);
            addColumnPartials(p(dbias), partial, chunks, cols);
        } finally {
            allocator.release(partial);
        }
    }

    // ---- linear layers with cuBLASLt epilogues (the Backend defaults where not fused or not supported) ----

    private static final long LT_WORKSPACE = 32L << 20;

    private CublasLtGemm lt() {
        if (lt == null) {
            lt = new CublasLtGemm(stream, allocator.allocate(LT_WORKSPACE), LT_WORKSPACE);
        }
        return lt;
    }

    @Override
    public void linearForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int rows, int outDim, int inDim) {
        onDevice();
        if (bias == null || !fuseEpilogues || !fused(CublasLtGemm.Epilogue.BIAS, out, inp, false, weight, true, rows,
                outDim, inDim, 0f, bias, 0, null)) {
            Backend.super.linearForward(out, inp, weight, bias, rows, outDim, inDim);
        }
    }

    @Override
    public void linearGeluForward(Tensor out, Tensor preGelu, Tensor inp, Tensor weight, Tensor bias, int rows,
                                  int outDim, int inDim) {
        onDevice();
        CublasLtGemm.Epilogue e = bias == null ? CublasLtGemm.Epilogue.GELU_AUX : CublasLtGemm.Epilogue.GELU_AUX_BIAS;
        if (!fuseEpilogues || !fused(e, out, inp, false, weight, true, rows, outDim, inDim, 0f, bias, 0, preGelu)) {
            Backend.super.linearGeluForward(out, preGelu, inp, weight, bias, rows, outDim, inDim);
        }
    }

    /** BGRADB writes the bias gradient: into fp32 scratch, then added to dbias (which accumulates). */
    @Override
    public void linearWeightBackward(Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, int rows, int outDim,
                                     int inDim, boolean accumulateWeight) {
        onDevice();
        float beta = accumulateWeight ? 1f : 0f;
        if (dbias != null && fuseEpilogues) {
            if (dbias.numel() < outDim) {
                throw new IllegalArgumentException("bias gradient " + dbias + " shorter than " + outDim);
            }
            long partial = allocator.allocate(4L * outDim);
            try {
                if (fused(CublasLtGemm.Epilogue.BGRADB, dweight, dout, true, inp, false, outDim, inDim, rows, beta,
                        null, partial, null)) {
                    launch("accumulate_f32", outDim, p(dbias), partial, (long) outDim);
                    return;
                }
            } finally {
                allocator.release(partial);
            }
        }
        Backend.super.linearWeightBackward(dweight, dbias, dout, inp, rows, outDim, inDim, accumulateWeight);
    }

    @Override
    public void linearBackwardThroughGelu(Tensor dpreGelu, Tensor dact, Tensor preGelu, Tensor dout, Tensor weight,
                                          int rows, int outDim, int inDim) {
        onDevice();
        if (!fuseEpilogues || !fused(CublasLtGemm.Epilogue.DGELU, dpreGelu, dout, false, weight, false, rows, inDim,
                outDim, 0f, null, 0, preGelu)) {
            Backend.super.linearBackwardThroughGelu(dpreGelu, dact, preGelu, dout, weight, rows, outDim, inDim);
        }
    }

    /**
     * Row-major {@code c = op(a)·op(b) + beta·c} with epilogue {@code e} through cuBLASLt, the operands typed as
     * {@link #matmulStridedBatched} types them (bf16 operands when any tensor is bf16). {@code bias} is the fp32 bias
     * vector (BIAS, GELU_AUX_BIAS), {@code biasGrad} the device address of the fp32 [m] vector BGRADB writes,
     * {@code aux} the aux matrix, stored like c. A bf16 output takes the fp32 bias if cuBLASLt allows, else a bf16
     * copy of it. Returns false, having written nothing the caller sees, when cuBLASLt has no algorithm (or this
     * epilogue is switched off): the caller runs the unfused composition.
     */
    private boolean fused(CublasLtGemm.Epilogue e, Tensor c, Tensor a, boolean transA, Tensor b, boolean transB,
                          int m, int n, int k, float beta, Tensor bias, long biasGrad, Tensor aux) {
        if (m <= 0 || n <= 0 || k <= 0 || !epilogues.contains(e)) {
            return false;
        }
        checkFits(c, a, b, m, n, k);
        boolean grad = e == CublasLtGemm.Epilogue.BGRADB;
        if (e.bias && !grad && (bias == null || bias.numel() < n || c(bias).isBf16())) {
            throw new IllegalArgumentException(e + ": need an fp32 bias of " + n + ", got " + bias);
        }
        if (e.aux) {
            if (aux == null || aux.numel() < (long) m * n) {
                throw new IllegalArgumentException(e + ": need an aux matrix of " + m + "x" + n + ", got " + aux);
            }
            if (c(aux).isBf16() != c(c).isBf16()) {
                return false; // cuBLASLt stores aux in D's type
            }
        }
        boolean mixed = c(a).isBf16() || c(b).isBf16() || c(c).isBf16();
        int abType = mixed ? CUDA_R_16BF : CUDA_R_32F;
        int cType = c(c).isBf16() ? CUDA_R_16BF : CUDA_R_32F;
        int compute = mixed ? CUBLAS_COMPUTE_32F : precision.computeType;
        CublasLtGemm gemm = lt();
        CublasLtGemm.Shape shape = new CublasLtGemm.Shape(e, transA, transB, m, n, k, abType, cType,
                e.bias ? CUDA_R_32F : -1, compute);
        long biasAddr = grad ? biasGrad : e.bias ? addr(bias) : 0;
        long roundedBias = 0;
        if (e.bias && !grad && cType == CUDA_R_16BF && !gemm.supports(shape)) {
            // cuBLASLt documents the bias in D's type (13.x on an H200 rejects an fp32 bias with a bf16 D: status 7
            // at the heuristic): round the bias to bf16 for this product; the epilogue adds it in fp32
            shape = new CublasLtGemm.Shape(e, transA, transB, m, n, k, abType, cType, CUDA_R_16BF, compute);
            if (gemm.supports(shape)) {
                roundedBias = bf16Operand(bias);
                biasAddr = roundedBias;
            }
        }
        if (!gemm.supports(shape)) {
            return false;
        }
        long scratchA = mixed && !c(a).isBf16() ? bf16Operand(a) : 0;
        long scratchB = mixed && !c(b).isBf16() ? bf16Operand(b) : 0;
        try {
            return gemm.run(shape, addr(c), scratchA != 0 ? scratchA : addr(a), scratchB != 0 ? scratchB : addr(b),
                    beta, biasAddr, e.aux ? addr(aux) : 0);
        } finally {
            releaseOperand(a, scratchA);
            releaseOperand(b, scratchB);
            if (roundedBias != 0) {
                releaseOperand(bias, roundedBias);
            }
        }
    }

    private static void checkFits(Tensor c, Tensor a, Tensor b, int m, int n, int k) {
        if ((long) m * k > a.numel() || (long) k * n > b.numel() || (long) m * n > c.numel()) {
            throw new IllegalArgumentException("matmul of " + m + "x" + k + " · " + k + "x" + n + " does not fit "
                    + a + ", " + b + ", " + c);
        }
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        onDevice();
        written(out);
        launch(out.numel() % 8 == 0 ? "add_vec" : "add_f32", out.numel(), p(out), p(a), p(b), out.numel());
    }

    @Override
    public void accumulate(Tensor y, Tensor x) {
        onDevice();
        written(y);
        launch("accumulate_f32", y.numel(), p(y), p(x), y.numel());
    }

    @Override
    public void scale(Tensor x, float s) {
        scale(x, 0, x.numel(), s);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return sumOfSquares(x, 0, x.numel());
    }

    /** Fixed grid, per-block double partials summed on the host in block order: deterministic. */
    @Override
    public double sumOfSquares(Tensor x, long off, long count) {
        return sumsOfSquares(List.of(x), new long[] {off}, new long[] {count})[0];
    }

    /** Every tensor's partials into one buffer, one copy and one wait; the same sums as one call per tensor. */
    @Override
    public double[] sumsOfSquares(List<Tensor> xs, long[] offsets, long[] counts) {
        onDevice();
        double[] out = new double[xs.size()];
        if (xs.isEmpty()) {
            return out;
        }
        long sums = sumsOfSquaresOnDevice(xs, offsets, counts);
        try (DoublePointer host = new DoublePointer(xs.size())) {
            Cuda.check(cudaMemcpyAsync(host, DevicePointers.at(sums), 8L * xs.size(), cudaMemcpyDeviceToHost,
                    stream), "cudaMemcpyAsync (sums of squares)");
            Cuda.check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
            host.get(out);
            return out;
        } finally {
            allocator.release(sums);
        }
    }

    @Override
    public void sumOfSquaresAsPair(List<Tensor> xs, long[] offsets, long[] counts, Tensor pair) {
        onDevice();
        written(pair);
        if (xs.isEmpty()) {
            fill(pair, 0f);
            return;
        }
        long sums = sumsOfSquaresOnDevice(xs, offsets, counts);
        try {
            kernels.launch(stream, "sum_as_float_pair", 1, 1, 1, 0, p(pair), sums, xs.size());
        } finally {
            allocator.release(sums); // stream-ordered: the pair kernel has read it before the memory is reused
        }
    }

    /**
     * Enqueues sum_squares_multi and sum_partials_multi; returns device memory (the caller releases it) holding
     * each range's sum of squares as a double.
     */
    private long sumsOfSquaresOnDevice(List<Tensor> xs, long[] offsets, long[] counts) {
        // blocks in proportion to each range's length (at most SUM_BLOCKS): a 768-element bias gets one
        long[] table = new long[5 * xs.size()];
        long blocks = 0;
        for (int i = 0; i < xs.size(); i++) {
            CudaTensor t = c(xs.get(i));
            long b = Math.min(SUM_BLOCKS, Math.max(1, (counts[i] + 16L * THREADS - 1) / (16L * THREADS)));
            table[5 * i] = t.addressOf(offsets[i]);
            table[5 * i + 1] = counts[i];
            table[5 * i + 2] = t.isBf16() ? 1 : 0;
            table[5 * i + 3] = blocks;
            table[5 * i + 4] = b;
            blocks += b;
        }
        long partial = allocator.allocate(8L * blocks);
        long sums = allocator.allocate(8L * xs.size());
        try {
            long onDevice = uploads.ints(asInts(table));
            kernels.launch(stream, "sum_squares_multi", Math.toIntExact(blocks), 1, THREADS, 0, partial, onDevice,
                    xs.size());
            kernels.launch(stream, "sum_partials_multi", xs.size(), 1, 32, 0, sums, partial, onDevice, xs.size());
            return sums;
        } catch (RuntimeException e) {
            allocator.release(sums);
            throw e;
        } finally {
            allocator.release(partial);
        }
    }

    @Override
    public void scale(Tensor x, long off, long count, float s) {
        onDevice();
        written(x);
        launch("scale_f32", count, c(x).at(off), s, count);
    }

    @Override
    public boolean hasNonFinite(Tensor x) {
        onDevice();
        long flag = allocator.allocate(4);
        try {
            Cuda.check(cudaMemsetAsync(DevicePointers.at(flag), 0, 4, stream), "cudaMemsetAsync");
            launch("any_nonfinite", x.numel(), flag, p(x), x.numel());
            IntPointer host = new IntPointer(1);
            Cuda.check(cudaMemcpyAsync(host, DevicePointers.at(flag), 4, cudaMemcpyDeviceToHost, stream),
                    "cudaMemcpyAsync (flag)");
            Cuda.check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
            return host.get(0) != 0;
        } finally {
            allocator.release(flag);
        }
    }

    // ---- layers ----

    private static void checkIds(String what, int[] ids, int n, int bound) {
        if (ids.length < n) {
            throw new IllegalArgumentException(what + ": " + ids.length + " ids for " + n + " rows");
        }
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= bound) {
                throw new IllegalArgumentException(what + " out of range at row " + i + ": id " + ids[i]
                        + " not in [0, " + bound + ")");
            }
        }
    }

    @Override
    public void embeddingForward(Tensor out, int[] tokens, Tensor wte, Tensor wpe, int batch, int seq, int channels) {
        onDevice();
        int n = batch * seq;
        checkIds("token id", tokens, n, Math.toIntExact(wte.numel() / channels));
        launch("embedding_forward", (long) n * channels, p(out), uploads.ints(tokens), p(wte), p(wpe), n, seq,
                channels);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int batch, int seq,
                                  int channels) {
        onDevice();
        int n = batch * seq;
        int rows = Math.toIntExact(dwte.numel() / channels);
        checkIds("token id", tokens, n, rows);
        groupedEmbeddingBackward(dwte, dout, tokens, 0, rows, n, channels);
        if (dwpe != null) {
            addPositionEmbeddingBackward(dwpe, dout, batch, seq, channels);
        }
    }

    /** The rows of each token of [start, start+count), grouped on the host (see embedding.cu). */
    private void groupedEmbeddingBackward(Tensor dwte, Tensor dout, int[] tokens, int start, int count, int rows,
                                          int channels) {
        // (token << 32 | row), sorted: rows grouped by token, in row order within a token (no boxing)
        long[] keys = new long[rows];
        int kept = 0;
        for (int r = 0; r < rows; r++) {
            int local = tokens[r] - start;
            if (local >= 0 && local < count) {
                keys[kept++] = ((long) local << 32) | r;
            }
        }
        java.util.Arrays.sort(keys, 0, kept);
        int[] uniq = new int[kept];
        int[] rowStart = new int[kept + 1];
        int u = 0;
        for (int i = 0; i < kept; i++) {
            int local = (int) (keys[i] >>> 32);
            if (u == 0 || uniq[u - 1] != local) {
                uniq[u] = local;
                rowStart[u] = i;
                u++;
            }
        }
        rowStart[u] = kept;
        if (u == 0) {
            return;
        }
        int[] packed = new int[u + (u + 1) + kept];
        System.arraycopy(uniq, 0, packed, 0, u);
        System.arraycopy(rowStart, 0, packed, u, u + 1);
        for (int i = 0; i < kept; i++) {
            packed[2 * u + 1 + i] = (int) keys[i];
        }
        long dev = uploads.ints(packed);
        launch("embedding_backward_grouped", (long) u * channels, p(dwte), p(dout), dev, dev + 4L * u,
                dev + 4L * (2 * u + 1), u, channels);
    }

    @Override
    public void vocabParallelEmbedding(Tensor out, int[] tokens, Tensor wteShard, int start, int count, int rows,
                                       int channels) {
        onDevice();
        checkIds("token id", tokens, rows, Integer.MAX_VALUE);
        launch("vocab_parallel_embedding", (long) rows * channels, p(out), uploads.ints(tokens), p(wteShard), start,
                count, rows, channels);
    }

    @Override
    public void vocabParallelEmbeddingBackward(Tensor dwteShard, Tensor dout, int[] tokens, int start, int count,
                                               int rows, int channels) {
        onDevice();
        groupedEmbeddingBackward(dwteShard, dout, tokens, start, count, rows, channels);
    }

    @Override
    public void addPositionEmbedding(Tensor x, Tensor wpe, int batch, int seq, int channels) {
        onDevice();
        launch("add_positions", (long) batch * seq * channels, p(x), p(wpe), batch * seq, seq, channels);
    }

    @Override
    public void addPositionEmbeddingBackward(Tensor dwpe, Tensor dout, int batch, int seq, int channels) {
        onDevice();
        launch("position_backward", (long) seq * channels, p(dwpe), p(dout), batch, seq, channels);
    }

    @Override
    public void logitsRowMax(Tensor max, Tensor logits, int rows, int cols, int valid) {
        onDevice();
        launchRows("logits_row_max", rows, p(max), p(logits), rows, cols, valid);
    }

    @Override
    public void logitsRowSumExp(Tensor sum, Tensor logits, Tensor max, int rows, int cols, int valid) {
        onDevice();
        launchRows("logits_row_sum_exp", rows, p(sum), p(logits), p(max), rows, cols, valid);
    }

    @Override
    public void logitsTarget(Tensor out, Tensor logits, int[] targets, int start, int rows, int cols, int valid) {
        onDevice();
        launch("logits_target", rows, p(out), p(logits), uploads.ints(targets), start, rows, cols, valid);
    }

    @Override
    public void vocabParallelCrossEntropyBackward(Tensor dlogits, Tensor logits, Tensor lse, int[] targets,
                                                  float[] dlosses, int start, int rows, int cols, int valid) {
        onDevice();
        long t = uploads.ints(targets);
        launchRows("vocab_parallel_ce_backward", rows, p(dlogits), p(logits), p(lse), t, uploads.floats(dlosses),
                start, rows, cols, valid);
    }

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int rows, int cols, float eps) {
        onDevice();
        launchWarpRowsOr(cols % 8 == 0, "layernorm_forward", rows, p(out), p(mean), p(rstd), p(inp), p(weight),
                p(bias), rows, cols, eps);
    }

    /** {@code kernel + "_warp"} one warp per row when {@code vectorised}, else {@code kernel} one block per row. */
    private void launchWarpRowsOr(boolean vectorised, String kernel, int rows, Object... args) {
        if (vectorised) {
            launchWarpRows(kernel + "_warp", rows, args);
        } else {
            launchRows(kernel, rows, args);
        }
    }

    /** One warp per row: {@code THREADS / 32} rows per block. */
    private void launchWarpRows(String kernel, int rows, Object... args) {
        int perBlock = THREADS / 32;
        if (rows > 0) {
            kernels.launch(stream, kernel, (rows + perBlock - 1) / perBlock, 1, THREADS, 0, args);
        }
    }

    @Override
    public void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                                  Tensor mean, Tensor rstd, int rows, int cols) {
        onDevice();
        if (cols % 8 == 0 && cols <= 1024 && rows > 0) { // one pass: layernorm_backward_fused_warp
            int blocks = (rows + 31) / 32; // 8 warps of LN_BWD_ROWS = 4 rows
            long pw = allocator.allocate(4L * blocks * cols);
            long pb = allocator.allocate(4L * blocks * cols);
            try {
                kernels.launch(stream, layerNormBackwardKernel(dout, inp), blocks, 1, THREADS, 0, p(dinp), pw, pb,
                        p(dout), p(inp), p(weight), p(mean), p(rstd), rows, cols);
                addColumnPartials(p(dweight), pw, blocks, cols);
                if (dbias != null) {
                    addColumnPartials(p(dbias), pb, blocks, cols);
                }
            } finally {
                allocator.release(pw);
                allocator.release(pb);
            }
            return;
        }
        launchWarpRowsOr(cols % 8 == 0, "layernorm_backward_input", rows, p(dinp), p(dout), p(inp), p(weight),
                p(mean), p(rstd), rows, cols);
        int chunks = Math.max(1, (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK);
        long pw = allocator.allocate(4L * chunks * cols);
        long pb = allocator.allocate(4L * chunks * cols);
        try {
            int gx = (cols + THREADS - 1) / THREADS;
            kernels.launch(stream, "layernorm_backward_params_partial", gx, chunks, THREADS, 0, pw, pb, p(dout),
                    p(inp), p(mean), p(rstd), rows, cols, ROWS_PER_CHUNK);
            addColumnPartials(p(dweight), pw, chunks, cols);
            if (dbias != null) {
                addColumnPartials(p(dbias), pb, chunks, cols);
            }
        } finally {
            allocator.release(pw);
            allocator.release(pb);
        }
    }

    /**
     * The one-pass LayerNorm backward kernel. With bf16 input and output gradient (mixed precision) the default,
     * cached2, keeps each row in registers between its two passes with two blocks per SM asked of the compiler (128
     * registers, 8 bytes spilled); cached asks one block (156 registers); fused reads each row twice (126 registers).
     * Results are bit-identical (Bf16StorageTest). {@code NormKernelsBench}, H100, 16,384 rows of bf16, session 7:
     * 768 wide fused 63.9 / cached 77.5 / cached2 59.0 us a call, 1024 wide 80.8 / 95.6 / 73.8 us.
     * {@code -Dlattice.layerNormBackward=fused|cached|cached2}.
     */
    static volatile String layerNormBackwardVariant = System.getProperty("lattice.layerNormBackward", "cached2");

    private static String layerNormBackwardKernel(Tensor dout, Tensor inp) {
        boolean bf = c(dout).isBf16() && c(inp).isBf16();
        String variant = layerNormBackwardVariant;
        return switch (variant) {
            case "cached" -> bf ? "layernorm_backward_cached_warp" : "layernorm_backward_fused_warp";
            case "cached2" -> bf ? "layernorm_backward_cached_warp2" : "layernorm_backward_fused_warp";
            case "fused" -> "layernorm_backward_fused_warp";
            default -> throw new IllegalArgumentException("-Dlattice.layerNormBackward=" + variant
                    + ": expected fused, cached or cached2");
        };
    }

    /** Registers a thread and local-memory bytes of one of our kernels (benchmarks: spills and occupancy). */
    String kernelResources(String kernel) {
        return kernels.resources(kernel);
    }

    /** {@code dst[c] += Σ_k partial[k, c]} ({@code add_column_partials}: 32 columns, 32 warps a block, fixed order). */
    private void addColumnPartials(Tensor dst, long partial, int chunks, int cols) {
        kernels.launch(stream, "add_column_partials", (cols + 31) / 32, 1, 1024, 0, dst, partial, chunks, cols);
    }

    /** One pass ({@code add_norm_forward_warp}) when the width is a multiple of 8; else add, then the norm. */
    @Override
    public void addNormForward(Tensor resid, Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor delta,
                               Tensor weight, Tensor bias, int rows, int cols, float eps) {
        if (cols % 8 != 0) {
            Backend.super.addNormForward(resid, out, mean, rstd, x, delta, weight, bias, rows, cols, eps);
            return;
        }
        onDevice();
        boolean layer = bias != null;
        launchWarpRows(addNormKernel(cols), rows, p(resid), p(out), layer ? p(mean) : null, p(rstd), p(x),
                p(delta), p(weight), p(bias), rows, cols, eps, layer ? 1 : 0);
    }

    /**
     * The add + norm kernel: {@code cached} (the default) keeps each row in registers instead of reading the stored
     * residual back twice (widths up to 2048, wider rows fall back to warp; bit-identical, Bf16StorageTest);
     * {@code -Dlattice.addNorm=warp} reads back. H100, 16,384 bf16 rows: 44.5 -> 42.0 us at 768 wide, 57.3 -> 53.7 us
     * at 1024 (NormKernelsBench); 350M step 82.8 -> 82.5 ms.
     */
    static volatile String addNormVariant = System.getProperty("lattice.addNorm", "cached");

    private static String addNormKernel(int cols) {
        String variant = addNormVariant;
        return switch (variant) {
            case "cached" -> cols <= 1024 ? "add_norm_forward_cached4"
                    : cols <= 2048 ? "add_norm_forward_cached8" : "add_norm_forward_warp";
            case "warp" -> "add_norm_forward_warp";
            default -> throw new IllegalArgumentException("-Dlattice.addNorm=" + variant + ": expected warp or cached");
        };
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, int rows, int cols, float eps) {
        onDevice();
        launchWarpRowsOr(cols % 8 == 0, "rmsnorm_forward", rows, p(out), p(rstd), p(inp), p(weight), rows, cols,
                eps);
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd,
                                int rows, int cols) {
        onDevice();
        launchWarpRowsOr(cols % 8 == 0, "rmsnorm_backward_input", rows, p(dinp), p(dout), p(inp), p(weight),
                p(rstd), rows, cols);
        int chunks = Math.max(1, (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK);
        long pw = allocator.allocate(4L * chunks * cols);
        try {
            int gx = (cols + THREADS - 1) / THREADS;
            kernels.launch(stream, "rmsnorm_backward_weight_partial", gx, chunks, THREADS, 0, pw, p(dout), p(inp),
                    p(rstd), rows, cols, ROWS_PER_CHUNK);
            addColumnPartials(p(dweight), pw, chunks, cols);
        } finally {
            allocator.release(pw);
        }
    }

    @Override
    public void geluForward(Tensor out, Tensor inp) {
        onDevice();
        launch(inp.numel() % 8 == 0 ? "gelu_forward_vec" : "gelu_forward", inp.numel(), p(out), p(inp),
                inp.numel());
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor inp, Tensor dout) {
        onDevice();
        launch("gelu_backward", inp.numel(), p(dinp), p(inp), p(dout), inp.numel());
    }

    @Override
    public void swigluForward(Tensor out, Tensor inp, int rows, int ffn) {
        onDevice();
        launch("swiglu_forward", (long) rows * ffn, p(out), p(inp), rows, ffn);
    }

    @Override
    public void swigluBackward(Tensor dinp, Tensor inp, Tensor dout, int rows, int ffn) {
        onDevice();
        launch("swiglu_backward", (long) rows * ffn, p(dinp), p(inp), p(dout), rows, ffn);
    }

    @Override
    public void ropeForward(Tensor qkv, int batch, int seq, int heads, int groups, int headDim, float theta) {
        rope(qkv, batch, seq, heads, groups, headDim, theta, 1f);
    }

    @Override
    public void ropeBackward(Tensor dqkv, int batch, int seq, int heads, int groups, int headDim, float theta) {
        rope(dqkv, batch, seq, heads, groups, headDim, theta, -1f);
    }

    private void rope(Tensor buf, int batch, int seq, int heads, int groups, int headDim, float theta, float sign) {
        onDevice();
        checkHeads(heads, groups, headDim);
        if ((headDim & 1) != 0) {
            throw new IllegalArgumentException("RoPE head dim must be even, got " + headDim);
        }
        long n = (long) batch * seq * (heads + groups) * (headDim / 2);
        launch("rope_apply", n, p(buf), batch * seq, seq, heads, groups, headDim, theta, sign);
    }

    private static void checkHeads(int heads, int groups, int headDim) {
        if (heads <= 0 || groups <= 0 || headDim <= 0 || heads % groups != 0) {
            throw new IllegalArgumentException("need heads % groups == 0 and positive sizes, got heads=" + heads
                    + ", groups=" + groups + ", head dim=" + headDim);
        }
    }

    private KernelModule attention(int headDim) {
        return attention.computeIfAbsent(headDim, d -> new KernelModule(KernelCompiler.compile(
                KernelSources.unit(KernelSources.tensorCoreAttention(d)
                        ? List.of(KernelSources.ATTENTION, KernelSources.ATTENTION_TC)
                        : List.of(KernelSources.ATTENTION)), "lattice_attention_d" + d + ".cu", smVersion,
                List.of("HD=" + d)), "lattice_attention_d" + d));
    }

    private static final int ATT_Q_TILE = 64; // BQ in attention.cu, TC_ROWS in attention_tc.cu
    private static final int ATT_TC_THREADS = 128; // 4 warps of 16 rows

    /** bf16/fp16 precision runs attention on tensor cores (bf16 products); fp32/tf32 keeps the fp32 kernels. */
    private boolean tensorCores(int headDim) {
        return (precision == GemmPrecision.BF16 || precision == GemmPrecision.FP16)
                && KernelSources.tensorCoreAttention(headDim);
    }

    /**
     * {@code -Dlattice.attention=auto|cudnn|own}: {@code auto} (the default) runs attention through cuDNN's fused SDPA
     * ({@link CudnnAttention}) where it applies (bf16 tensors under bf16/fp16 precision, MHA, head dims cuDNN
     * supports) and falls back to our kernels, with one message, if cuDNN cannot build a plan; {@code cudnn} does the
     * same but fails instead of falling back; {@code own} always runs our kernels.
     */
    static String attentionModeProperty() {
        String m = System.getProperty("lattice.attention", "auto").trim().toLowerCase(java.util.Locale.ROOT);
        if (!m.equals("auto") && !m.equals("cudnn") && !m.equals("own")) {
            throw new IllegalArgumentException("-Dlattice.attention must be auto, cudnn or own, got " + m);
        }
        return m;
    }

    /**
     * {@code -Dlattice.attention.deterministic=true|false}: whether cuDNN's attention backward uses its deterministic
     * engine (dQ written in a fixed order rather than accumulated with atomics), so that a run repeats to the bit.
     * Our own kernels are deterministic either way. Megatron's {@code --deterministic-mode} sets it.
     */
    static boolean deterministicAttentionProperty() {
        String v = System.getProperty("lattice.attention.deterministic", "false").trim();
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("-Dlattice.attention.deterministic must be true or false, got " + v);
        }
        return v.equals("true");
    }

    /** Overrides {@code -Dlattice.attention.deterministic} for this backend. */
    public void deterministicAttention(boolean deterministic) {
        this.deterministicAttention = deterministic;
    }

    /** Overrides {@code -Dlattice.attention} for this backend ({@code auto}, {@code cudnn} or {@code own}). */
    public void attentionImplementation(String mode) {
        String old = System.getProperty("lattice.attention");
        try {
            System.setProperty("lattice.attention", mode);
            this.attentionMode = attentionModeProperty();
        } finally {
            if (old == null) {
                System.clearProperty("lattice.attention");
            } else {
                System.setProperty("lattice.attention", old);
            }
        }
    }

    /** Which attention runs here, e.g. {@code "cudnn 91900 (auto)"} or {@code "own (own)"}. */
    public String attentionInfo() {
        if (attentionMode.equals("own")) {
            return "own (own)";
        }
        CudnnAttention a = cudnn();
        return (a == null ? "own: " + cudnnUnavailable : "cudnn " + a.version()) + " (" + attentionMode
                + (deterministicAttention ? ", deterministic" : "") + ")";
    }

    private CudnnAttention cudnn() {
        if (cudnn == null && cudnnUnavailable == null) {
            try {
                cudnn = new CudnnAttention(stream, allocator);
            } catch (RuntimeException | LinkageError e) {
                if (attentionMode.equals("cudnn")) {
                    throw e;
                }
                cudnnUnavailable = String.valueOf(e);
                System.err.println("lattice: cuDNN attention unavailable, using our kernels: " + e);
            }
        }
        return cudnn;
    }

    /** cuDNN's SDPA for this call, or null for our kernels. */
    private CudnnAttention cudnnFor(String pass, Tensor[] bf16, Tensor lse, int batch, int seq, int heads, int groups,
                                    int headDim) {
        if (attentionMode.equals("own") || !(precision == GemmPrecision.BF16 || precision == GemmPrecision.FP16)
                || c(lse).isBf16()) {
            return null;
        }
        for (Tensor t : bf16) {
            if (!c(t).isBf16()) {
                return null;
            }
        }
        CudnnAttention a = cudnn();
        if (a == null || !a.supports(batch, seq, heads, groups, headDim)
                || cudnnFailedShapes.contains(pass + shapeKey(batch, seq, heads, headDim))) {
            return null;
        }
        return a;
    }

    private static String shapeKey(int batch, int seq, int heads, int headDim) {
        return " B=" + batch + " T=" + seq + " H=" + heads + " d=" + headDim;
    }

    private void cudnnFailed(String pass, RuntimeException e, int batch, int seq, int heads, int headDim) {
        if (attentionMode.equals("cudnn")) {
            throw e;
        }
        if (cudnnFailedShapes.isEmpty()) {
            System.err.println("lattice: cuDNN attention " + pass + " failed, using our kernels for" + shapeKey(batch,
                    seq, heads, headDim) + ": " + e.getMessage());
        }
        cudnnFailedShapes.add(pass + shapeKey(batch, seq, heads, headDim));
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor qkv, int batch, int seq, int heads, int groups,
                                 int headDim) {
        onDevice();
        checkHeads(heads, groups, headDim);
        CudnnAttention a = cudnnFor("forward", new Tensor[]{out, qkv}, lse, batch, seq, heads, groups, headDim);
        if (a != null) {
            try {
                a.forward(addr(out), addr(lse), addr(qkv), batch, seq, heads, headDim);
                return;
            } catch (RuntimeException e) {
                cudnnFailed("forward", e, batch, seq, heads, headDim);
            }
        }
        int tiles = (seq + ATT_Q_TILE - 1) / ATT_Q_TILE;
        boolean tc = tensorCores(headDim);
        attention(headDim).launch(stream, tc ? "attention_forward_tc" : "attention_forward", tiles, batch * heads,
                tc ? ATT_TC_THREADS : ATT_Q_TILE, 0, p(out), p(lse), p(qkv), batch, seq, heads, groups);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int batch, int seq,
                                  int heads, int groups, int headDim) {
        onDevice();
        checkHeads(heads, groups, headDim);
        CudnnAttention a = cudnnFor("backward", new Tensor[]{dqkv, dout, qkv, out}, lse, batch, seq, heads, groups,
                headDim);
        if (a != null) {
            try {
                a.backward(addr(dqkv), addr(dout), addr(qkv), addr(out), addr(lse), batch, seq, heads, headDim,
                        deterministicAttention);
                return;
            } catch (RuntimeException e) {
                cudnnFailed("backward", e, batch, seq, heads, headDim);
            }
        }
        KernelModule m = attention(headDim);
        long rows = (long) batch * heads * seq;
        long d = allocator.allocate(4 * rows);
        try {
            m.launch(stream, "attention_backward_dot", blocks(rows), 1, THREADS, 0, d, p(dout), p(out), batch, seq,
                    heads);
            int tiles = (seq + ATT_Q_TILE - 1) / ATT_Q_TILE;
            boolean tc = tensorCores(headDim);
            int threads = tc ? ATT_TC_THREADS : ATT_Q_TILE;
            String suffix = tc ? "_tc" : "";
            m.launch(stream, "attention_backward_dq" + suffix, tiles, batch * heads, threads, 0, p(dqkv), p(dout),
                    p(qkv), p(lse), d, batch, seq, heads, groups);
            m.launch(stream, "attention_backward_dkv" + suffix, tiles, batch * groups, threads, 0, p(dqkv),
                    p(dout), p(qkv), p(lse), d, batch, seq, heads, groups);
        } finally {
            allocator.release(d);
        }
    }

    @Override
    public void crossEntropyForward(Tensor losses, Tensor lse, Tensor logits, int[] targets, int rows, int vocab,
                                    int paddedVocab) {
        onDevice();
        checkVocab(vocab, paddedVocab);
        checkIds("cross-entropy target", targets, rows, vocab);
        // 16-byte accesses and one pass when the padded rows allow them
        launchRows(paddedVocab % 8 == 0 ? "cross_entropy_forward_vec" : "cross_entropy_forward", rows, p(losses),
                p(lse), p(logits), uploads.ints(targets), rows, vocab, paddedVocab);
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor lse, int[] targets, float[] dlosses,
                                     int rows, int vocab, int paddedVocab) {
        onDevice();
        checkVocab(vocab, paddedVocab);
        checkIds("cross-entropy target", targets, rows, vocab);
        long t = uploads.ints(targets);
        launchRows(paddedVocab % 8 == 0 ? "cross_entropy_backward_vec" : "cross_entropy_backward", rows, p(dlogits),
                p(logits), p(lse), t, uploads.floats(dlosses), rows, vocab, paddedVocab);
    }

    /** One kernel per row ({@code cross_entropy_fused_vec}) when the padded rows allow 16-byte accesses. */
    @Override
    public void crossEntropyForwardBackward(Tensor losses, Tensor lse, Tensor logits, int[] targets, float[] dlosses,
                                            int rows, int vocab, int paddedVocab) {
        if (paddedVocab % 8 != 0) {
            Backend.super.crossEntropyForwardBackward(losses, lse, logits, targets, dlosses, rows, vocab,
                    paddedVocab);
            return;
        }
        onDevice();
        checkVocab(vocab, paddedVocab);
        checkIds("cross-entropy target", targets, rows, vocab);
        if (dlosses.length < rows) {
            throw new IllegalArgumentException("need " + rows + " loss weights, got " + dlosses.length);
        }
        written(logits);
        launchRows("cross_entropy_fused_vec", rows, p(losses), p(lse), p(logits), uploads.ints(targets),
                uploads.floats(dlosses), rows, vocab, paddedVocab);
    }

    private static void checkVocab(int vocab, int paddedVocab) {
        if (vocab <= 0 || paddedVocab < vocab) {
            throw new IllegalArgumentException("need 0 < V <= Vp, got V=" + vocab + ", Vp=" + paddedVocab);
        }
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2,
                      double eps, double weightDecay, long step) {
        adamW(param, 0, grad, 0, m, v, 0, param.numel(), lr, beta1, beta2, eps, weightDecay, step);
    }

    /** The step's constants in double, as AdamWKernels.update computes them, then one fp32 kernel. */
    @Override
    public void adamW(Tensor param, long paramOff, Tensor grad, long gradOff, Tensor m, Tensor v, long stateOff,
                      long count, double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        onDevice();
        if (step < 1) {
            throw new IllegalArgumentException("AdamW step must be >= 1, got " + step);
        }
        float decay = (float) (1.0 - lr * weightDecay);
        float w1 = (float) (1.0 - beta1);
        float b2 = (float) beta2;
        float w2 = (float) (1.0 - beta2);
        double bc1 = 1.0 - Math.pow(beta1, step);
        double bc2 = 1.0 - Math.pow(beta2, step);
        float negStep = (float) (-(lr / bc1));
        float bc2Sqrt = (float) Math.sqrt(bc2);
        written(param);
        launch("adamw_update", count, c(param).at(paramOff), c(grad).at(gradOff), c(m).at(stateOff),
                c(v).at(stateOff), count, decay, w1, b2, w2, negStep, bc2Sqrt, (float) eps);
    }

    /**
     * Every segment in one launch ({@code adamw_multi}): blocks are dealt to segments in proportion to their length
     * (at most 1024 each); the same arithmetic as {@code scale_f32} then {@code adamw_update} per segment.
     */
    @Override
    public void adamW(List<AdamWSegment> segments, float gradScale, double lr, double beta1, double beta2,
                      double eps, long step) {
        onDevice();
        if (step < 1) {
            throw new IllegalArgumentException("AdamW step must be >= 1, got " + step);
        }
        AdamWPlan plan = adamWPlan(segments);
        if (!plan.fp32()) { // adamw_multi takes fp32 buffers only
            for (AdamWSegment s : segments) {
                if (c(s.param()).rounded().flat) { // the fallback would leave those roundings behind
                    throw new IllegalStateException("AdamW of " + s.param() + ", whose roundings a flat bf16 buffer"
                            + " keeps, needs fp32 gradients and moments");
                }
            }
            Backend.super.adamW(segments, gradScale, lr, beta1, beta2, eps, step);
            return;
        }
        if (plan.rows() == 0) {
            return;
        }
        for (Tensor t : plan.updated()) {
            written(t);
        }
        double bc1 = 1.0 - Math.pow(beta1, step);
        double bc2 = 1.0 - Math.pow(beta2, step);
        kernels.launch(stream, "adamw_multi", Math.toIntExact(plan.blocks()), 1, THREADS, 0, plan.table(),
                plan.rows(), gradScale, gradScale != 1f ? 1 : 0, lr, (float) (1.0 - beta1), (float) beta2,
                (float) (1.0 - beta2), (float) (-(lr / bc1)), (float) Math.sqrt(bc2), (float) eps);
        for (CudaTensor.RoundedCopy r : plan.refreshed()) {
            r.fresh = true;
        }
    }

    /**
     * adamw_multi's launch for one segment list, made once: its table on the device (addresses, counts, weight decays,
     * blocks, the kept bf16 roundings written in the same pass), the parameters it updates and the roundings it
     * refreshes. A step then only writes those flags and passes its scalars (lr enters the kernel, which forms each
     * segment's decay 1 − lr·wd in double as the host did): building the ~150-row table each step ran in the JVM's
     * interpreter for the first hundreds of steps (~0.3 ms a step at GPT-2 124M, with the GPU idle after the norm's
     * host wait, session 6). Made again when the list is another object or a tensor moved since
     * ({@link CudaTensor#addressEpoch}); callers pass the same unmodified list each step (AdamW and the ZeRO syncs
     * keep theirs).
     */
    private record AdamWPlan(long epoch, boolean fp32, long table, int rows, long blocks, List<Tensor> updated,
                             List<CudaTensor.RoundedCopy> refreshed, long[] lastUse) {
    }

    /**
     * Plans by segment list (identity): one per list a step uses (one per ZeRO bucket). A plan no call used for
     * ADAMW_PLAN_AGE calls goes when another is made, so a list the caller replaced (and its tensors, which the plan
     * holds) is not kept alive.
     */
    private final Map<List<AdamWSegment>, AdamWPlan> adamWPlans = new java.util.IdentityHashMap<>();
    private static final int ADAMW_PLAN_AGE = 256;
    private long adamWCalls;

    private AdamWPlan adamWPlan(List<AdamWSegment> segments) {
        long epoch = CudaTensor.addressEpoch();
        long call = ++adamWCalls;
        AdamWPlan plan = adamWPlans.get(segments);
        if (plan != null && plan.epoch() == epoch) {
            plan.lastUse()[0] = call;
            return plan;
        }
        if (plan != null) { // a tensor moved: every plan may be stale
            releaseAdamWPlans();
        } else {
            adamWPlans.values().removeIf(p -> {
                boolean old = call - p.lastUse()[0] > ADAMW_PLAN_AGE;
                if (old) {
                    releaseTable(p);
                }
                return old;
            });
        }
        boolean fp32 = true;
        for (AdamWSegment s : segments) {
            fp32 &= !c(s.param()).isBf16() && !c(s.grad()).isBf16() && !c(s.m()).isBf16() && !c(s.v()).isBf16();
        }
        if (!fp32) {
            plan = new AdamWPlan(epoch, false, 0, 0, 0, List.of(), List.of(), new long[] {call});
            adamWPlans.put(segments, plan);
            return plan;
        }
        long[] table = new long[STRIDE * segments.size()];
        long blocks = 0;
        int rows = 0;
        List<Tensor> updated = new ArrayList<>();
        List<CudaTensor.RoundedCopy> refreshed = new ArrayList<>();
        for (AdamWSegment s : segments) {
            if (s.count() == 0) {
                continue;
            }
            long b = multiBlocks(s.count());
            int k = STRIDE * rows++;
            table[k] = c(s.param()).addressOf(s.paramOff());
            table[k + 1] = c(s.grad()).addressOf(s.gradOff());
            table[k + 2] = c(s.m()).addressOf(s.stateOff());
            table[k + 3] = c(s.v()).addressOf(s.stateOff());
            table[k + 4] = s.count();
            table[k + 5] = Double.doubleToRawLongBits(s.weightDecay());
            table[k + 6] = blocks;
            table[k + 7] = b;
            // a weight's kept bf16 rounding is written in the same pass when the segment is the whole weight (a
            // ZeRO shard's segment is part of a flat buffer; the model's weights then come from copies, which mark
            // their roundings stale)
            CudaTensor.RoundedCopy r = c(s.param()).rounded();
            updated.add(s.param());
            if (r.address != 0 && r.flat) { // a flat buffer's rounding: any segment's part of it past flatStart
                table[k + 8] = s.paramOff() >= r.flatStart ? r.address + 2 * (s.paramOff() - r.flatStart) : 0;
            } else if (r.address != 0 && s.paramOff() == 0 && s.count() == s.param().numel()) {
                table[k + 8] = r.address;
                refreshed.add(r);
            }
            blocks += b;
        }
        long onDevice = 0;
        if (rows > 0) { // the ring upload's slot is reused later: copy it into a block of the plan's own
            long bytes = 8L * STRIDE * rows;
            onDevice = allocator.allocate(bytes);
            Cuda.check(cudaMemcpyAsync(DevicePointers.at(onDevice),
                    DevicePointers.at(uploads.ints(asInts(java.util.Arrays.copyOf(table, STRIDE * rows)))), bytes,
                    cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync (AdamW table)");
        }
        plan = new AdamWPlan(epoch, true, onDevice, rows, blocks, List.copyOf(updated), List.copyOf(refreshed),
                new long[] {call});
        adamWPlans.put(segments, plan);
        return plan;
    }

    private void releaseAdamWPlans() {
        adamWPlans.values().forEach(this::releaseTable);
        adamWPlans.clear();
    }

    private void releaseTable(AdamWPlan p) {
        if (p.table() != 0) {
            allocator.release(p.table()); // stream order: launches already queued still read it
        }
    }

    /** i64 per AdamW segment in {@code adamw_multi}'s table. */
    private static final int STRIDE = 9;

    /** 64-bit values as little-endian int pairs (the device reads them back as i64). */
    private static int[] asInts(long[] values) {
        int[] out = new int[2 * values.length];
        for (int i = 0; i < values.length; i++) {
            out[2 * i] = (int) values[i];
            out[2 * i + 1] = (int) (values[i] >>> 32);
        }
        return out;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        onDevice();
        cudaStreamSynchronize(stream);
        closed = true;
        releaseAdamWPlans();
        uploads.close();
        kernels.close();
        attention.values().forEach(KernelModule::close);
        if (lt != null) {
            lt.close();
        }
        if (cudnn != null) {
            cudnn.close();
        }
        cublasDestroy_v2(cublas);
        allocator.close();
        if (staging.capacity() > 0) {
            cudaFreeHost(staging);
        }
        cudaStreamDestroy(stream);
    }
}
