package dev.lattice.trainer.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;

/**
 * Reads the DeepSpeed JSON keys a one-rank run can honour into {@link TrainOptions}: batch sizes, gradient
 * clipping, the AdamW optimizer, the warmup/decay schedulers, precision and ZeRO stage. Flags the user typed win
 * over the file. Unknown top-level keys are ignored, as DeepSpeed ignores what it does not use; wrong types fail
 * with the key named.
 */
final class DeepSpeedConfig {

    /** What the JSON asked for that the options do not hold (precision, ZeRO), for the run to report or check. */
    record Extras(String precision, int zeroStage) {
    }

    private DeepSpeedConfig() {
    }

    static Extras apply(Path file, TrainOptions o, Set<String> explicit) throws IOException {
        JsonObject root;
        try {
            root = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IllegalArgumentException("--config " + file + " is not a JSON object: " + e.getMessage());
        }
        Integer mbs = intKey(root, "train_micro_batch_size_per_gpu", file);
        Integer gbs = intKey(root, "train_batch_size", file);
        Integer accum = intKey(root, "gradient_accumulation_steps", file);
        fill(explicit, "--micro-batch-size", mbs, v -> o.microBatchSize = v);
        if (gbs != null && !explicit.contains("--global-batch-size")) {
            o.globalBatchSize = gbs;
        } else if (gbs == null && accum != null && !explicit.contains("--global-batch-size")) {
            o.globalBatchSize = accum * o.microBatchSize;
        }
        // DeepSpeed's rule: train_batch_size = micro-batch × accumulation steps × data-parallel size
        int dp = Math.max(1, o.worldSize / Math.max(1, o.tensorParallel * o.pipelineParallel));
        if (gbs != null && accum != null && mbs != null && gbs != mbs * accum * dp) {
            throw new IllegalArgumentException("--config " + file + ": train_batch_size " + gbs
                    + " != train_micro_batch_size_per_gpu " + mbs + " × gradient_accumulation_steps " + accum
                    + " × data-parallel size " + dp);
        }
        Double clip = doubleKey(root, "gradient_clipping", file);
        fill(explicit, "--clip-grad", clip, v -> o.clipGrad = v);
        if (root.has("optimizer")) {
            JsonObject opt = root.getAsJsonObject("optimizer");
            String type = opt.has("type") ? opt.get("type").getAsString() : "AdamW";
            if (!type.equalsIgnoreCase("adamw") && !type.equalsIgnoreCase("adam")) {
                throw new IllegalArgumentException("--config " + file + ": optimizer.type " + type
                        + " is not supported (AdamW only)");
            }
            JsonObject p = opt.has("params") ? opt.getAsJsonObject("params") : new JsonObject();
            Double lr = doubleKey(p, "lr", file);
            fill(explicit, "--lr", lr, v -> o.lr = v);
            Double wd = doubleKey(p, "weight_decay", file);
            fill(explicit, "--weight-decay", wd, v -> o.weightDecay = v);
            Double eps = doubleKey(p, "eps", file);
            fill(explicit, "--adam-eps", eps, v -> o.adamEps = v);
            if (p.has("betas")) {
                var betas = p.getAsJsonArray("betas");
                if (!explicit.contains("--adam-beta1")) {
                    o.adamBeta1 = betas.get(0).getAsDouble();
                }
                if (!explicit.contains("--adam-beta2")) {
                    o.adamBeta2 = betas.get(1).getAsDouble();
                }
            }
        }
        if (root.has("scheduler")) {
            JsonObject sch = root.getAsJsonObject("scheduler");
            String type = sch.has("type") ? sch.get("type").getAsString() : "";
            JsonObject p = sch.has("params") ? sch.getAsJsonObject("params") : new JsonObject();
            Integer warmup = intKey(p, "warmup_num_steps", file);
            fill(explicit, "--lr-warmup-iters", warmup, v -> o.lrWarmupIters = v);
            Double maxLr = doubleKey(p, "warmup_max_lr", file);
            fill(explicit, "--lr", maxLr, v -> o.lr = v);
            Integer total = intKey(p, "total_num_steps", file);
            fill(explicit, "--lr-decay-iters", total, v -> o.lrDecayIters = v);
            String style = switch (type.toLowerCase(Locale.ROOT)) {
                case "warmuplr" -> "constant";
                case "warmupdecaylr" -> "linear";
                case "warmupcosinelr" -> "cosine";
                case "" -> null;
                default -> throw new IllegalArgumentException("--config " + file + ": scheduler.type " + type
                        + " is not supported (WarmupLR, WarmupDecayLR, WarmupCosineLR)");
            };
            fill(explicit, "--lr-decay-style", style, v -> o.lrDecayStyle = v);
        }
        String precision = "fp32";
        if (enabled(root, "bf16") || enabled(root, "bfloat16")) {
            precision = "bf16";
        } else if (enabled(root, "fp16")) {
            precision = "fp16";
        }
        if (precision.equals("fp16")) {
            fp16Scaling(root.getAsJsonObject("fp16"), o, explicit, file);
        }
        if (root.has("communication_data_type") && !root.get("communication_data_type").isJsonNull()) {
            String type = root.get("communication_data_type").getAsString().toLowerCase(Locale.ROOT);
            switch (type) {
                case "bf16", "bfloat16" -> o.gradReduceInBf16 = true;
                case "fp32", "float32" -> { }
                default -> throw new IllegalArgumentException("--config " + file + ": communication_data_type "
                        + type + " is not supported (fp32 or bf16)");
            }
        }
        int zero = 0;
        if (root.has("zero_optimization")) {
            JsonElement overlap = root.getAsJsonObject("zero_optimization").get("overlap_comm");
            if (overlap != null && overlap.isJsonPrimitive() && overlap.getAsBoolean()) {
                fill(explicit, "--overlap-grad-reduce", true, v -> o.overlapGradReduce = v);
            }
            Integer stage = intKey(root.getAsJsonObject("zero_optimization"), "stage", file);
            zero = stage == null ? 0 : stage;
            if (zero < 0 || zero > 3) {
                throw new IllegalArgumentException("--config " + file + ": zero_optimization.stage " + zero
                        + " (expected 0-3)");
            }
        }
        return new Extras(precision, zero);
    }

    /**
     * DeepSpeed's fp16 block: {@code loss_scale} 0 is dynamic (else constant), {@code initial_scale_power} n starts
     * the dynamic scale at 2^n, {@code loss_scale_window}, {@code hysteresis}, {@code min_loss_scale}.
     */
    private static void fp16Scaling(JsonObject fp16, TrainOptions o, Set<String> explicit, Path file) {
        Double scale = doubleKey(fp16, "loss_scale", file);
        if (scale != null && scale > 0) {
            fill(explicit, "--loss-scale", scale, v -> o.lossScale = v);
        }
        Integer power = intKey(fp16, "initial_scale_power", file);
        if (power != null) {
            fill(explicit, "--initial-loss-scale", Math.pow(2, power), v -> o.initialLossScale = v);
        }
        fill(explicit, "--loss-scale-window", intKey(fp16, "loss_scale_window", file), v -> o.lossScaleWindow = v);
        fill(explicit, "--hysteresis", intKey(fp16, "hysteresis", file), v -> o.hysteresis = v);
        fill(explicit, "--min-loss-scale", doubleKey(fp16, "min_loss_scale", file), v -> o.minLossScale = v);
    }

    /** Sets an option from the config unless its flag was typed on the command line (flags win). */
    private static <T> void fill(Set<String> explicit, String flag, T value, java.util.function.Consumer<T> set) {
        if (value != null && !explicit.contains(flag)) {
            set.accept(value);
        }
    }

    private static boolean enabled(JsonObject root, String key) {
        return root.has(key) && root.get(key).isJsonObject() && root.getAsJsonObject(key).has("enabled")
                && root.getAsJsonObject(key).get("enabled").getAsBoolean();
    }

    private static Integer intKey(JsonObject o, String key, Path file) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() && e.getAsString().equals("auto")) {
            return null;
        }
        try {
            return e.getAsInt();
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException("--config " + file + ": " + key + " must be an integer, got " + e);
        }
    }

    private static Double doubleKey(JsonObject o, String key, Path file) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() && e.getAsString().equals("auto")) {
            return null;
        }
        try {
            return e.getAsDouble();
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException("--config " + file + ": " + key + " must be a number, got " + e);
        }
    }
}
