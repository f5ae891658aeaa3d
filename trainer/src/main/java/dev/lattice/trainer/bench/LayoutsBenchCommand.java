package dev.lattice.trainer.bench;

import dev.lattice.parallel.cuda.Cuda;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * {@code lattice bench --layouts}: one model trained at every parallel layout the machine's GPUs allow (one GPU;
 * TP2, PP2, DP2; on four TP2×PP2, TP2×DP2, PP2×DP2; on eight TP2×PP2×DP2; DP n with ZeRO-1 and ZeRO-3, TP n), with
 * the same data and global batch, and the scaling table: tokens/s per GPU, MFU, scaling against one and two GPUs,
 * the fullest GPU's memory against {@code lattice plan}, and each layout's loss curve against the one-GPU run's.
 * Writes {@code table.md}, {@code losses.csv}, {@code losses.png} and each run's log into {@code --out}.
 */
@Command(name = "bench --layouts", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train one model at every parallel layout of this machine's GPUs and compare each with one GPU."
                + " Train flags after '--' go to every run (e.g. -- --deterministic-mode).")
final class LayoutsBenchCommand implements java.util.concurrent.Callable<Integer> {

    @Option(names = "--layouts", required = true, description = "This mode of lattice bench.")
    boolean layouts;

    @Option(names = "--model", defaultValue = "gpt2-350m",
            description = "gpt2-350m (16 micro-batches of 2) or gpt-1.3b (16 of 4). Default: ${DEFAULT-VALUE}.")
    String model;

    @Option(names = "--devices", defaultValue = "cuda", description = "cuda (bf16) or cpu. Default: ${DEFAULT-VALUE}.")
    String devices;

    @Option(names = "--precision", defaultValue = "bf16",
            description = "On GPUs: bf16 (mixed precision, --bf16) or fp32. Default: ${DEFAULT-VALUE}.")
    String precision;

    @Option(names = "--gpus", description = "Ranks to lay out (default: the visible GPUs; required with cpu).")
    Integer gpus;

    @Option(names = "--include", defaultValue = ".*",
            description = "Only the layouts whose names match this regular expression (the one-GPU run always).")
    String include;

    @Option(names = "--data-path", description = "An indexed dataset prefix (default: --mock-data, random tokens).")
    String dataPath;

    @Option(names = "--train-iters", defaultValue = "24") int iterations;

    @Option(names = "--warmup", defaultValue = "8", description = "Iterations left out of the means.")
    int warmup;

    @Option(names = "--peak-tflops", defaultValue = "989", description = "Dense bf16 peak for MFU (H100/H200: 989).")
    double peak;

    @Option(names = "--loss-tolerance", defaultValue = "0.01",
            description = "Largest relative distance of an iteration's lm loss from one GPU's to call it a match.")
    double tolerance;

    @Option(names = "--out", defaultValue = "out/bench-layouts", description = "Directory for the table, losses and logs.")
    Path out;

    @Option(names = "--replot", paramLabel = "CSV",
            description = "Only draw losses.png again from a losses.csv (e.g. written on a host without fonts).")
    Path replot;

    @Parameters(paramLabel = "TRAIN-FLAG", description = "Extra lattice train flags, after '--'.")
    List<String> trainFlags = new ArrayList<>();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Flags each layout or this command sets itself: given after '--' they would clash or mislead. */
    static final java.util.Set<String> OWN_FLAGS = java.util.Set.of("--world-size", "--tensor-model-parallel-size",
            "--pipeline-model-parallel-size", "--num-layers-per-virtual-pipeline-stage", "--zero-stage",
            "--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather", "--train-iters",
            "--log-interval", "--eval-iters", "--devices", "--bf16", "--fp16", "--mock-data", "--data-path", "--save",
            "--load");

    /** The train flags with {@code --flag=value} split into two, refusing the flags the bench sets itself. */
    List<String> normalisedTrainFlags() {
        List<String> out = new ArrayList<>();
        for (String f : trainFlags) {
            int eq = f.indexOf('=');
            String name = f.startsWith("--") && eq > 0 ? f.substring(0, eq) : f;
            if (OWN_FLAGS.contains(name)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "train flag " + name + " after '--':"
                        + " the bench sets it for each layout (use its own options: --devices, --data-path,"
                        + " --train-iters, --include)");
            }
            out.add(name);
            if (!name.equals(f)) {
                out.add(f.substring(eq + 1));
            }
        }
        return out;
    }

    private int valueOf(List<String> flags, String name) {
        int i = flags.indexOf(name);
        try {
            return Integer.parseInt(flags.get(i + 1));
        } catch (IndexOutOfBoundsException | NumberFormatException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), name + ": expected a whole number among the"
                    + " model's and train flags, got " + (i < 0 || i + 1 >= flags.size() ? "none" : flags.get(i + 1)));
        }
    }

    private PrintStream console;
    private PrintStream errors;

    static int execute(String[] args, PrintStream out, PrintStream err) {
        LayoutsBenchCommand c = new LayoutsBenchCommand();
        c.console = out;
        c.errors = err;
        return new CommandLine(c).setOut(new java.io.PrintWriter(out, true))
                .setErr(new java.io.PrintWriter(err, true)).execute(args);
    }

    @Override
    public Integer call() throws IOException {
        if (replot != null) {
            Path png = replot.resolveSibling("losses.png");
            LossCurves.readCsv(replot).plot(png, "lm loss by layout");
            console.println("lattice bench: wrote " + png);
            return 0;
        }
        List<String> modelFlags = switch (model) {
            case "gpt2-350m" -> LayoutBench.gpt2_350m();
            case "gpt-1.3b" -> LayoutBench.gpt_1_3b();
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "--model " + model + ": expected gpt2-350m or gpt-1.3b");
        };
        List<String> device;
        int ranks;
        if (devices.equals("cuda")) {
            if (!Cuda.available()) {
                errors.println("lattice bench --layouts: needs a CUDA GPU (" + Cuda.unavailableReason()
                        + "), or --devices cpu --gpus N");
                return 2;
            }
            device = switch (precision) {
                case "bf16" -> List.of("--devices", "cuda", "--bf16");
                case "fp32" -> List.of("--devices", "cuda");
                default -> throw new CommandLine.ParameterException(spec.commandLine(), "--precision " + precision
                        + ": expected bf16 or fp32");
            };
            ranks = gpus != null ? gpus : Cuda.deviceCount();
        } else if (devices.equals("cpu")) {
            if (gpus == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--devices cpu needs --gpus N (ranks"
                        + " as threads)");
            }
            device = List.of("--devices", "cpu");
            ranks = gpus;
        } else {
            throw new CommandLine.ParameterException(spec.commandLine(), "--devices " + devices
                    + ": expected cuda or cpu");
        }
        if (warmup >= iterations) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--warmup " + warmup
                    + " leaves no iteration of --train-iters " + iterations + " to measure");
        }
        List<String> extra = normalisedTrainFlags();
        modelFlags = LayoutBench.withoutOverridden(modelFlags, extra);
        List<String> data = new ArrayList<>(dataPath == null ? List.of("--mock-data") : List.of("--data-path",
                dataPath));
        data.addAll(extra);
        List<String> all = new ArrayList<>(modelFlags);
        all.addAll(extra);
        int layers = valueOf(all, "--num-layers");
        int microbatches = valueOf(all, "--global-batch-size") / valueOf(all, "--micro-batch-size");
        Pattern only = Pattern.compile(include);
        List<LayoutBench.Layout> chosen = LayoutBench.layouts(ranks, layers, microbatches).stream()
                .filter(l -> l.gpus() == 1 || only.matcher(l.name()).find()).toList();
        Files.createDirectories(out);
        LayoutBench.Schedule schedule = new LayoutBench.Schedule(iterations, warmup);
        List<LayoutBench.Measured> rows = new ArrayList<>();
        LossCurves curves = new LossCurves();
        String title = String.format(Locale.ROOT, "%s, %s data, %d iterations (means of %d after %d), %s%s",
                model, dataPath == null ? "mock" : dataPath, iterations, iterations - warmup, warmup,
                String.join(" ", device), extra.isEmpty() ? "" : " " + String.join(" ", extra));
        String table = "";
        for (LayoutBench.Layout l : chosen) {
            console.printf(Locale.ROOT, "lattice bench: %s (%d of %d) ...%n", l.name(), rows.size() + 1,
                    chosen.size());
            LayoutBench.Measured m = LayoutBench.run(l, modelFlags, device, data, schedule,
                    out.resolve(String.format(Locale.ROOT, "run-%02d.log", rows.size())));
            rows.add(m);
            console.println(m.failure() != null ? "  failed: " + m.failure() : String.format(Locale.ROOT,
                    "  %,.0f tokens/s, %.1f TFLOP/s per GPU, lm loss at %d: %.6f", m.tokensPerSecond(),
                    m.tflopsPerGpu(), m.losses().size(), m.losses().get(m.losses().size() - 1)));
            if (m.failure() == null) {
                curves.add(l.name().replace(",", ";"), m.losses());
            }
            // after every layout, so that a run cut short (a time limit) still leaves what it measured
            table = LayoutBench.scalingTable(rows, peak, tolerance);
            String done = rows.size() < chosen.size()
                    ? String.format(Locale.ROOT, " (%d of %d layouts so far)", rows.size(), chosen.size()) : "";
            Files.writeString(out.resolve("table.md"), title + done + "\n\n" + table);
            curves.writeCsv(out.resolve("losses.csv"));
        }
        console.println();
        console.println(title);
        console.print(table);
        try {
            curves.plot(out.resolve("losses.png"), model + ": lm loss by layout");
            console.println("lattice bench: wrote " + out.resolve("table.md") + ", losses.csv, losses.png");
        } catch (LinkageError | java.awt.AWTError e) {
            console.println("lattice bench: wrote " + out.resolve("table.md") + " and losses.csv; losses.png not"
                    + " drawn (Java2D cannot render here: " + e + "), draw it elsewhere with --layouts --replot "
                    + out.resolve("losses.csv"));
        }
        return rows.stream().anyMatch(m -> m.failure() != null) ? 1 : 0;
    }
}
