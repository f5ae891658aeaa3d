package dev.lattice.trainer.backend.cuda;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.Bf16;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.lattice.trainer.backend.cuda.TensorCoreAttentionTest.assertBf16Close;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Attention through cuDNN's fused SDPA ({@link CudnnAttention}, {@code -Dlattice.attention=cudnn}) on bf16
 * activations against the CPU reference (on the same bf16-rounded inputs), forward and backward, with the bf16
 * tolerances of {@link TensorCoreAttentionTest}; its log-sum-exp against ours, so that a cuDNN forward feeds our
 * backward and the other way round; and the fallback to our kernels where cuDNN does not apply (GQA, fp32 storage).
 * Skipped without a CUDA device.
 */
class CudnnAttentionTest {

    private static CudaBackend gpu;
    private static final CpuBackend cpu = new CpuBackend();

    @BeforeAll
    static void open() {
        assumeTrue(Cuda.available(), Cuda::unavailableReason);
        gpu = new CudaBackend(0, GemmPrecision.BF16);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    /** Inputs rounded to bf16 (what the GPU holds), the CPU's forward and backward on them. */
    record Case(int b, int t, int h, int g, int d, float[] qkv, float[] dout, float[] out, float[] lse, float[] dqkv) {

        static Case of(int b, int t, int h, int g, int d, long seed) {
            Random r = new Random(seed);
            int row = (h + 2 * g) * d;
            float[] qkv = round(CudaBackendTest.randn(r, b * t * row, 1));
            float[] dout = round(CudaBackendTest.randn(r, b * t * h * d, 1));
            Tensor cq = cpu.fromHost(qkv, qkv.length);
            Tensor cOut = cpu.zeros(b * t * h * d);
            Tensor cLse = cpu.zeros(b * h * t);
            cpu.attentionForward(cOut, cLse, cq, b, t, h, g, d);
            Tensor cd = cpu.zeros(qkv.length);
            cpu.attentionBackward(cd, cpu.fromHost(dout, dout.length), cq, cOut, cLse, b, t, h, g, d);
            return new Case(b, t, h, g, d, qkv, dout, cpu.toHost(cOut), cpu.toHost(cLse), cpu.toHost(cd));
        }

        private static float[] round(float[] x) {
            for (int i = 0; i < x.length; i++) {
                x[i] = Bf16.round(x[i]);
            }
            return x;
        }
    }

    /** GPU tensors of one case (bf16 activations, fp32 lse) and the implementation that runs each pass. */
    static final class Run {
        final Tensor qkv;
        final Tensor out;
        final Tensor lse;
        final Tensor dqkv;
        final Case c;

        Run(Case c, String forward, String backward) {
            this.c = c;
            qkv = gpu.activations(c.b, c.t, (c.h + 2 * c.g) * c.d);
            gpu.upload(qkv, c.qkv);
            out = gpu.activations(c.b, c.t, c.h * c.d);
            lse = gpu.zeros(c.b * c.h * c.t);
            gpu.attentionImplementation(forward);
            gpu.attentionForward(out, lse, qkv, c.b, c.t, c.h, c.g, c.d);
            Tensor dout = gpu.activations(c.b, c.t, c.h * c.d);
            gpu.upload(dout, c.dout);
            dqkv = gpu.activations(c.b, c.t, (c.h + 2 * c.g) * c.d);
            gpu.upload(dqkv, CudaBackendTest.randn(new Random(5), c.qkv.length, 1)); // every slot overwritten
            gpu.attentionImplementation(backward);
            gpu.attentionBackward(dqkv, dout, qkv, out, lse, c.b, c.t, c.h, c.g, c.d);
            gpu.attentionImplementation("auto");
        }
    }

    private static void requireCudnnFor(int t) {
        gpu.attentionImplementation("cudnn");
        String info = gpu.attentionInfo();
        gpu.attentionImplementation("auto");
        assumeTrue(info.startsWith("cudnn"), "cuDNN not loadable: " + info);
        long version = Long.parseLong(info.split(" ")[1]);
        assumeTrue(version >= 91600 || t % 128 == 0, "cuDNN " + version + " needs T % 128 == 0, T=" + t);
    }

    /** {@code required}: GPT-2 shapes cuDNN must take; the others (small head dims, odd lengths) may lack an engine. */
    @ParameterizedTest(name = "B={0} T={1} H={2} d={3}")
    @CsvSource({"2,128,4,64,true", "1,256,2,128,true", "3,64,2,32,false", "2,200,4,64,false", "1,70,3,16,false",
            "1,512,12,64,true"})
    void cudnnMatchesTheCpuReference(int b, int t, int h, int d, boolean required) {
        requireCudnnFor(t);
        Case c = Case.of(b, t, h, h, d, 11);
        Run r;
        try {
            r = new Run(c, "cudnn", "cudnn");
        } catch (dev.lattice.parallel.cuda.CudaException e) {
            gpu.attentionImplementation("auto");
            if (!required && e.getMessage().contains("no engine")) {
                org.junit.jupiter.api.Assumptions.abort("cuDNN has no engine here (auto mode falls back): " + e);
            }
            throw e;
        }
        assertBf16Close("out", c.out, gpu.toHost(r.out));
        assertBf16Close("lse", c.lse, gpu.toHost(r.lse));
        assertBf16Close("dqkv", c.dqkv, gpu.toHost(r.dqkv));
    }

    /**
     * The deterministic backward (the graph without the fp32 dQ accumulator, {@code -Dlattice.attention.deterministic}):
     * the reference's values, and the same bits on every run.
     */
    @ParameterizedTest(name = "B={0} T={1} H={2}")
    @CsvSource({"2,256,4", "4,512,8"})
    void deterministicBackwardMatchesTheReferenceAndRepeatsToTheBit(int b, int t, int h) {
        requireCudnnFor(t);
        Case c = Case.of(b, t, h, h, 64, 41);
        gpu.deterministicAttention(true);
        try {
            Run first = new Run(c, "cudnn", "cudnn");
            float[] bits = gpu.toHost(first.dqkv);
            assertBf16Close("dqkv", c.dqkv, bits);
            for (int i = 2; i <= 5; i++) {
                Run again = new Run(c, "cudnn", "cudnn");
                assertArrayEquals(bits, gpu.toHost(again.dqkv), "dqkv of run " + i + " against run 1");
            }
        } finally {
            gpu.deterministicAttention(false);
        }
    }

    /** cuDNN's softmax statistics are our lse: either forward feeds either backward. */
    @ParameterizedTest(name = "T={0}")
    @CsvSource({"128", "192"})
    void forwardAndBackwardMixAcrossImplementations(int t) {
        requireCudnnFor(t);
        Case c = Case.of(2, t, 4, 4, 64, 23);
        Run cudnn = new Run(c, "cudnn", "cudnn");
        Run own = new Run(c, "own", "own");
        Run cudnnThenOwn = new Run(c, "cudnn", "own");
        Run ownThenCudnn = new Run(c, "own", "cudnn");
        float[] lseCudnn = gpu.toHost(cudnn.lse);
        float[] lseOwn = gpu.toHost(own.lse);
        double worst = 0;
        for (int i = 0; i < lseOwn.length; i++) {
            worst = Math.max(worst, Math.abs(lseCudnn[i] - lseOwn[i]));
        }
        assertTrue(worst < 0.02, "lse of cuDNN and ours differ by " + worst);
        assertBf16Close("out own", c.out, gpu.toHost(own.out));
        assertBf16Close("dqkv own", c.dqkv, gpu.toHost(own.dqkv));
        assertBf16Close("dqkv cudnn fwd + own bwd", c.dqkv, gpu.toHost(cudnnThenOwn.dqkv));
        assertBf16Close("dqkv own fwd + cudnn bwd", c.dqkv, gpu.toHost(ownThenCudnn.dqkv));
        assertBf16Close("dqkv cudnn fwd + own bwd vs cudnn", gpu.toHost(cudnn.dqkv), gpu.toHost(cudnnThenOwn.dqkv));
    }

    /** GQA (no single head stride in the grouped QKV row) and fp32 storage run our kernels, even when forced. */
    @Test
    void whatCudnnCannotTakeFallsBackToOurKernels() {
        Case gqa = Case.of(2, 96, 4, 2, 32, 31);
        Run r = new Run(gqa, "cudnn", "cudnn");
        assertBf16Close("gqa out", gqa.out, gpu.toHost(r.out));
        assertBf16Close("gqa dqkv", gqa.dqkv, gpu.toHost(r.dqkv));

        Case c = Case.of(1, 64, 2, 2, 64, 37);
        gpu.attentionImplementation("cudnn");
        try {
            Tensor q = gpu.fromHost(c.qkv, c.qkv.length); // fp32 storage
            Tensor out = gpu.zeros(c.b * c.t * c.h * c.d);
            Tensor lse = gpu.zeros(c.b * c.h * c.t);
            gpu.attentionForward(out, lse, q, c.b, c.t, c.h, c.g, c.d);
            assertBf16Close("fp32 out", c.out, gpu.toHost(out));
        } finally {
            gpu.attentionImplementation("auto");
        }
    }
}
