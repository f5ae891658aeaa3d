package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.parallel.cuda.CudaException;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;

/**
 * GEMMs with a fused epilogue (bias, GELU, their gradients) through cuBLASLt, so the element-wise pass after a GEMM
 * does not re-read and re-write its output. Row-major {@code C = op(A)·op(B)} is handed over as the column-major
 * {@code Cᵀ = op(B)ᵀ·op(A)ᵀ}, as {@link CudaBackend#matmul} does; in those terms a bias runs along C's columns
 * (one value per output feature) and BGRADB reduces our A over the rows (k), which is the bias gradient of a
 * weight-gradient GEMM {@code dW = doutᵀ·inp}.
 *
 * <p>One handle, one workspace and the backend's stream. A plan (matmul descriptor, layouts, the heuristic's
 * algorithm) is made once per {@link Shape}, so a training loop creates no descriptors after its first step; only the
 * bias and aux pointers, which differ per layer, are set on the cached descriptor before each call. Shapes cuBLASLt
 * rejects are remembered as such and {@link #run} answers false: the caller then takes the unfused path.
 *
 * <p>{@code -Dlattice.cublaslt.autotune=N} (default 1: the heuristic's first algorithm) asks the heuristic for up to N
 * algorithms and times each on the shape's first call with {@code beta = 0} (rewriting the same output, so the values
 * left are the chosen algorithm's): faster GEMMs, at the price of run-to-run bitwise reproducibility (the choice
 * follows the timings).
 */
final class CublasLtGemm implements AutoCloseable {

    /** The epilogues Lattice uses; {@code bias}: a bias (or bias gradient) vector, {@code aux}: an aux matrix. */
    enum Epilogue {
        /** D = AB (+ beta·C): the plain products, through cuBLASLt's heuristics and workspace too. */
        NONE(CUBLASLT_EPILOGUE_DEFAULT, false, false),
        /** D = AB + bias. */
        BIAS(CUBLASLT_EPILOGUE_BIAS, true, false),
        /** aux = AB, D = gelu(aux). */
        GELU_AUX(CUBLASLT_EPILOGUE_GELU_AUX, false, true),
        /** aux = AB + bias, D = gelu(aux). */
        GELU_AUX_BIAS(CUBLASLT_EPILOGUE_GELU_AUX_BIAS, true, true),
        /** D = gelu'(aux) ⊙ AB. */
        DGELU(CUBLASLT_EPILOGUE_DGELU, false, true),
        /** D = AB; bias (written, not accumulated) = the sum of our A over k. */
        BGRADB(CUBLASLT_EPILOGUE_BGRADB, true, false);

        final int code;
        final boolean bias;
        final boolean aux;

        Epilogue(int code, boolean bias, boolean aux) {
            this.code = code;
            this.bias = bias;
            this.aux = aux;
        }
    }

    /**
     * What a plan depends on: the row-major problem (C is m×n, k the inner size), the storage types (cudaDataType)
     * of the operands, of C/D (the aux matrix has D's type), of the bias vector (-1 without one) and the compute type.
     */
    record Shape(Epilogue epilogue, boolean transA, boolean transB, int m, int n, int k, int abType, int cType,
                 int biasType, int computeType) {
        @Override
        public String toString() {
            return epilogue + " " + m + "x" + n + "x" + k + (transA ? " Aᵀ" : "") + (transB ? " Bᵀ" : "") + " ab="
                    + type(abType) + " c=" + type(cType) + (biasType >= 0 ? " bias=" + type(biasType) : "")
                    + " compute=" + computeType;
        }

        private static String type(int t) {
            return t == CUDA_R_16BF ? "bf16" : t == CUDA_R_32F ? "fp32" : "type" + t;
        }
    }

    private static final class Plan {
        final Shape shape;
        cublasLtMatmulDescOpaque_t desc;
        cublasLtMatrixLayoutOpaque_t layoutA; // cuBLAS's A = our B
        cublasLtMatrixLayoutOpaque_t layoutB; // cuBLAS's B = our A
        cublasLtMatrixLayoutOpaque_t layoutC; // C and D
        final cublasLtMatmulHeuristicResult_t results;
        int found; // algorithms the heuristic returned
        int chosen; // the one in use
        boolean tuned;
        String unsupported; // why cuBLASLt cannot run it; null when it can
        long runs;

        Plan(Shape shape, int candidates) {
            this.shape = shape;
            this.results = new cublasLtMatmulHeuristicResult_t(candidates);
        }
    }

    /** The system property: how many algorithms to time per shape (1: the heuristic's first, as cuBLAS takes). */
    static final String AUTOTUNE_PROPERTY = "lattice.cublaslt.autotune";

    private final CUstream_st stream;
    private final cublasLtContext handle = new cublasLtContext();
    private final cublasLtMatmulPreferenceOpaque_t preference;
    private final long workspace;
    private final long workspaceBytes;
    private final int candidates = Math.max(1, Integer.getInteger(AUTOTUNE_PROPERTY, 1));
    private final Map<Shape, Plan> plans = new HashMap<>();
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    private final IntPointer intArg = new IntPointer(1);
    private final LongPointer longArg = new LongPointer(1);
    private boolean closed;

    /** A handle on {@code stream} with a workspace of {@code workspaceBytes} at device address {@code workspace}. */
    CublasLtGemm(CUstream_st stream, long workspace, long workspaceBytes) {
        this.stream = stream;
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        check(cublasLtCreate(handle), "cublasLtCreate");
        PointerPointer<?> out = new PointerPointer<>(1);
        check(cublasLtMatmulPreferenceCreate(out), "cublasLtMatmulPreferenceCreate");
        preference = new cublasLtMatmulPreferenceOpaque_t(out.get(0));
        check(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                longArg.put(0, workspaceBytes), 8), "cublasLtMatmulPreferenceSetAttribute (workspace)");
    }

    private static void check(int rc, String op) {
        if (rc != 0) {
            throw new CudaException(op + " failed: cublasStatus " + rc);
        }
    }

    /** Whether cuBLASLt has an algorithm for {@code s} (asked once per shape). */
    boolean supports(Shape s) {
        return plan(s).unsupported == null;
    }

    /**
     * Enqueues {@code C = op(A)·op(B) + beta·C} with the shape's epilogue (alpha 1) on device addresses: {@code bias}
     * is the bias vector (BIAS, GELU_AUX_BIAS) or the bias gradient it writes (BGRADB), {@code aux} the aux matrix
     * [m, n] (row-major, like C). Returns false, having enqueued nothing, when cuBLASLt cannot run this shape.
     */
    boolean run(Shape s, long c, long a, long b, float beta, long bias, long aux) {
        if (closed) {
            throw new IllegalStateException("cuBLASLt GEMMs are closed");
        }
        Plan p = plan(s);
        if (p.unsupported != null) {
            return false;
        }
        if (s.epilogue().bias) {
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, longArg.put(0, bias), 8),
                    "cublasLtMatmulDescSetAttribute (bias pointer) " + s);
        }
        if (s.epilogue().aux) {
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
                    longArg.put(0, aux), 8), "cublasLtMatmulDescSetAttribute (aux pointer) " + s);
        }
        FloatPointer be = beta == 0f ? zero : beta == 1f ? one : new FloatPointer(beta);
        if (!p.tuned && beta == 0f && p.found > 1) { // beta = 0: running a candidate again rewrites the same output
            p.chosen = fastest(p, c, a, b);
            p.tuned = true;
        }
        int rc = matmul(p, p.chosen, c, a, b, be);
        if (rc != 0) {
            if (p.runs == 0) { // rejected at its first call: remember, and let the caller fall back
                p.unsupported = "cublasLtMatmul: cublasStatus " + rc;
                return false;
            }
            throw new CudaException("cublasLtMatmul " + s + " failed: cublasStatus " + rc);
        }
        p.runs++;
        return true;
    }

    private int matmul(Plan p, int algorithm, long c, long a, long b, FloatPointer beta) {
        return cublasLtMatmul(handle, p.desc, one, DevicePointers.at(b), p.layoutA, DevicePointers.at(a), p.layoutB,
                beta, DevicePointers.at(c), p.layoutC, DevicePointers.at(c), p.layoutC,
                p.results.position(algorithm).algo(), DevicePointers.at(workspace), workspaceBytes, stream);
    }

    /** Times each of the heuristic's algorithms (beta 0; a warm-up, then the median of 3) and returns the fastest. */
    private int fastest(Plan p, long c, long a, long b) {
        CUevent_st start = new CUevent_st();
        CUevent_st end = new CUevent_st();
        Cuda.check(cudaEventCreate(start), "cudaEventCreate");
        Cuda.check(cudaEventCreate(end), "cudaEventCreate");
        try {
            int best = 0;
            float bestMs = Float.MAX_VALUE;
            float[] ms = new float[1];
            for (int i = 0; i < p.found; i++) {
                if (p.results.position(i).workspaceSize() > workspaceBytes || matmul(p, i, c, a, b, zero) != 0) {
                    continue; // this algorithm does not run here
                }
                float[] t = new float[3];
                for (int r = 0; r < t.length; r++) {
                    Cuda.check(cudaEventRecord(start, stream), "cudaEventRecord");
                    matmul(p, i, c, a, b, zero);
                    Cuda.check(cudaEventRecord(end, stream), "cudaEventRecord");
                    Cuda.check(cudaEventSynchronize(end), "cudaEventSynchronize");
                    Cuda.check(cudaEventElapsedTime(ms, start, end),
                            "cudaEventElapsedTime");
                    t[r] = ms[0];
                }
                java.util.Arrays.sort(t);
                if (t[1] < bestMs) {
                    bestMs = t[1];
                    best = i;
                }
            }
            p.results.position(0);
            return best;
        } finally {
            cudaEventDestroy(start);
            cudaEventDestroy(end);
        }
    }

    private Plan plan(Shape s) {
        Plan p = plans.get(s);
        if (p == null) {
            p = create(s);
            plans.put(s, p);
        }
        return p;
    }

    private Plan create(Shape s) {
        Plan p = new Plan(s, candidates);
        String what = " " + s;
        PointerPointer<?> out = new PointerPointer<>(1);
        check(cublasLtMatmulDescCreate(out, s.computeType(), CUDA_R_32F), "cublasLtMatmulDescCreate" + what);
        p.desc = new cublasLtMatmulDescOpaque_t(out.get(0));
        setInt(p, CUBLASLT_MATMUL_DESC_TRANSA, s.transB() ? CUBLAS_OP_T : CUBLAS_OP_N, "transa" + what);
        setInt(p, CUBLASLT_MATMUL_DESC_TRANSB, s.transA() ? CUBLAS_OP_T : CUBLAS_OP_N, "transb" + what);
        setInt(p, CUBLASLT_MATMUL_DESC_EPILOGUE, s.epilogue().code, "epilogue" + what);
        // The heuristic sees a descriptor like the real calls' (pointers aligned, not null): the workspace stands
        // in for the bias and aux pointers, which run() sets per call.
        if (s.epilogue().bias) {
            setInt(p, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, s.biasType(), "bias data type" + what);
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                    longArg.put(0, workspace), 8), "cublasLtMatmulDescSetAttribute (bias pointer)" + what);
        }
        if (s.epilogue().aux) { // the aux matrix is laid out like D
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD,
                    longArg.put(0, s.n()), 8), "cublasLtMatmulDescSetAttribute (aux ld)" + what);
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
                    longArg.put(0, workspace), 8), "cublasLtMatmulDescSetAttribute (aux pointer)" + what);
        }
        int m = s.m();
        int n = s.n();
        int k = s.k();
        // column-major views of the row-major operands: a row-major r×c matrix is a column-major c×r one
        p.layoutA = layout(s.abType(), s.transB() ? k : n, s.transB() ? n : k, s.transB() ? k : n, "B" + what);
        p.layoutB = layout(s.abType(), s.transA() ? m : k, s.transA() ? k : m, s.transA() ? m : k, "A" + what);
        p.layoutC = layout(s.cType(), n, m, n, "C" + what);
        IntPointer found = new IntPointer(1);
        int rc = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.layoutA, p.layoutB, p.layoutC, p.layoutC,
                preference, candidates, p.results, found);
        if (rc != 0) {
            p.unsupported = "no heuristic: cublasStatus " + rc;
        } else if (found.get(0) == 0) {
            p.unsupported = "no algorithm";
        }
        p.found = found.get(0);
        return p;
    }

    private void setInt(Plan p, int attribute, int value, String what) {
        check(cublasLtMatmulDescSetAttribute(p.desc, attribute, intArg.put(0, value), 4),
                "cublasLtMatmulDescSetAttribute (" + what + ")");
    }

    private static cublasLtMatrixLayoutOpaque_t layout(int type, long rows, long cols, long ld, String what) {
        PointerPointer<?> out = new PointerPointer<>(1);
        check(cublasLtMatrixLayoutCreate(out, type, rows, cols, ld), "cublasLtMatrixLayoutCreate " + what);
        return new cublasLtMatrixLayoutOpaque_t(out.get(0));
    }

    /** One line per shape seen: whether cuBLASLt runs it (and how often) or why not. */
    String report() {
        List<String> lines = new ArrayList<>();
        for (Plan p : plans.values()) {
            lines.add(p.shape + ": " + (p.unsupported == null ? p.runs + " runs" + (p.found > 1 ? ", algorithm "
                    + (p.chosen + 1) + " of " + p.found + (p.tuned ? " (timed)" : "") : "") : "unfused ("
                    + p.unsupported + ")"));
        }
        lines.sort(null);
        return String.join("\n", lines);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Plan p : plans.values()) {
            cublasLtMatrixLayoutDestroy(p.layoutA);
            cublasLtMatrixLayoutDestroy(p.layoutB);
            cublasLtMatrixLayoutDestroy(p.layoutC);
            cublasLtMatmulDescDestroy(p.desc);
        }
        plans.clear();
        cublasLtMatmulPreferenceDestroy(preference);
        cublasLtDestroy(handle);
    }
}
