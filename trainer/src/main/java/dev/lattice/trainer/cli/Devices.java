package dev.lattice.trainer.cli;

import dev.lattice.parallel.cuda.Cuda;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.backend.cuda.CudaBackend;
import dev.lattice.trainer.backend.cuda.GemmPrecision;

import java.util.Locale;

/** {@code --devices}: which backend a rank computes on, and the checks that fail before any rank starts. */
final class Devices {

    private Devices() {
    }

    static boolean cuda(TrainOptions o) {
        return switch (o.devices.toLowerCase(Locale.ROOT)) {
            case "cpu" -> false;
            case "cuda", "gpu" -> true;
            default -> throw new IllegalArgumentException("--devices must be cpu or cuda, got '" + o.devices + "'");
        };
    }

    /** Fails fast when the ranks of this process cannot each have a GPU of their own. */
    static void check(TrainOptions o, int ranksHere) {
        if (!cuda(o)) {
            return;
        }
        if (!Cuda.available()) {
            throw new IllegalArgumentException("--devices cuda: " + Cuda.unavailableReason());
        }
        int gpus = Cuda.deviceCount() - o.deviceOffset;
        if (ranksHere > gpus) {
            throw new IllegalArgumentException("--devices cuda: " + ranksHere + " ranks need a GPU each but "
                    + Math.max(gpus, 0) + " are visible (two ranks on one GPU is not supported); lower"
                    + " --world-size or set CUDA_VISIBLE_DEVICES");
        }
    }

    /** The CUDA ordinal of {@code rank} when this process runs all its ranks as threads. */
    static int ordinal(TrainOptions o, int rank) {
        return o.deviceOffset + rank % Math.max(1, Cuda.deviceCount() - o.deviceOffset);
    }

    /** A rank's backend on {@code cudaDevice}: created on the rank's own thread (CUDA's device is per thread). */
    static Backend backend(TrainOptions o, int cudaDevice) {
        if (!cuda(o)) {
            return new CpuBackend();
        }
        CudaBackend b = new CudaBackend(cudaDevice, precision(o));
        if (o.deterministicMode) {
            b.deterministicAttention(true);
        }
        return b;
    }

    static GemmPrecision precision(TrainOptions o) {
        if (o.bf16 && o.fp16) {
            throw new IllegalArgumentException("--bf16 and --fp16 exclude each other");
        }
        return o.bf16 ? GemmPrecision.BF16 : o.fp16 ? GemmPrecision.FP16 : GemmPrecision.FP32;
    }
}
