package dev.lattice.trainer.cli;

import dev.lattice.data.tokenizer.TokenizerSpec;
import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.engine.MemoryPlan;
import dev.lattice.trainer.model.ModelConfig;
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
        try {
            cl.parseArgs(java.util.stream.Stream.concat(java.util.Arrays.stream(new String[] {"--train-iters", "1"}),
                    java.util.Arrays.stream(args)).toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            err.println("lattice plan: " + e.getMessage());
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            out.println("usage: lattice plan <the model, batch and layout flags of lattice train>");
            return 0;
        }
        try {
            int vocab = TokenizerSpec.of(o.tokenizer).tokenizer().vocabSize();
            ModelConfig c = TrainCommand.modelFromFlags(o, vocab);
            Topology t = new Topology(o.worldSize, o.tensorParallel, 1, o.pipelineParallel);
            int gbs = o.globalBatchSize != null ? o.globalBatchSize : o.microBatchSize * t.dp();
            int zero = o.useDistributedOptimizer && o.zeroStage == 0 ? 1 : o.zeroStage;
            int chunks = o.layersPerVirtualStage == null ? 1
                    : c.numLayers() / (t.pp() * o.layersPerVirtualStage);
            boolean recompute = o.recomputeActivations || "full".equals(o.recomputeGranularity);
            out.printf(Locale.ROOT, "%s model, %s, ZeRO %d, micro-batch %d, global batch %d, seq %d%s%n",
                    c.family(), t, zero, o.microBatchSize, gbs, o.seqLength, recompute ? ", recomputation" : "");
            for (int pp = 0; pp < t.pp(); pp++) {
                int rank = t.rankOf(0, 0, 0, pp);
                out.println(MemoryPlan.of(c, t.world(), t.tp(), t.pp(), zero, o.microBatchSize, gbs, o.seqLength,
                        recompute, chunks, rank, o.sequenceParallel).render("of rank " + rank + " (pipeline stage " + pp + ")"));
            }
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("lattice plan: " + e.getMessage());
            return 2;
        }
    }
}
