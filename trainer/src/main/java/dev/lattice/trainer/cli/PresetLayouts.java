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

    /**
     * Rewrites the "layouts" of every bundled preset in {@code dir} (conf/presets) with what the advisor recommends
     * now, for 8, 64 and 256 GPUs: run it after changing the memory plan ({@code PresetsTest} fails until then).
     */
    public static void main(String[] args) throws java.io.IOException {
        java.nio.file.Path dir = java.nio.file.Path.of(args.length > 0 ? args[0] : "conf/presets");
        com.google.gson.Gson gson = new com.google.gson.GsonBuilder().setPrettyPrinting().serializeNulls()
                .disableHtmlEscaping().create();
        for (String name : Presets.names()) {
            java.nio.file.Path file = dir.resolve(name + ".json");
            com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(file))
                    .getAsJsonObject();
            com.google.gson.JsonObject layouts = new com.google.gson.JsonObject();
            for (int gpus : new int[] {8, 64, 256}) {
                layouts.add(Integer.toString(gpus), compute(name, gpus)
                        .<com.google.gson.JsonElement>map(Presets::toJson).orElse(com.google.gson.JsonNull.INSTANCE));
            }
            o.add("layouts", layouts);
            java.nio.file.Files.writeString(file, gson.toJson(o) + "\n");
        }
    }
}
