package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.CudaException;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnBackendDescriptor_t;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.cudnn.*;

/**
 * Fused causal attention through cuDNN's SDPA engines, built with the backend graph API (no cudnn-frontend): the
 * forward graph {@code O = softmax(mask(scale·Q·Kᵀ))·V} with the softmax statistics {@code max + log(sum)} as an output,
 * and the backward graph {@code dQ, dK, dV} from Q, K, V, O, dO and those statistics, in the patterns cuDNN's
 * fused-attention engines recognise (the composite SDPA nodes of cudnn-frontend: matmul, scale, GEN_INDEX/CMP_GE/
 * BINARY_SELECT causal mask, reductions, pointwise exp/log/div, reshapes for the transposed operands, an fp32 dQ
 * accumulator and an fp32 {@code rowsum(dO∘O)} in the workspace).
 *
 * <p>Q, K and V are read in place from the fused QKV buffer through strides, dQ/dK/dV are written into dqkv through
 * the same strides, O/dO are {@code [B, T, H·d]}: no copies. The statistics are exactly our {@code lse}
 * ({@code [B, H, T]}, natural-log log-sum-exp of the scaled scores), so this forward and our kernels' backward (and
 * the other way round) are interchangeable. bf16 tensors only, MHA only ({@code groups == heads}: the grouped QKV row
 * of GQA has no single head stride); the backend falls back to its own kernels otherwise.
 *
 * <p>Plans are built once per shape (heuristics mode A, then the fallback list; the first engine configuration that
 * finalises wins) and cached; workspaces come from the backend's caching allocator, released after enqueueing (the
 * allocator's one-stream contract).
 */
final class CudnnAttention implements AutoCloseable {

    // unique ids of the graphs' non-virtual tensors
    private static final long Q = 1, K = 2, V = 3, O = 4, STATS = 5, SCALE = 6, NEG = 7, DO = 8, DQ = 9, DK = 10,
            DV = 11, ONE = 12, SUM = 13, DQ_ACC = 14;
    private static final long ALIGN = 256;

    private final cudnnContext handle = new cudnnContext();
    private final DeviceAllocator allocator;
    private final long version;
    private final Map<String, Plan> plans = new HashMap<>();
    private boolean closed;

    CudnnAttention(CUstream_st stream, DeviceAllocator allocator) {
        this.allocator = allocator;
        this.version = cudnnGetVersion();
        check(cudnnCreate(handle), "cudnnCreate");
        check(cudnnSetStream(handle, stream), "cudnnSetStream");
    }

    /** The cuDNN version loaded (e.g. 91900). */
    long version() {
        return version;
    }

    /**
     * Whether cuDNN's SDPA can run this shape here: MHA, head dim a multiple of 8 up to 256 (Hopper's SDPA limits),
     * and before cuDNN 9.16 a sequence length that is a multiple of 128 (older backward engines need a padding mask
     * otherwise).
     */
    boolean supports(int batch, int seq, int heads, int groups, int headDim) {
        return version >= 90600 && groups == heads && headDim % 8 == 0 && headDim <= 256 && batch > 0 && seq > 0
                && (version >= 91600 || seq % 128 == 0);
    }

    /** Forward: {@code out [B, T, H·d]} and {@code lse [B·H·T]} WRITTEN from the bf16 fused {@code qkv}. */
    void forward(long out, long lse, long qkv, int batch, int seq, int heads, int headDim) {
        Plan plan = plan("f", batch, seq, heads, headDim);
        long ws = plan.workspace == 0 ? 0 : allocator.allocate(plan.workspace);
        try {
            long e = 2; // bytes per bf16
            plan.execute(handle, ws, new long[]{Q, qkv, K, qkv + e * headDim, V, qkv + 2 * e * headDim, O, out,
                    STATS, lse, SCALE, plan.scalars.get(0).address(), NEG, plan.scalars.get(1).address()});
        } finally {
            if (ws != 0) {
                allocator.release(ws);
            }
        }
    }

    /**
     * Backward: every q, k, v slot of the bf16 {@code dqkv} WRITTEN. {@code deterministic}: the graph without the
     * fp32 dQ accumulator, which is how the backend API asks for the engine that keeps dP in its workspace and writes
     * dQ in a fixed order (cudnn-frontend's {@code set_deterministic_algorithm}); the default graph accumulates dQ
     * across thread blocks with atomics, so its bits vary from run to run. The deterministic plan's workspace is
     * about {@code B·H·T²·2} bytes.
     */
    void backward(long dqkv, long dout, long qkv, long out, long lse, int batch, int seq, int heads, int headDim,
                  boolean deterministic) {
        Plan plan = plan(deterministic ? "bd" : "b", batch, seq, heads, headDim);
        long rows = (long) batch * heads * seq;
        long acc = deterministic ? 0 : align(4 * rows * headDim);
        long sum = align(4 * rows);
        long ws = allocator.allocate(acc + sum + plan.workspace);
        try {
            long e = 2;
            long[] pairs = {Q, qkv, K, qkv + e * headDim, V, qkv + 2 * e * headDim, O, out, DO, dout, STATS, lse, DQ,
                    dqkv, DK, dqkv + e * headDim, DV, dqkv + 2 * e * headDim, SUM, ws + acc, SCALE,
                    plan.scalars.get(0).address(), NEG, plan.scalars.get(1).address(), ONE,
                    plan.scalars.get(2).address()};
            if (!deterministic) {
                pairs = java.util.Arrays.copyOf(pairs, pairs.length + 2);
                pairs[pairs.length - 2] = DQ_ACC;
                pairs[pairs.length - 1] = ws;
            }
            plan.execute(handle, ws + acc + sum, pairs);
        } finally {
            allocator.release(ws);
        }
    }

    private static long align(long bytes) {
        return (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    private Plan plan(String pass, int batch, int seq, int heads, int headDim) {
        if (closed) {
            throw new IllegalStateException("cuDNN attention is closed");
        }
        String key = pass + batch + "," + seq + "," + heads + "," + headDim;
        Plan p = plans.get(key);
        if (p == null) {
            Graph g = new Graph();
            try {
                p = pass.equals("f") ? buildForward(g, batch, seq, heads, headDim)
                        : buildBackward(g, batch, seq, heads, headDim, pass.equals("bd"));
            } catch (RuntimeException ex) {
                g.close();
                throw ex;
            }
            plans.put(key, p);
        }
        return p;
    }

    // ---- the graphs ----

    private Plan buildForward(Graph g, int b, int t, int h, int d) {
        long row = 3L * h * d; // MHA row: per head q | k | v
        long[] qDims = {b, h, t, d};
        long[] qStr = {t * row, 3L * d, row, 1};
        long[] ktDims = {b, h, d, t};
        long[] ktStr = {t * row, 3L * d, 1, row};
        long[] oStr = {(long) t * h * d, d, (long) h * d, 1};
        long[] sDims = {b, h, t, t};
        long[] sStr = {(long) h * t * t, (long) t * t, t, 1};
        long[] rDims = {b, h, t, 1};
        long[] rStr = {(long) h * t, t, 1, 1};

        long q = g.tensor(Q, CUDNN_DATA_BFLOAT16, qDims, qStr);
        long kt = g.tensor(K, CUDNN_DATA_BFLOAT16, ktDims, ktStr);
        long v = g.tensor(V, CUDNN_DATA_BFLOAT16, qDims, qStr);
        long o = g.tensor(O, CUDNN_DATA_BFLOAT16, qDims, oStr);
        long stats = g.tensor(STATS, CUDNN_DATA_FLOAT, rDims, rStr);
        long scale = g.scalar(SCALE, (float) (1.0 / Math.sqrt(d)));
        long neg = g.scalar(NEG, -Float.MAX_VALUE);

        long s = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.matmul(q, kt, s);
        long s2 = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_MUL, s, scale, 0, s2);
        long masked = g.causalMask(s2, neg, sDims, sStr);
        long max = g.virt(CUDNN_DATA_FLOAT, rDims, rStr);
        g.reduce(CUDNN_REDUCE_TENSOR_MAX, masked, max);
        long sub = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_SUB, masked, max, 0, sub);
        long exp = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_EXP, sub, 0, 0, exp);
        long sum = g.virt(CUDNN_DATA_FLOAT, rDims, rStr);
        g.reduce(CUDNN_REDUCE_TENSOR_ADD, exp, sum);
        long log = g.virt(CUDNN_DATA_FLOAT, rDims, rStr);
        g.pointwise(CUDNN_POINTWISE_LOG, sum, 0, 0, log);
        g.pointwise(CUDNN_POINTWISE_ADD, max, log, 0, stats);
        long p = g.virt(CUDNN_DATA_BFLOAT16, sDims, sStr); // the second matmul's A operand in the I/O type
        g.pointwise(CUDNN_POINTWISE_DIV, exp, sum, 0, p);
        g.matmul(p, v, o);
        return g.plan(handle, "SDPA forward B=" + b + " T=" + t + " H=" + h + " d=" + d);
    }

    private Plan buildBackward(Graph g, int b, int t, int h, int d, boolean deterministic) {
        long row = 3L * h * d;
        long[] qDims = {b, h, t, d};
        long[] qStr = {t * row, 3L * d, row, 1};
        long[] ktDims = {b, h, d, t};
        long[] ktStr = {t * row, 3L * d, 1, row};
        long[] oStr = {(long) t * h * d, d, (long) h * d, 1};
        long[] packed = {(long) h * t * d, (long) t * d, d, 1};
        long[] sDims = {b, h, t, t};
        long[] sStr = {(long) h * t * t, (long) t * t, t, 1};
        long[] sTStr = {(long) h * t * t, (long) t * t, 1, t}; // [b, h, kv, q] views of [b, h, q, kv]
        long[] rDims = {b, h, t, 1};
        long[] rStr = {(long) h * t, t, 1, 1};

        long q = g.tensor(Q, CUDNN_DATA_BFLOAT16, qDims, qStr);
        long kt = g.tensor(K, CUDNN_DATA_BFLOAT16, ktDims, ktStr);
        long vt = g.tensor(V, CUDNN_DATA_BFLOAT16, ktDims, ktStr);
        long o = g.tensor(O, CUDNN_DATA_BFLOAT16, qDims, oStr);
        long dO = g.tensor(DO, CUDNN_DATA_BFLOAT16, qDims, oStr);
        long stats = g.tensor(STATS, CUDNN_DATA_FLOAT, rDims, rStr);
        long dQ = g.tensor(DQ, CUDNN_DATA_BFLOAT16, qDims, qStr);
        long dK = g.tensor(DK, CUDNN_DATA_BFLOAT16, qDims, qStr);
        long dV = g.tensor(DV, CUDNN_DATA_BFLOAT16, qDims, qStr);
        long dqAcc = deterministic ? 0 : g.tensor(DQ_ACC, CUDNN_DATA_FLOAT, qDims, packed);
        long rowSum = g.tensor(SUM, CUDNN_DATA_FLOAT, rDims, rStr);
        long scale = g.scalar(SCALE, (float) (1.0 / Math.sqrt(d)));
        long neg = g.scalar(NEG, -Float.MAX_VALUE);
        long one = g.scalar(ONE, 1f);

        // rowsum(dO ∘ O), the softmax-gradient correction, into the workspace
        long doO = g.virt(CUDNN_DATA_FLOAT, qDims, new long[]{(long) h * t * d, (long) t * d, (long) h * d, 1});
        g.pointwise(CUDNN_POINTWISE_MUL, dO, o, 0, doO);
        long red = g.virt(CUDNN_DATA_FLOAT, rDims, rStr);
        g.reduce(CUDNN_REDUCE_TENSOR_ADD, doO, red);
        g.pointwise(CUDNN_POINTWISE_MUL, red, one, 0, rowSum);

        // P = exp(mask(scale·Q·Kᵀ) − lse)
        long s = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.matmul(q, kt, s);
        long s2 = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_MUL, s, scale, 0, s2);
        long s3 = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_SUB, s2, stats, 0, s3);
        long masked = g.causalMask(s3, neg, sDims, sStr);
        long p = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_EXP, masked, 0, 0, p);

        // dV = Pᵀ·dO
        long pT = g.virt(CUDNN_DATA_BFLOAT16, sDims, sTStr);
        g.reshape(p, pT);
        g.matmul(pT, dO, dV);

        // dS = P ∘ (dO·Vᵀ − rowsum) · scale
        long dP = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.matmul(dO, vt, dP);
        long dP2 = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_SUB, dP, rowSum, 0, dP2);
        long dS = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_MUL, dP2, p, 0, dS);
        long dS2 = g.virt(CUDNN_DATA_FLOAT, sDims, sStr);
        g.pointwise(CUDNN_POINTWISE_MUL, dS, scale, 0, dS2);

        // dK = dSᵀ·Q
        long dST = g.virt(CUDNN_DATA_BFLOAT16, sDims, sTStr);
        g.reshape(dS2, dST);
        g.matmul(dST, q, dK);

        // dQ = dS·K: straight into dqkv (deterministic), or accumulated in fp32 and then rounded into it
        long k = g.virt(CUDNN_DATA_BFLOAT16, qDims, qStr);
        g.reshape(kt, k);
        if (deterministic) {
            g.matmul(dS2, k, dQ);
        } else {
            g.matmul(dS2, k, dqAcc);
            g.pointwise(CUDNN_POINTWISE_IDENTITY, dqAcc, 0, 0, dQ);
        }
        return g.plan(handle, "SDPA backward" + (deterministic ? " (deterministic)" : "") + " B=" + b + " T=" + t
                + " H=" + h + " d=" + d);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        plans.values().forEach(Plan::close);
        plans.clear();
        cudnnDestroy(handle);
    }

    // ---- backend API plumbing ----

    static void check(int status, String what) {
        if (status != CUDNN_STATUS_SUCCESS) {
            byte[] msg = new byte[1024];
            cudnnGetLastErrorString(msg, msg.length);
            int n = 0;
            while (n < msg.length && msg[n] != 0) {
                n++;
            }
            throw new CudaException(what + " failed: " + cudnnGetErrorString(status).getString() + " (" + status
                    + ")" + (n > 0 ? ": " + new String(msg, 0, n) : ""));
        }
    }

    private static LongPointer longs(long... v) {
        return new LongPointer(v);
    }

    /** An execution plan with everything it references (descriptors, by-value scalars, variant-pack arrays). */
    static final class Plan implements AutoCloseable {
        final List<cudnnBackendDescriptor_t> descriptors;
        final List<FloatPointer> scalars;
        final long workspace;
        final cudnnBackendDescriptor_t plan;
        final String engine;
        private LongPointer uids;
        private LongPointer ptrs;

        Plan(List<cudnnBackendDescriptor_t> descriptors, List<FloatPointer> scalars, cudnnBackendDescriptor_t plan,
             long workspace, String engine) {
            this.descriptors = descriptors;
            this.scalars = scalars;
            this.plan = plan;
            this.workspace = workspace;
            this.engine = engine;
        }

        /** Enqueues the plan; {@code pairs} alternates unique id and address. */
        void execute(cudnnContext handle, long workspacePtr, long[] pairs) {
            int n = pairs.length / 2;
            if (uids == null) {
                uids = new LongPointer(n);
                ptrs = new LongPointer(n);
            }
            for (int i = 0; i < n; i++) {
                uids.put(i, pairs[2 * i]);
                ptrs.put(i, pairs[2 * i + 1]);
            }
            cudnnBackendDescriptor_t pack = new cudnnBackendDescriptor_t();
            check(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, pack), "variant pack");
            try {
                check(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids),
                        "variant pack ids");
                check(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n,
                        ptrs), "variant pack pointers");
                LongPointer ws = longs(workspacePtr);
                check(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, ws),
                        "variant pack workspace");
                check(cudnnBackendFinalize(pack), "variant pack finalize");
                check(cudnnBackendExecute(handle, plan, pack), "cudnnBackendExecute");
            } finally {
                cudnnBackendDestroyDescriptor(pack);
            }
        }

        @Override
        public void close() {
            cudnnBackendDestroyDescriptor(plan);
            for (int i = descriptors.size() - 1; i >= 0; i--) {
                cudnnBackendDestroyDescriptor(descriptors.get(i));
            }
        }
    }

    /** Builds one operation graph: tensors and operations as descriptors, tracked for destruction. */
    static final class Graph implements AutoCloseable {
        private final List<cudnnBackendDescriptor_t> all = new ArrayList<>();
        private final List<cudnnBackendDescriptor_t> ops = new ArrayList<>();
        private final List<FloatPointer> scalars = new ArrayList<>();
        private long nextVirtual = 1000;

        private cudnnBackendDescriptor_t create(int type, String what) {
            cudnnBackendDescriptor_t d = new cudnnBackendDescriptor_t();
            check(cudnnBackendCreateDescriptor(type, d), "create " + what);
            all.add(d);
            return d;
        }

        private static void set(cudnnBackendDescriptor_t d, int attr, int type, long count, Pointer value,
                                String what) {
            check(cudnnBackendSetAttribute(d, attr, type, count, value), what);
        }

        private static void setDesc(cudnnBackendDescriptor_t d, int attr, long desc, String what) {
            set(d, attr, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, longs(desc), what);
        }

        private static void setInt(cudnnBackendDescriptor_t d, int attr, int type, int value, String what) {
            set(d, attr, type, 1, new IntPointer(new int[]{value}), what);
        }

        private static void fin(cudnnBackendDescriptor_t d, String what) {
            check(cudnnBackendFinalize(d), "finalize " + what);
        }

        private long tensor(long uid, int dataType, long[] dims, long[] strides, boolean virtual, boolean byValue) {
            cudnnBackendDescriptor_t t = create(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor " + uid);
            setInt(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, dataType, "tensor data type");
            set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.length, longs(dims), "tensor dims");
            set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.length, longs(strides), "tensor strides");
            set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, longs(uid), "tensor uid");
            set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, longs(16), "tensor alignment");
            if (virtual) { // CUDNN_TYPE_BOOLEAN is a one-byte C bool (new BytePointer((byte) 1) would be a size)
                set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, new BytePointer(new byte[]{1}), "virtual");
            }
            if (byValue) {
                set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, new BytePointer(new byte[]{1}),
                        "by value");
            }
            fin(t, "tensor " + uid);
            return t.address();
        }

        long tensor(long uid, int dataType, long[] dims, long[] strides) {
            return tensor(uid, dataType, dims, strides, false, false);
        }

        long virt(int dataType, long[] dims, long[] strides) {
            return tensor(nextVirtual++, dataType, dims, strides, true, false);
        }

        /** An fp32 scalar passed by value (its host address goes into the variant pack). */
        long scalar(long uid, float value) {
            scalars.add(new FloatPointer(value));
            long[] one = {1, 1, 1, 1};
            return tensor(uid, CUDNN_DATA_FLOAT, one, one, false, true);
        }

        /** A pointwise operation; {@code b} and {@code t} are 0 when absent. */
        void pointwise(int mode, long x, long b, long t, long y) {
            pointwise(mode, CUDNN_DATA_FLOAT, -1, x, b, t, y);
        }

        void pointwise(int mode, int precision, long axis, long x, long b, long t, long y) {
            cudnnBackendDescriptor_t pw = create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise");
            setInt(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode, "pointwise mode");
            setInt(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, precision, "pointwise precision");
            if (axis >= 0) {
                set(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, longs(axis), "pointwise axis");
            }
            fin(pw, "pointwise " + mode);
            cudnnBackendDescriptor_t op = create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise op");
            setDesc(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw.address(), "pw descriptor");
            setDesc(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, "pw x");
            if (b != 0) {
                setDesc(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b, "pw b");
            }
            if (t != 0) {
                setDesc(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, t, "pw t");
            }
            setDesc(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, "pw y");
            FloatPointer alpha = new FloatPointer(new float[]{1f});
            set(op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, alpha, "pw alpha1");
            set(op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, alpha, "pw alpha2");
            fin(op, "pointwise op " + mode);
            ops.add(op);
        }

        /** Causal mask over the last two axes: keeps (row, col) with row ≥ col, sets the rest to {@code neg}. */
        long causalMask(long scores, long neg, long[] dims, long[] strides) {
            long row = virt(CUDNN_DATA_INT32, dims, strides);
            pointwise(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 2, scores, 0, 0, row);
            long col = virt(CUDNN_DATA_INT32, dims, strides);
            pointwise(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 3, scores, 0, 0, col);
            long keep = virt(CUDNN_DATA_BOOLEAN, dims, strides);
            pointwise(CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, 0, keep);
            long out = virt(CUDNN_DATA_FLOAT, dims, strides);
            pointwise(CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, scores, neg, keep, out);
            return out;
        }

        void matmul(long a, long b, long c) {
            cudnnBackendDescriptor_t mm = create(CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul");
            setInt(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT, "matmul compute type");
            fin(mm, "matmul");
            cudnnBackendDescriptor_t op = create(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul op");
            setDesc(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, a, "matmul a");
            setDesc(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, b, "matmul b");
            setDesc(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, c, "matmul c");
            setDesc(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, mm.address(), "matmul desc");
            fin(op, "matmul op");
            ops.add(op);
        }

        void reduce(int operator, long x, long y) {
            cudnnBackendDescriptor_t r = create(CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction");
            setInt(r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, operator,
                    "reduction operator");
            setInt(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT, "reduction type");
            fin(r, "reduction");
            cudnnBackendDescriptor_t op = create(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction op");
            setDesc(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x, "reduction x");
            setDesc(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y, "reduction y");
            setDesc(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, r.address(), "reduction desc");
            fin(op, "reduction op");
            ops.add(op);
        }

        void reshape(long x, long y) {
            cudnnBackendDescriptor_t op = create(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, "reshape op");
            setDesc(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, x, "reshape x");
            setDesc(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, y, "reshape y");
            fin(op, "reshape op");
            ops.add(op);
        }

        /** Finalises the graph, asks the heuristics for engine configurations and keeps the first that builds. */
        Plan plan(cudnnContext handle, String what) {
            cudnnBackendDescriptor_t graph = create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
            set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, longs(handle.address()), "graph handle");
            long[] opAddrs = ops.stream().mapToLong(Pointer::address).toArray();
            set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, opAddrs.length, longs(opAddrs),
                    "graph ops");
            fin(graph, what + " operation graph");
            StringBuilder errors = new StringBuilder();
            for (int mode : new int[]{CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
                cudnnBackendDescriptor_t heur = create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
                setDesc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph.address(), "heuristics graph");
                setInt(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, mode, "heuristics mode");
                int rc = cudnnBackendFinalize(heur);
                if (rc != CUDNN_STATUS_SUCCESS) {
                    errors.append(" heuristics mode ").append(mode).append(": ").append(message(rc));
                    continue;
                }
                long[] count = new long[1];
                check(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                        count, (Pointer) null), "heuristics count");
                int n = (int) Math.min(count[0], 16);
                if (n == 0) {
                    errors.append(" heuristics mode ").append(mode).append(": no engine");
                    continue;
                }
                long[] cfgs = new long[n];
                for (int i = 0; i < n; i++) {
                    cfgs[i] = create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config").address();
                }
                long[] got = new long[1];
                check(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n,
                        got, longs(cfgs)), "heuristics results");
                for (int i = 0; i < got[0]; i++) {
                    cudnnBackendDescriptor_t plan = new cudnnBackendDescriptor_t();
                    check(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, plan), "plan");
                    set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, longs(handle.address()),
                            "plan handle");
                    set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                            longs(cfgs[i]), "plan engine config");
                    rc = cudnnBackendFinalize(plan);
                    if (rc != CUDNN_STATUS_SUCCESS) {
                        errors.append(" config ").append(i).append(": ").append(message(rc));
                        cudnnBackendDestroyDescriptor(plan);
                        continue;
                    }
                    long[] wsCount = new long[1];
                    LongPointer ws = new LongPointer(1);
                    check(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                            1, wsCount, ws), "plan workspace size");
                    return new Plan(new ArrayList<>(all), scalars, plan, ws.get(0), what + " (heuristics mode "
                            + mode + ", config " + i + ")");
                }
            }
            throw new CudaException("cuDNN found no engine for " + what + ":" + errors);
        }

        private static String message(int rc) {
            byte[] msg = new byte[512];
            cudnnGetLastErrorString(msg, msg.length);
            int n = 0;
            while (n < msg.length && msg[n] != 0) {
                n++;
            }
            return cudnnGetErrorString(rc).getString() + (n > 0 ? " " + new String(msg, 0, n) : "");
        }

        @Override
        public void close() {
            for (int i = all.size() - 1; i >= 0; i--) {
                cudnnBackendDestroyDescriptor(all.get(i));
            }
            all.clear();
        }
    }
}
