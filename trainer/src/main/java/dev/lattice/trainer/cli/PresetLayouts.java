package dev.lattice.trainer.cli;

import dev.lattice.trainer.model.ModelConfig;
import picocli.CommandLine;

import java.util.Optional;

/** What {@link LayoutAdvisor} recommends for a preset on N GPUs of 80 GB, 8 per node (the presets' layouts). */
public final class PresetLayouts {

    public static final int GPUS_PER_NODE = 8;
    public static final double GPU_MEMORY_GB = 80;

    private PresetLayouts() {
    }

    /** The preset's model and batch flags parsed as {@code lattice train} parses them. */
    public static TrainOptions options(String preset) {
        TrainOptions o = new TrainOptions();
        new CommandLine(o).setOverwrittenOptionsAllowed(true).parseArgs(java.util.stream.Stream.concat(
                java.util.stream.Stream.of("--train-iters", "1"), Presets.load(preset).args().stream())
                .toArray(String[]::new));
        return o;
    }

    public static Optional<Presets.Layout> compute(String preset, int gpus) {
        TrainOptions o = options(preset);
        ModelConfig c = TrainCommand.modelFromFlags(o, PlanCommand.vocab(o));
        int gbs = o.globalBatchSize != null ? o.globalBatchSize : o.microBatchSize * gpus;
        return LayoutAdvisor.recommend(c, gpus, GPUS_PER_NODE, GPU_MEMORY_GB, o.microBatchSize, gbs, o.seqLength);
    }
}
