package dev.lattice.trainer.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.lattice.data.storage.Storage;
import dev.lattice.data.storage.Storages;
import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Megatron's checkpoint layout (megatron-formats.md §4) with safetensors instead of pickles:
 * <pre>
 * &lt;dir&gt;/latest_checkpointed_iteration.txt          written last: the commit
 * &lt;dir&gt;/iter_0000100/mp_rank_00/model.safetensors    parameters, Lattice names
 * &lt;dir&gt;/iter_0000100/mp_rank_00/optimizer.safetensors  Adam moments: exp_avg.&lt;name&gt;, exp_avg_sq.&lt;name&gt;
 * &lt;dir&gt;/iter_0000100/mp_rank_00/state.json         iteration, consumed samples, steps, scheduler, config
 * </pre>
 * Local paths use plain Java I/O; {@code hdfs://} and {@code s3a://} go through Hadoop when it is on the
 * classpath ({@link Storages}). A checkpoint never becomes "latest" before all its files are written.
 */
public final class CheckpointStore {

    public static final String TRACKER = "latest_checkpointed_iteration.txt";
    static final String MODEL = "model.safetensors";
    static final String OPTIMIZER = "optimizer.safetensors";
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
    public record Contents(TrainingState state, ModelConfig config, Map<String, Object> extra) {
    }

    /** Checks up front that the directory can be written (so a long run does not fail at its first save). */
    public void checkWritable() throws IOException {
        String probe = storage.resolve(dir, ".lattice-write-probe");
        try (OutputStream out = storage.create(probe, true)) {
            out.write(1);
        } catch (IOException | RuntimeException e) {
            throw new IOException("--save " + dir + " is not writable: " + e.getMessage(), e);
        }
        storage.delete(probe);
    }

    /** Writes the checkpoint of {@code state} and then moves the tracker to it. */
    public void save(TrainingState state, ModelConfig config, Backend be, Map<String, Tensor> params,
                     Map<String, Tensor> m, Map<String, Tensor> v, Map<String, Object> extra) throws IOException {
        String shard = storage.resolve(storage.resolve(dir, iterationDir(state.iteration())), shardDir(0, 0, 1));
        storage.mkdirs(shard);
        writeTensors(storage.resolve(shard, MODEL), named(be, params, ""), Map.of("format", "lattice"));
        List<NamedTensor> opt = new ArrayList<>(named(be, m, "exp_avg."));
        opt.addAll(named(be, v, "exp_avg_sq."));
        writeTensors(storage.resolve(shard, OPTIMIZER), opt, Map.of("format", "lattice"));
        JsonObject json = new JsonObject();
        json.addProperty("checkpoint_version", 3.0);
        json.addProperty("iteration", state.iteration());
        json.addProperty("consumed_train_samples", state.consumedTrainSamples());
        json.addProperty("consumed_valid_samples", state.consumedValidSamples());
        json.addProperty("skipped_iterations", state.skippedIterations());
        json.addProperty("optimizer_steps", state.optimizerSteps());
        json.add("model_config", GSON.toJsonTree(config));
        json.add("extra", GSON.toJsonTree(extra));
        try (OutputStream out = storage.create(storage.resolve(shard, STATE), true)) {
            out.write(GSON.toJson(json).getBytes(StandardCharsets.UTF_8));
        }
        writeTracker(Long.toString(state.iteration()));
    }

    private void writeTracker(String content) throws IOException {
        String tracker = storage.resolve(dir, TRACKER);
        String tmp = tracker + ".tmp";
        try (OutputStream out = storage.create(tmp, true)) {
            out.write(content.getBytes(StandardCharsets.UTF_8));
        }
        storage.rename(tmp, tracker);
    }

    private static List<NamedTensor> named(Backend be, Map<String, Tensor> tensors, String prefix) {
        List<NamedTensor> out = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            out.add(new NamedTensor(prefix + e.getKey(), e.getValue().shape(), be.toHost(e.getValue())));
        }
        return out;
    }

    private void writeTensors(String path, List<NamedTensor> tensors, Map<String, String> meta) throws IOException {
        Path local = Files.createTempFile("lattice-ckpt", ".safetensors");
        try {
            Safetensors.write(local, tensors, meta);
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
        if (text.equals("release")) {
            return 0;
        }
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new IOException(tracker + ": expected an iteration number or 'release', found '" + text + "'");
        }
    }

    /**
     * Loads the latest checkpoint into the given tensors (which fix the expected names and shapes), and returns its
     * state. Missing, damaged or mismatched files are errors that name the file and tensor.
     */
    public Contents load(ModelConfig expected, Backend be, Map<String, Tensor> params, Map<String, Tensor> m,
                         Map<String, Tensor> v) throws IOException {
        long iteration = latestIteration();
        if (iteration < 0) {
            throw new IOException("--load " + dir + ": no " + TRACKER + " (not a checkpoint directory)");
        }
        String shard = storage.resolve(storage.resolve(dir, iteration == 0 && isRelease() ? "release"
                : iterationDir(iteration)), shardDir(0, 0, 1));
        Contents contents = readState(storage.resolve(shard, STATE));
        if (expected != null && !expected.equals(contents.config())) {
            throw new IOException("--load " + dir + ": checkpoint model " + contents.config()
                    + " differs from the configured model " + expected);
        }
        readInto(storage.resolve(shard, MODEL), "", be, params);
        if (m != null && v != null) {
            readInto(storage.resolve(shard, OPTIMIZER), "exp_avg.", be, m);
            readInto(storage.resolve(shard, OPTIMIZER), "exp_avg_sq.", be, v);
        }
        return contents;
    }

    private boolean isRelease() throws IOException {
        try (InputStream in = storage.open(storage.resolve(dir, TRACKER))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).trim().equals("release");
        }
    }

    /** Reads only the state and config of the latest checkpoint. */
    public Contents readLatestState() throws IOException {
        long iteration = latestIteration();
        if (iteration < 0) {
            throw new IOException(dir + ": no " + TRACKER + " (not a checkpoint directory)");
        }
        return readState(storage.resolve(storage.resolve(storage.resolve(dir, iterationDir(iteration)),
                shardDir(0, 0, 1)), STATE));
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
            @SuppressWarnings("unchecked")
            Map<String, Object> extra = json.has("extra") ? GSON.fromJson(json.get("extra"), Map.class)
                    : new LinkedHashMap<>();
            return new Contents(st, config, extra);
        } catch (RuntimeException e) {
            throw new IOException(path + ": missing or malformed field: " + e.getMessage(), e);
        }
    }

    private void readInto(String path, String prefix, Backend be, Map<String, Tensor> into) throws IOException {
        if (!storage.exists(path)) {
            throw new IOException(path + ": missing (the checkpoint is incomplete or damaged)");
        }
        boolean local = storage == dev.lattice.data.storage.LocalStorage.INSTANCE;
        Path file = local ? dev.lattice.data.storage.LocalStorage.toPath(path)
                : Files.createTempFile("lattice-ckpt", ".safetensors");
        try {
            if (!local) {
                try (InputStream in = storage.open(path)) {
                    Files.copy(in, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
            try (Safetensors st = Safetensors.open(file)) {
                for (Map.Entry<String, Tensor> e : into.entrySet()) {
                    String name = prefix + e.getKey();
                    if (!st.contains(name)) {
                        throw new IOException(path + ": no tensor '" + name + "'");
                    }
                    int[] shape = st.shape(name);
                    if (!Arrays.equals(shape, e.getValue().shape())) {
                        throw new IOException(path + ": tensor '" + name + "' has shape " + Arrays.toString(shape)
                                + ", the model expects " + Arrays.toString(e.getValue().shape()));
                    }
                    be.upload(e.getValue(), st.readFloats(name));
                }
            } catch (IOException | RuntimeException e) {
                // Name the checkpoint's file, not the local copy.
                String msg = String.valueOf(e.getMessage()).replace(file.toString(), path);
                throw new IOException(msg.startsWith(path) ? msg : path + ": " + msg, e);
            }
        } finally {
            if (!local) {
                Files.deleteIfExists(file);
            }
        }
    }
}
