package dev.lattice.trainer.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.lattice.data.storage.LocalStorage;
import dev.lattice.data.storage.Storage;
import dev.lattice.data.storage.Storages;
import dev.lattice.trainer.engine.TrainingState;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.io.Safetensors;
import dev.lattice.trainer.model.ModelConfig;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Megatron's checkpoint layout (megatron-formats.md §4) with safetensors instead of pickles:
 * <pre>
 * &lt;dir&gt;/latest_checkpointed_iteration.txt             written last: the commit
 * &lt;dir&gt;/iter_0000100/state.json                     iteration, consumed samples, steps, config, layout
 * &lt;dir&gt;/iter_0000100/mp_rank_TT[_PPP]/model.safetensors     that (tensor, pipeline) rank's parameter shards
 * &lt;dir&gt;/iter_0000100/mp_rank_TT[_PPP]/optimizer.safetensors    Adam's moments (no ZeRO), or
 * &lt;dir&gt;/iter_0000100/mp_rank_TT[_PPP]/optimizer_dp_RRR.safetensors  each data-parallel rank's ZeRO shard
 * </pre>
 * Every rank writes its own files (nothing passes through one rank); rank 0 writes state.json and the tracker after
 * all of them. Loading reads any layout back into whole tensors ({@link ShardedCheckpoint}). Local paths use plain
 * Java I/O; {@code hdfs://} and {@code s3a://} go through Hadoop when it is on the classpath ({@link Storages}).
 */
public final class CheckpointStore {

    public static final String TRACKER = "latest_checkpointed_iteration.txt";
    static final String MODEL = "model.safetensors";
    static final String STATE = "state.json";
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

    private final String dir;
    private final Storage storage;

    public CheckpointStore(String dir) {
        this.dir = dir;
        this.storage = Storages.forPath(dir);
    }

    public String directory() {
        return dir;
    }

    /** {@code iter_0000100}. */
    public static String iterationDir(long iteration) {
        return String.format(Locale.ROOT, "iter_%07d", iteration);
    }

    /** {@code mp_rank_TT} or, with pipeline parallelism, {@code mp_rank_TT_PPP}. */
    public static String shardDir(int tpRank, int ppRank, int ppSize) {
        return ppSize > 1 ? String.format(Locale.ROOT, "mp_rank_%02d_%03d", tpRank, ppRank)
                : String.format(Locale.ROOT, "mp_rank_%02d", tpRank);
    }

    /** What a checkpoint holds besides tensors. */
    public record Contents(TrainingState state, ModelConfig config, CheckpointLayout layout,
                           Map<String, Object> extra) {
    }

    String resolve(String parent, String child) {
        return storage.resolve(parent, child);
    }

    private String iterPath(long iteration) {
        return storage.resolve(dir, iterationDir(iteration));
    }

    /**
     * Checks up front that the directory can be written (so a long run does not fail at its first save). The probe's
     * name is unique: every rank of a Spark job checks at once, and one rank's delete must not remove another's probe.
     */
    public void checkWritable() throws IOException {
        String probe = storage.resolve(dir, ".lattice-write-probe-" + java.util.UUID.randomUUID());
        try (OutputStream out = storage.create(probe, true)) {
            out.write(1);
        } catch (IOException | RuntimeException e) {
            throw new IOException("--save " + dir + " is not writable: " + e.getMessage(), e);
        }
        storage.delete(probe);
    }

    /**
     * Writes one rank's files of iteration {@code iteration}: its parameter shards (null when another rank of its
     * (tensor, pipeline) shard writes them) and its optimizer tensors (null when it writes none).
     */
    public void writeShard(long iteration, CheckpointLayout layout, int tpRank, int ppRank, int dpRank,
                           Collection<NamedTensor> model, Collection<NamedTensor> optimizer) throws IOException {
        String shard = storage.resolve(iterPath(iteration), shardDir(tpRank, ppRank, layout.pp()));
        storage.mkdirs(shard);
        if (model != null) {
            writeTensors(storage.resolve(shard, MODEL), model);
        }
        if (optimizer != null) {
            writeTensors(storage.resolve(shard, layout.optimizerFile(dpRank)), optimizer);
        }
    }

    /** After every rank's {@link #writeShard}: state.json, then the tracker, which makes the checkpoint "latest". */
    public void commit(TrainingState state, ModelConfig config, CheckpointLayout layout, Map<String, Object> extra)
            throws IOException {
        JsonObject json = new JsonObject();
        json.addProperty("checkpoint_version", 3.0);
        json.addProperty("iteration", state.iteration());
        json.addProperty("consumed_train_samples", state.consumedTrainSamples());
        json.addProperty("consumed_valid_samples", state.consumedValidSamples());
        json.addProperty("skipped_iterations", state.skippedIterations());
        json.addProperty("optimizer_steps", state.optimizerSteps());
        json.add("model_config", GSON.toJsonTree(config));
        json.add("layout", GSON.toJsonTree(layout));
        json.add("extra", GSON.toJsonTree(extra));
        try (OutputStream out = storage.create(storage.resolve(iterPath(state.iteration()), STATE), true)) {
            out.write(GSON.toJson(json).getBytes(StandardCharsets.UTF_8));
        }
        String tracker = storage.resolve(dir, TRACKER);
        String tmp = tracker + ".tmp";
        try (OutputStream out = storage.create(tmp, true)) {
            out.write(Long.toString(state.iteration()).getBytes(StandardCharsets.UTF_8));
        }
        storage.rename(tmp, tracker);
    }

    private void writeTensors(String path, Collection<NamedTensor> tensors) throws IOException {
        if (storage == LocalStorage.INSTANCE) {
            Path p = LocalStorage.toPath(path);
            Files.createDirectories(p.getParent());
            Safetensors.write(p, tensors, Map.of("format", "lattice"));
            return;
        }
        Path local = Files.createTempFile("lattice-ckpt", ".safetensors");
        try {
            Safetensors.write(local, tensors, Map.of("format", "lattice"));
            try (OutputStream out = storage.create(path, true)) {
                Files.copy(local, out);
            }
        } finally {
            Files.deleteIfExists(local);
        }
    }

    /** The committed iteration, or -1 when there is no checkpoint (no tracker). */
    public long latestIteration() throws IOException {
        String tracker = storage.resolve(dir, TRACKER);
        if (!storage.exists(tracker)) {
            return -1;
        }
        String text;
        try (InputStream in = storage.open(tracker)) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        }
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new IOException(tracker + ": expected an iteration number, found '" + text + "'");
        }
    }

    /** The state, config and layout of the latest checkpoint. */
    public Contents readLatestState() throws IOException {
        long iteration = latestIteration();
        if (iteration < 0) {
            throw new IOException(dir + ": no " + TRACKER + " (not a checkpoint directory)");
        }
        return readState(storage.resolve(iterPath(iteration), STATE));
    }

    /**
     * The latest checkpoint as whole tensors, whatever layout wrote it.
     *
     * @param expected the configured model (null to accept the checkpoint's); a different one is an error
     * @param withOptimizer whether to read Adam's moments too
     */
    public ShardedCheckpoint.Full readFull(ModelConfig expected, ShardedCheckpoint.StageFunction stages,
                                           boolean withOptimizer) throws IOException {
        Contents contents = readLatestState();
        if (expected != null && !expected.equals(contents.config())) {
            throw new IOException("--load " + dir + ": checkpoint model " + contents.config()
                    + " differs from the configured model " + expected);
        }
        return ShardedCheckpoint.read(this, iterPath(contents.state().iteration()), contents, contents.layout(),
                stages, withOptimizer);
    }

    private Contents readState(String path) throws IOException {
        if (!storage.exists(path)) {
            throw new IOException(path + ": missing (the checkpoint is incomplete or damaged)");
        }
        JsonObject json;
        try (InputStream in = storage.open(path)) {
            json = JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IOException(path + ": not valid JSON: " + e.getMessage(), e);
        }
        try {
            TrainingState st = new TrainingState(json.get("iteration").getAsLong(),
                    json.get("consumed_train_samples").getAsLong(), json.get("consumed_valid_samples").getAsLong(),
                    json.get("skipped_iterations").getAsLong(), json.get("optimizer_steps").getAsInt());
            ModelConfig config = GSON.fromJson(json.get("model_config"), ModelConfig.class);
            CheckpointLayout layout = json.has("layout") ? GSON.fromJson(json.get("layout"), CheckpointLayout.class)
                    : CheckpointLayout.SINGLE;
            @SuppressWarnings("unchecked")
            Map<String, Object> extra = json.has("extra") ? GSON.fromJson(json.get("extra"), Map.class)
                    : new LinkedHashMap<>();
            return new Contents(st, config, layout, extra);
        } catch (RuntimeException e) {
            throw new IOException(path + ": missing or malformed field: " + e.getMessage(), e);
        }
    }

    /** Opens a checkpoint file for reading (a local copy of remote files), naming the file in errors. */
    Safetensors openSafetensors(String path) throws IOException {
        if (!storage.exists(path)) {
            throw new IOException(path + ": missing (the checkpoint is incomplete or damaged)");
        }
        Path file;
        if (storage == LocalStorage.INSTANCE) {
            file = LocalStorage.toPath(path);
        } else {
            file = Files.createTempFile("lattice-ckpt", ".safetensors");
            file.toFile().deleteOnExit();
            try (InputStream in = storage.open(path)) {
                Files.copy(in, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        try {
            return Safetensors.open(file);
        } catch (IOException | RuntimeException e) {
            String msg = String.valueOf(e.getMessage()).replace(file.toString(), path);
            throw new IOException(msg.startsWith(path) ? msg : path + ": " + msg, e);
        }
    }

    /** A tensor of an open file, checked against the shape the model expects. */
    float[] tensor(Safetensors st, String name, int[] shape) throws IOException {
        String file = st.file().toString();
        if (!st.contains(name)) {
            throw new IOException(file + ": no tensor '" + name + "'");
        }
        int[] got = st.shape(name);
        if (!Arrays.equals(got, shape)) {
            throw new IOException(file + ": tensor '" + name + "' has shape " + Arrays.toString(got)
                    + ", expected " + Arrays.toString(shape));
        }
        return st.readFloats(name);
    }
}
