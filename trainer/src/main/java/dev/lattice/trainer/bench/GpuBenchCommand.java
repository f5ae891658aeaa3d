package dev.lattice.trainer.bench;

import dev.lattice.parallel.cuda.Cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code lattice bench}: the standard GPU workloads of the benchmark record (GPT-2 124M and 350M, T=1024,
 * micro-batch 16, bf16, on one GPU; GPT-2 124M data-parallel with ZeRO-1 over every visible GPU) and their table;
 * with two GPUs or more also GPT-2 350M at TP2, PP2 interleaved and DP2 against one GPU ({@link LayoutBench}).
 * {@code --layouts} runs every layout of the machine's GPUs with loss curves and memory ({@link LayoutsBenchCommand}).
 * With other flags it runs one workload ({@link GpuTrainingBenchmark}'s flags). The PyTorch peer runs beside it through
 * {@code gpu/run-on-gpu.sh bench}, which is where comparisons are recorded.
 */
public final class GpuBenchCommand {

    /** A workload of the table: its name and the benchmark's flags. */
    record Workload(String name, String[] args) {
    }

    private GpuBenchCommand() {
    }

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    static List<Workload> standard(int gpus) {
        List<Workload> w = new ArrayList<>(List.of(
                new Workload("GPT-2 124M, 1 GPU", new String[] {"--layers", "12", "--hidden", "768", "--heads", "12"}),
                new Workload("GPT-2 350M, 1 GPU", new String[] {"--layers", "24", "--hidden", "1024", "--heads",
                        "16"})));
        if (gpus > 1) {
            // with the overlaps Megatron users turn on (the configuration docs/benchmarks.md records)
            w.add(new Workload("GPT-2 124M, DP" + gpus + " ZeRO-1", new String[] {"--layers", "12", "--hidden",
                    "768", "--heads", "12", "--dp", Integer.toString(gpus), "--overlap-grad-reduce",
                    "--overlap-param-gather"}));
        }
        return w;
    }

    static int execute(String[] args, PrintStream out, PrintStream err) {
        if (java.util.Arrays.asList(args).contains("--layouts")) {
            return LayoutsBenchCommand.execute(args, out, err);
        }
        if (!Cuda.available()) {
            err.println("lattice bench: needs a CUDA GPU (" + Cuda.unavailableReason() + "); on the lent GPU"
                    + " machines run gpu/run-on-gpu.sh bench from the bundle of gpu/make-bundle.sh");
            return 2;
        }
        if (args.length > 0) {
            GpuTrainingBenchmark.measure(args);
            return 0;
        }
        List<String> rows = new ArrayList<>();
        for (Workload w : standard(Cuda.deviceCount())) {
            GpuTrainingBenchmark.Result r = GpuTrainingBenchmark.measure(w.args());
            rows.add(row(w.name(), r));
        }
        List<LayoutBench.Measured> layouts = new ArrayList<>();
        if (Cuda.deviceCount() >= 2) {
            for (LayoutBench.Layout l : LayoutBench.layouts(2, 24, 16)) {
                LayoutBench.Measured m = LayoutBench.run(l, LayoutBench.gpt2_350m(), List.of("--devices", "cuda",
                        "--bf16"), List.of("--mock-data"), LayoutBench.STANDARD);
                if (m.failure() != null) {
                    err.println("lattice bench: " + l.name() + " failed: " + m.failure());
                    return 1;
                }
                layouts.add(m);
            }
        }
        out.println();
        out.println(header());
        rows.forEach(out::println);
        if (!layouts.isEmpty()) {
            out.println();
            out.println("GPT-2 350M, T=1024, 16 micro-batches of 2 per iteration, bf16, lattice train --mock-data:");
            out.print(LayoutBench.table(layouts));
        }
        return 0;
    }

    static String header() {
        return "| workload | tokens/s | TFLOP/s per GPU | MFU | peak memory per GPU |\n|---|---|---|---|---|";
    }

    static String row(String name, GpuTrainingBenchmark.Result r) {
        return String.format(Locale.ROOT, "| %s | %,.0f | %.1f | %.1f %% | %.2f GiB |", name, r.tokensPerSecond(),
                r.tflopsPerGpu(), 100 * r.mfu(), r.peakGiB());
    }
}
