package dev.lattice.trainer.cli;

import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.engine.MemoryPlan;
import dev.lattice.trainer.model.ModelConfig;
import dev.lattice.trainer.model.Recomputation;
import picocli.CommandLine;

import java.io.PrintStream;
import java.util.Locale;

/**
 * {@code lattice plan}: the per-rank memory of a model and layout before anything runs, with the same flags as
 * {@code lattice train} (only the model, batch and layout flags matter; --train-iters may be left out).
 */
public final class PlanCommand {

    private PlanCommand() {
    }

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        TrainOptions o = new TrainOptions();
        CommandLine cl = new CommandLine(o).setOverwrittenOptionsAllowed(true);
        boolean recommend = false;
        Integer gpus = null;
        int gpusPerNode = 8;
        double gpuMemoryGb = 80;
        java.util.List<String> rest = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--recommend" -> recommend = true;
                    case "--gpus" -> gpus = Integer.parseInt(value(args, ++i, "--gpus"));
                    case "--gpus-per-node" -> gpusPerNode = Integer.parseInt(value(args, ++i, "--gpus-per-node"));
                    case "--gpu-memory-gb" -> gpuMemoryGb = Double.parseDouble(value(args, ++i, "--gpu-memory-gb"));
                    default -> rest.add(args[i]);
                }
            }
            cl.parseArgs(java.util.stream.Stream.concat(java.util.stream.Stream.of("--train-iters", "1"),
                    java.util.Arrays.stream(Presets.expand(rest.toArray(new String[0])))).toArray(String[]::new));
        } catch (CommandLine.ParameterException | IllegalArgumentException e) {
            err.println("lattice plan: " + e.getMessage());
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            out.println("usage: lattice plan [--preset NAME] <the model, batch and layout flags of lattice train>");
            out.println("       lattice plan --preset NAME --recommend --gpus N [--gpus-per-node 8]"
                    + " [--gpu-memory-gb 80]");
            return 0;
        }
        try {
            if (recommend) {
                if (gpus == null) {
                    throw new IllegalArgumentException("--recommend needs --gpus N");
                }
                ModelConfig c = TrainCommand.modelFromFlags(o, vocab(o));
                int gbs = o.globalBatchSize != null ? o.globalBatchSize : o.microBatchSize * gpus;
                java.util.Optional<Presets.Layout> l = LayoutAdvisor.recommend(c, gpus, gpusPerNode, gpuMemoryGb,
                        o.microBatchSize, gbs, o.seqLength, activationBytes(o));
                if (l.isEmpty()) {
                    out.printf(Locale.ROOT, "no layout of %d GPUs (%d per node, %.0f GB each) fits this model at"
                            + " micro-batch %d%n", gpus, gpusPerNode, gpuMemoryGb, o.microBatchSize);
                    return 1;
                }
                out.printf(Locale.ROOT, "recommended for %d GPUs of %.0f GB: %s (%.1f GB on the largest stage)%n",
                        gpus, gpuMemoryGb, String.join(" ", l.get().args()), l.get().memoryGb());
                return 0;
            }
            print(o, out);
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("lattice plan: " + e.getMessage());
            return 2;
        }
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    /** Bytes per activation element a run with these flags stores: 2 under --bf16 on GPUs, else 4. */
    static int activationBytes(TrainOptions o) {
        return o.bf16 && Devices.cuda(o) ? 2 : 4;
    }

    /** The vocabulary: --vocab-size when given (presets of models whose tokenizer we do not ship), else the tokenizer's. */
    static int vocab(TrainOptions o) {
        return o.vocabSize != null ? o.vocabSize : TokenizerSpec.of(o.tokenizer).tokenizer().vocabSize();
    }

    /** The header and one memory line per pipeline stage (also what {@code lattice train --dry-run} prints). */
    static void print(TrainOptions o, PrintStream out) {
        ModelConfig c = TrainCommand.modelFromFlags(o, vocab(o));
        Topology t = new Topology(o.worldSize, o.tensorParallel, 1, o.pipelineParallel);
        int gbs = o.globalBatchSize != null ? o.globalBatchSize : o.microBatchSize * t.dp();
        int zero = o.useDistributedOptimizer && o.zeroStage == 0 ? 1 : o.zeroStage;
        int chunks = o.layersPerVirtualStage == null ? 1
                : c.numLayers() / (t.pp() * o.layersPerVirtualStage);
        Recomputation recompute = o.recomputation();
        out.printf(Locale.ROOT, "%s model, %s, ZeRO %d, micro-batch %d, global batch %d, seq %d%s%s%n",
                c.family(), t, zero, o.microBatchSize, gbs, o.seqLength, recompute == Recomputation.NONE ? ""
                        : ", " + recompute.name().toLowerCase(Locale.ROOT) + " recomputation",
                activationBytes(o) == 2 ? ", bf16 activations" : "");
        for (int pp = 0; pp < t.pp(); pp++) {
            int rank = t.rankOf(0, 0, 0, pp);
            out.println(MemoryPlan.of(c, t.world(), t.tp(), t.pp(), zero, o.microBatchSize, gbs, o.seqLength,
                    recompute, chunks, rank, o.sequenceParallel, activationBytes(o)).render("of rank " + rank
                    + " (pipeline stage " + pp + ")"));
        }
    }
}
