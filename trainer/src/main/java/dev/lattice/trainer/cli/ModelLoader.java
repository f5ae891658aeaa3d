package dev.lattice.trainer.cli;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.checkpoint.CheckpointStore;
import dev.lattice.trainer.hf.HfModelDirectory;
import dev.lattice.trainer.model.GptModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Opens a model for inference from a Lattice checkpoint directory or a HuggingFace model directory. */
public final class ModelLoader {

    private ModelLoader() {
    }

    public static GptModel load(String dir, Backend be) throws IOException {
        Path p = Path.of(dir);
        if (Files.isRegularFile(p.resolve("config.json")) && !Files.exists(p.resolve(CheckpointStore.TRACKER))) {
            HfModelDirectory.Loaded hf = HfModelDirectory.load(p);
            GptModel model = new GptModel(hf.config(), be, false);
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                be.upload(e.getValue(), hf.tensors().get(e.getKey()).data());
            }
            return model;
        }
        CheckpointStore store = new CheckpointStore(dir);
        if (store.latestIteration() < 0) {
            throw new IOException("--checkpoint " + dir + ": neither a Lattice checkpoint ("
                    + CheckpointStore.TRACKER + ") nor a HuggingFace model directory (config.json)");
        }
        dev.lattice.trainer.checkpoint.ShardedCheckpoint.Full full = store.readFull(null,
                dev.lattice.trainer.engine.StagePlacement::stageOf, false);
        GptModel model = new GptModel(full.contents().config(), be, false);
        model.loadFull(full.params());
        return model;
    }
}
